"""Authentication for ``mltrail server --app-name basic-auth`` (MLflow's ``basic-auth`` app).

* :mod:`.permissions` — the permission levels (READ, USE, EDIT, MANAGE, NO_PERMISSIONS, DENY).
* :mod:`.config` — :class:`AuthConfig` from MLflow's ini file.
* :mod:`.passwords` — scrypt hashes in werkzeug's format (MLflow's).
* :mod:`.store` — :class:`AuthStore`: users and permissions in their own database.
"""
