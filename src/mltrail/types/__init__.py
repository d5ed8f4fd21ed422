"""``mltrail.types``: MLflow's schema types (``mlflow.types``) and the ``predict`` type-hint helpers.

Example::

    from mltrail.types import ColSpec, DataType, Schema
    Schema([ColSpec(DataType.string, "prompt")])
"""

from mltrail.models.schema_types import AnyType, Array, Map, Object, Property
from mltrail.models.signature import ColSpec, DataType, ParamSchema, ParamSpec, Schema, TensorSpec

__all__ = [
    "AnyType",
    "Array",
    "ColSpec",
    "DataType",
    "Map",
    "Object",
    "ParamSchema",
    "ParamSpec",
    "Property",
    "Schema",
    "TensorSpec",
]
