"""What earlier imports brought: one table in the destination database.

The table is ``mltrail_import_state`` (migration 0012). Each row says: from this source, this entity (kind + source id) became this
destination id, and the source looked like ``marker`` then. A rerun skips the
entities whose marker has not changed and resumes or updates the others, so an
import can be repeated or interrupted without duplicating anything.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from mltrail.store.sql.schema import import_state


class ImportState:
    """The import state of one source in one destination database."""

    def __init__(self, engine: sa.Engine, source: str) -> None:
        self.engine = engine
        self.source = source[:255]
        # A mltrail database has the table (migration 0012); the export's own state file gets it here.
        import_state.create(engine, checkfirst=True)
        self._rows: dict[tuple[str, str], tuple[str, str]] = {}
        with engine.connect() as conn:
            t = import_state.c
            for row in conn.execute(
                sa.select(t.kind, t.source_id, t.dest_id, t.marker).where(t.source == self.source)
            ):
                self._rows[(row.kind, row.source_id)] = (row.dest_id, row.marker)

    def get(self, kind: str, source_id: str) -> tuple[str, str] | None:
        """``(dest_id, marker)`` of an entity imported before, or ``None``."""
        return self._rows.get((kind, source_id))

    def dest_id(self, kind: str, source_id: str) -> str | None:
        """The destination id an entity was imported under, or ``None``."""
        found = self._rows.get((kind, source_id))
        return found[0] if found else None

    def ids(self, kind: str) -> dict[str, str]:
        """Source id → destination id of every entity of one kind imported from this source."""
        return {sid: dest for (k, sid), (dest, _) in self._rows.items() if k == kind}

    def record(self, kind: str, source_id: str, dest_id: str, marker: str) -> None:
        """Remember an entity as imported (replaces an earlier row)."""
        t = import_state.c
        key = {"source": self.source, "kind": kind, "source_id": source_id[:255]}
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(import_state).where(
                    t.source == key["source"], t.kind == kind, t.source_id == key["source_id"]
                )
            )
            conn.execute(
                sa.insert(import_state).values(
                    **key, dest_id=dest_id, marker=marker[:1000], updated_ms=int(time.time() * 1000)
                )
            )
        self._rows[(kind, source_id)] = (dest_id, marker)
