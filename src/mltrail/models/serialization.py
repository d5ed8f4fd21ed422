"""Pickled model files: pickle, cloudpickle or skops, as MLflow's sklearn-style flavors write them.

``mltrail.sklearn`` saves estimators this way, and ``mltrail.lightgbm`` its
scikit-learn models (``LGBMClassifier`` …); MLflow writes the same files, so each
side loads the other's. cloudpickle and skops are imported only when used.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from mltrail.exceptions import invalid

SKOPS = "skops"
PICKLE = "pickle"
CLOUDPICKLE = "cloudpickle"
FORMATS = [SKOPS, PICKLE, CLOUDPICKLE]


def dump_model(model: Any, target: Path, fmt: str) -> None:
    """Write ``model`` to the file ``target`` in the serialization format ``fmt``."""
    if fmt == SKOPS:
        try:
            import skops.io
        except ImportError:
            raise invalid(
                "serialization_format='skops' needs the 'skops' package: pip install skops"
            ) from None
        skops.io.dump(model, str(target))
        return
    with open(target, "wb") as fh:
        if fmt == CLOUDPICKLE:
            import cloudpickle

            cloudpickle.dump(model, fh)
        else:
            pickle.dump(model, fh)


def load_model_file(path: Path, fmt: str) -> Any:
    """The model pickled at ``path`` in the serialization format ``fmt``."""
    if fmt == SKOPS:
        try:
            import skops.io
        except ImportError:
            raise invalid("This model was saved with skops: install the 'skops' package to load it") from None
        return skops.io.load(str(path), trusted=skops.io.get_untrusted_types(file=str(path)))
    with open(path, "rb") as fh:
        # cloudpickle output is readable by plain pickle once cloudpickle is importable.
        if fmt == CLOUDPICKLE:
            import cloudpickle  # noqa: F401
        return pickle.load(fh)
