"""Enumerations with MLflow's names and wire values."""

from __future__ import annotations

from mltrail.exceptions import invalid


class LifecycleStage:
    """Whether an experiment or run is live or in the trash."""

    ACTIVE = "active"
    DELETED = "deleted"

    @classmethod
    def matching_view_type(cls, view_type: int) -> tuple[str, ...]:
        """The lifecycle stages a :class:`ViewType` selects."""
        if view_type == ViewType.ACTIVE_ONLY:
            return (cls.ACTIVE,)
        if view_type == ViewType.DELETED_ONLY:
            return (cls.DELETED,)
        return (cls.ACTIVE, cls.DELETED)


class ViewType:
    """Which lifecycle stages a search returns."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    _BY_NAME = {"ACTIVE_ONLY": 1, "DELETED_ONLY": 2, "ALL": 3}

    @classmethod
    def from_string(cls, name: str | int | None) -> int:
        """Accept ``"ACTIVE_ONLY"``, ``"active_only"``, ``1`` or ``None`` (active only)."""
        if name is None or name == "":
            return cls.ACTIVE_ONLY
        if isinstance(name, int):
            if name in (1, 2, 3):
                return name
        elif str(name).upper() in cls._BY_NAME:
            return cls._BY_NAME[str(name).upper()]
        raise invalid(f"Invalid view type {name!r}: use ACTIVE_ONLY, DELETED_ONLY or ALL")

    @classmethod
    def to_string(cls, view_type: int) -> str:
        for name, value in cls._BY_NAME.items():
            if value == view_type:
                return name
        raise invalid(f"Invalid view type {view_type!r}")


class RunStatus:
    """A run's status, with MLflow's names and protobuf numbers."""

    RUNNING = 1
    SCHEDULED = 2
    FINISHED = 3
    FAILED = 4
    KILLED = 5

    _NAMES = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
    _VALUES = {v: k for k, v in _NAMES.items()}

    @classmethod
    def to_string(cls, status: int) -> str:
        if status not in cls._NAMES:
            raise invalid(f"Invalid run status {status!r}")
        return cls._NAMES[status]

    @classmethod
    def from_string(cls, name: str) -> int:
        value = cls._VALUES.get(str(name).upper())
        if value is None:
            raise invalid(
                f"Invalid run status {name!r}: use one of {', '.join(cls._NAMES.values())}"
            )
        return value

    @classmethod
    def all_status(cls) -> list[int]:
        return list(cls._NAMES)

    @classmethod
    def is_terminated(cls, status: int | str) -> bool:
        if isinstance(status, str):
            status = cls.from_string(status)
        return status in (cls.FINISHED, cls.FAILED, cls.KILLED)

    @classmethod
    def normalize(cls, status: int | str) -> str:
        """The canonical string name of a status given as name or number."""
        if isinstance(status, int):
            return cls.to_string(status)
        return cls.to_string(cls.from_string(status))


class SourceType:
    """Where a run's code came from (tag ``mlflow.source.type``)."""

    NOTEBOOK = 1
    JOB = 2
    PROJECT = 3
    LOCAL = 4
    UNKNOWN = 1000
    RECIPE = 5

    _NAMES = {1: "NOTEBOOK", 2: "JOB", 3: "PROJECT", 4: "LOCAL", 1000: "UNKNOWN", 5: "RECIPE"}

    @classmethod
    def to_string(cls, value: int) -> str:
        return cls._NAMES.get(value, "UNKNOWN")

    @classmethod
    def from_string(cls, name: str) -> int:
        for value, known in cls._NAMES.items():
            if known == name.upper():
                return value
        return cls.UNKNOWN
