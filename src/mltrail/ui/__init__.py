"""The web UI: an HTML shell, plain ES-module assets and a few UI-only JSON endpoints.

:func:`mltrail.ui.routes.ui_routes` returns the Starlette routes that
``mltrail.server.app.create_app`` mounts. The front end has no build step: the
files under ``static/`` are served as they are, and plotly.js comes from the
installed ``plotly`` wheel.
"""
