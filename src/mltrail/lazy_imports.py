"""The one lock every late import of a server thread holds.

A module imported inside a function runs its top level when first called, in whatever
thread called it: the store-opening thread, a request's worker thread, the SQLite
database thread, the webhook dispatcher or the scorer worker. When two threads import
modules that import each other at the same time, Python's import deadlock guard hands
one of them the other's module half-initialised and ``from ... import name`` raises
``ImportError: cannot import name ... (most likely due to a circular import)``; seen
when ``mltrail server`` started on a loaded machine.

So an import that may run for the first time outside the main thread holds
:data:`LAZY_IMPORTS`, written as a ``with`` block around the import statement itself (so
that import-linter and ``tests/sdk/test_function_imports.py`` still see it)::

    def _open(uri: str) -> SqlBudgetStore:
        with LAZY_IMPORTS:
            from mltrail.store.sql.gateway_budgets import SqlBudgetStore
        return SqlBudgetStore(uri)

Late imports then run one at a time, each to its end. The lock is re-entrant: a module
imported under it may itself import late at its top level. It lives here, below every
layer, so the store, the server and the CLI share it; it imports nothing of mltrail.
"""

from __future__ import annotations

import threading

#: Held around an import that may run for the first time in a thread other than the main one.
LAZY_IMPORTS = threading.RLock()
