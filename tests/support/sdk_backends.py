"""The ``backend`` fixture: SDK tests run on the embedded default and on PostgreSQL."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture(params=["embedded", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request) -> str:
    """Configure the SDK for one backend and return a unique experiment-name prefix.

    ``embedded`` sets nothing (the SDK must pick ./mltrail.db by itself);
    ``postgres`` points ``MLTRAIL_TRACKING_URI`` at the session's PostgreSQL
    database, shared by the tests, hence unique experiment names.
    """
    if request.param == "postgres":
        uri = request.getfixturevalue("postgres_uri")
        request.getfixturevalue("monkeypatch").setenv("MLTRAIL_TRACKING_URI", uri)
    return f"exp-{uuid.uuid4().hex[:8]}"
