"""Model serving: the ``/invocations`` scoring app used by ``mltrail models serve``."""
