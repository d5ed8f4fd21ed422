"""What each search accepts: entity prefixes, attribute names and types, order keys.

One :class:`Grammar` per search (runs, experiments, registered models, model
versions), following MLflow's ``SearchUtils`` family, slightly more permissive
where that cannot surprise anyone (``IN`` on any string field, ``IS [NOT] NULL``,
``NOT LIKE``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mltrail.search.nodes import ATTRIBUTE, DATASET, METRIC, PARAM, TAG

# Every spelling of an entity prefix MLflow accepts, mapped to its canonical name.
ENTITY_ALIASES: dict[str, str] = {
    "metric": METRIC,
    "metrics": METRIC,
    "parameter": PARAM,
    "parameters": PARAM,
    "param": PARAM,
    "params": PARAM,
    "tag": TAG,
    "tags": TAG,
    "attribute": ATTRIBUTE,
    "attributes": ATTRIBUTE,
    "attr": ATTRIBUTE,
    "run": ATTRIBUTE,
    "dataset": DATASET,
    "datasets": DATASET,
}


@dataclass(frozen=True)
class Grammar:
    """The identifiers one search understands.

    ``string_attributes`` / ``numeric_attributes`` are the filterable attribute
    names; ``attribute_aliases`` maps alternative spellings onto them;
    ``order_attributes`` lists the attribute names ``order_by`` accepts;
    ``entities`` the prefixes allowed besides ``attribute``.
    """

    name: str
    entities: frozenset[str]
    string_attributes: frozenset[str]
    numeric_attributes: frozenset[str]
    order_attributes: frozenset[str]
    attribute_aliases: dict[str, str] = field(default_factory=dict)
    order_entities: frozenset[str] = frozenset()
    dataset_keys: frozenset[str] = frozenset()

    def canonical_attribute(self, key: str) -> str:
        return self.attribute_aliases.get(key, key)

    def attribute_kind(self, key: str) -> str | None:
        """``"string"``, ``"numeric"`` or ``None`` for an unknown attribute."""
        if key in self.string_attributes:
            return "string"
        if key in self.numeric_attributes:
            return "numeric"
        return None


RUNS = Grammar(
    name="runs",
    entities=frozenset({METRIC, PARAM, TAG, ATTRIBUTE, DATASET}),
    string_attributes=frozenset({"run_id", "run_name", "status", "user_id", "artifact_uri"}),
    numeric_attributes=frozenset({"start_time", "end_time"}),
    order_attributes=frozenset(
        {"run_id", "run_name", "status", "user_id", "artifact_uri", "start_time", "end_time", "experiment_id"}
    ),
    attribute_aliases={
        "created": "start_time",
        "Created": "start_time",
        "run name": "run_name",
        "Run name": "run_name",
        "Run Name": "run_name",
    },
    order_entities=frozenset({METRIC, PARAM, TAG, ATTRIBUTE}),
    dataset_keys=frozenset({"name", "digest", "context"}),
)

EXPERIMENTS = Grammar(
    name="experiments",
    entities=frozenset({TAG, ATTRIBUTE}),
    # experiment_id is a string attribute in MLflow (ids are strings on the wire).
    string_attributes=frozenset({"name", "experiment_id"}),
    numeric_attributes=frozenset({"creation_time", "last_update_time"}),
    order_attributes=frozenset({"name", "experiment_id", "creation_time", "last_update_time"}),
    order_entities=frozenset({ATTRIBUTE}),
)

REGISTERED_MODELS = Grammar(
    name="registered models",
    entities=frozenset({TAG, ATTRIBUTE}),
    string_attributes=frozenset({"name"}),
    numeric_attributes=frozenset({"creation_timestamp", "last_updated_timestamp"}),
    order_attributes=frozenset({"name", "timestamp", "creation_timestamp", "last_updated_timestamp"}),
    order_entities=frozenset({ATTRIBUTE}),
)

MODEL_VERSIONS = Grammar(
    name="model versions",
    entities=frozenset({TAG, ATTRIBUTE}),
    string_attributes=frozenset({"name", "run_id", "source_path"}),
    numeric_attributes=frozenset({"version_number", "creation_timestamp", "last_updated_timestamp"}),
    order_attributes=frozenset({"name", "version_number", "creation_timestamp", "last_updated_timestamp"}),
    order_entities=frozenset({ATTRIBUTE}),
)

GRAMMARS: dict[str, Grammar] = {
    "runs": RUNS,
    "experiments": EXPERIMENTS,
    "registered_models": REGISTERED_MODELS,
    "model_versions": MODEL_VERSIONS,
}
