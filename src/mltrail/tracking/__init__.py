"""Tracking: the explicit client and the store chosen for a tracking URI.

``mltrail.tracking.MlflowClient`` is the same class as ``mltrail.Client``, so
code written as ``from mlflow.tracking import MlflowClient`` ports unchanged.
"""

from mltrail.tracking._store_registry import get_tracking_store
from mltrail.tracking._uris import (
    get_registry_uri,
    get_tracking_uri,
    is_tracking_uri_set,
    set_registry_uri,
    set_tracking_uri,
)
from mltrail.tracking.client import MlflowClient

__all__ = [
    "MlflowClient",
    "get_registry_uri",
    "get_tracking_store",
    "get_tracking_uri",
    "is_tracking_uri_set",
    "set_registry_uri",
    "set_tracking_uri",
]
