"""The ``backend`` fixture: SDK tests run on the embedded default, PostgreSQL and MariaDB."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture(
    params=[
        "embedded",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def backend(request) -> str:
    """Configure the SDK for one backend and return a unique experiment-name prefix.

    ``embedded`` sets nothing (the SDK must pick ./mltrail.db by itself);
    ``postgres``/``mysql`` point ``MLTRAIL_TRACKING_URI`` at the session's
    PostgreSQL/MariaDB database, shared by the tests, hence unique experiment names.
    """
    if request.param in ("postgres", "mysql"):
        uri = request.getfixturevalue(f"{request.param}_uri")
        request.getfixturevalue("monkeypatch").setenv("MLTRAIL_TRACKING_URI", uri)
    return f"exp-{uuid.uuid4().hex[:8]}"
