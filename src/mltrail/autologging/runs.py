"""``autolog_run``: the run an autologging integration logs into."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from mltrail.autologging.config import get_autolog_config

if TYPE_CHECKING:
    from mltrail.tracking.fluent import ActiveRun

AUTOLOGGING_TAG = "mlflow.autologging"


@contextlib.contextmanager
def autolog_run(name: str, tags: dict[str, str] | None = None) -> Iterator[ActiveRun | None]:
    """The run to log into: the active run, else a new one owned by this block.

    With an active run, it is yielded as is (or ``None`` when the integration was
    enabled with ``exclusive=True``: autologging then logs nothing into user runs).
    Otherwise a run is started with the tag ``mlflow.autologging=<name>`` plus the
    config's ``extra_tags`` plus ``tags``, and ended at exit with ``FINISHED``, or
    ``FAILED`` if the block raised (the exception propagates).

    Example::

        with autolog_run("sklearn") as run:
            if run is not None:
                mltrail.log_param("alpha", 0.1)
    """
    from mltrail.tracking import fluent

    config = get_autolog_config(name)
    active = fluent.active_run()
    if active is not None:
        yield None if config.get("exclusive") else active
        return
    all_tags = {AUTOLOGGING_TAG: name}
    all_tags.update({str(k): str(v) for k, v in (config.get("extra_tags") or {}).items()})
    all_tags.update(tags or {})
    run = fluent.start_run(tags=all_tags)
    try:
        yield run
    except BaseException:
        _end(run, "FAILED")
        raise
    _end(run, "FINISHED")


def _end(run: ActiveRun, status: str) -> None:
    """End ``run`` (and any run the block left open on top of it)."""
    from mltrail.tracking import fluent as fl

    while True:
        current = fl.active_run()
        if current is None:
            return
        fl.end_run(status)
        if current.info.run_id == run.info.run_id:
            return
