"""The tracking server's credentials from the environment, read in one place.

MLflow's clients send ``MLFLOW_TRACKING_USERNAME`` and ``MLFLOW_TRACKING_PASSWORD`` as HTTP
Basic, or else ``MLFLOW_TRACKING_TOKEN`` as a Bearer token; mltrail reads its ``MLTRAIL_`` names
first. The REST stores, the artifact client and the ``endpoints:/`` judge all send the header
built here, so they agree on the order. The values are read on every call and never logged.

Example::

    headers = {"Authorization": value} if (value := tracking_authorization()) else {}
"""

from __future__ import annotations

import base64
import os


def tracking_env(name: str) -> str | None:
    """``MLTRAIL_<name>``, or else ``MLFLOW_<name>`` (an empty value counts as unset)."""
    return os.environ.get(f"MLTRAIL_{name}") or os.environ.get(f"MLFLOW_{name}") or None


def tracking_authorization() -> str | None:
    """The ``Authorization`` header for the tracking server, or None without credentials.

    As in MLflow's client, a username with a password wins over a token when both are set.
    """
    user, password = tracking_env("TRACKING_USERNAME"), tracking_env("TRACKING_PASSWORD")
    if user and password:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    token = tracking_env("TRACKING_TOKEN")
    return f"Bearer {token}" if token else None
