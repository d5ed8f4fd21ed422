"""REST handler modules; each exposes ``ENDPOINTS`` (see :mod:`mltrail.server.routing`)."""
