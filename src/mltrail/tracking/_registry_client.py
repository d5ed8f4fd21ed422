"""Model-registry methods of :class:`mltrail.tracking.MlflowClient` (filled in by the registry work)."""


class RegistryClientMixin:
    """Registry half of the client; expects ``self._registry_uri`` to be set by ``__init__``."""
