"""The ``mltrail server``: MLflow's REST API, the artifact proxy and the UI on one ASGI app.

Build it with :func:`mltrail.server.app.create_app`; routes are declared in
handler modules (see :mod:`mltrail.server.routing`).
"""
