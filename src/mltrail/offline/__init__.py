"""Offline logging: keep logging to a local journal while the tracking server is unreachable.

The REST tracking store (:mod:`mltrail.store.rest`) sends its writes through an
:class:`~mltrail.offline.guard.OfflineGuard`; when the server cannot be reached
they are appended to a journal (:mod:`mltrail.offline.journal`) and replayed in
order when it is back (:mod:`mltrail.offline.replay`), by a background thread
or by ``mltrail sync``. ``MLTRAIL_OFFLINE=auto|never|always`` (see
:mod:`mltrail.offline.settings`). The full story is in ``docs/offline.md``.
"""
