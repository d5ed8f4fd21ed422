"""Tracking: the explicit client and the store chosen for a tracking URI.

``mltrail.tracking.MlflowClient`` is the same class as ``mltrail.Client``, so
code written as ``from mlflow.tracking import MlflowClient`` ports unchanged.

Importing this package wires the layers below to the SDK (dependency
inversion, so they never import it): :mod:`mltrail.tracking.context` learns the
client class, :mod:`mltrail.artifacts` learns how to resolve ``runs:/`` and
``models:/`` URIs and the tracking URI in effect.
"""

from mltrail.tracking import context
from mltrail.tracking._model_uris import register_artifact_hooks
from mltrail.tracking._store_registry import get_tracking_store
from mltrail.tracking._uris import (
    get_registry_uri,
    get_tracking_uri,
    is_tracking_uri_set,
    set_registry_uri,
    set_tracking_uri,
)
from mltrail.tracking.client import MlflowClient

context.set_client_factory(MlflowClient)
register_artifact_hooks()

__all__ = [
    "MlflowClient",
    "get_registry_uri",
    "get_tracking_store",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "set_registry_uri",
    "set_tracking_uri",
]
