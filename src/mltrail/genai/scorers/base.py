"""``mlflow.genai.scorers.base``'s import path: ``Scorer``, ``@scorer`` and ``ScorerKind``.

They are defined in :mod:`mltrail.genai._scorer_base`, below both ``genai.judges``
(a judge is a scorer) and ``genai.scorers`` (whose built-ins call judges).

Example::

    from mltrail.genai.scorers.base import Scorer, scorer
"""

from __future__ import annotations

from mltrail.genai._scorer_base import (
    AggregationFunc,
    Scorer,
    ScorerKind,
    normalize_result,
    scorer,
)

__all__ = ["AggregationFunc", "Scorer", "ScorerKind", "normalize_result", "scorer"]
