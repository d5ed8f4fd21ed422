"""Keys mltrail's middleware puts in the ASGI scope (a module of its own: light, imported by all sides)."""

#: The signed-in user (an auth ``User``), set by the auth middleware when logins are on.
USER_SCOPE_KEY = "mltrail.user"
