"""Alembic migrations of the SQL schema, shipped inside the package.

No ``alembic.ini`` is needed: :mod:`mltrail.store.sql.migrate` builds the
alembic configuration in code and points it at this folder.

The chain is linear: ``0001_initial`` -> ``0002_...`` -> ... Each revision file
is named ``NNNN_what.py`` with ``revision = "NNNN"`` and ``down_revision`` the
previous number, and freezes its own column definitions (never import
``schema.py`` from a revision: the schema moves on, a migration must not). When
you change ``schema.py``, add the next revision that brings an existing
database to the new shape; ``tests/store/test_migrations.py`` checks that a
migrated database has exactly the tables of ``schema.py``.
"""
