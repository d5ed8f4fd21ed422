"""Autologging core: the pieces every framework integration is built from.

- :func:`autologging_integration` records an integration's ``autolog(...)`` config;
- :func:`safe_patch` wraps a library function so our logging never breaks the user's call;
- :func:`autolog_run` yields the run to log into (the active one, or a fresh one);
- :func:`register_post_import_hook` lets ``mltrail.autolog()`` come before the imports;
- :func:`autolog` enables every installed integration at once (``mltrail.autolog()``).

Example::

    import mltrail as mlflow

    mlflow.autolog()
    from sklearn.linear_model import LogisticRegression

    LogisticRegression().fit(X, y)  # params, training metrics and the model are logged
"""

from __future__ import annotations

from mltrail.autologging.config import (
    autologging_integration,
    autologging_is_disabled,
    get_autolog_config,
)
from mltrail.autologging.hooks import register_post_import_hook
from mltrail.autologging.patching import (
    classes_defining,
    is_patched,
    revert_patches,
    running_integrations,
    safe_patch,
    warn_failure,
)
from mltrail.autologging.runs import AUTOLOGGING_TAG, autolog_run
from mltrail.autologging.universal import INTEGRATIONS, autolog

__all__ = [
    "AUTOLOGGING_TAG",
    "INTEGRATIONS",
    "autolog",
    "autolog_run",
    "autologging_integration",
    "autologging_is_disabled",
    "classes_defining",
    "get_autolog_config",
    "is_patched",
    "register_post_import_hook",
    "revert_patches",
    "running_integrations",
    "safe_patch",
    "warn_failure",
]
