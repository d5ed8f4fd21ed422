"""The REST API, declared once for the server and the REST client.

Each module declares one service's wire types (``msgspec`` Structs) and its
endpoints (:class:`~mltrail.protocol.routes.Route`: name, method, path,
request and response types). The server attaches handlers to these
declarations by name; the REST stores send their requests through them, so a
path and a request shape are written in one place. Nothing here imports the
server's framework.
"""
