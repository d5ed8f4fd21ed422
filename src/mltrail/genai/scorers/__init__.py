"""``mltrail.genai.scorers``: MLflow 3's scorers for ``mltrail.genai.evaluate``.

``Scorer`` and ``@scorer`` for your own, the built-in judges (``Correctness``,
``Guidelines``, ``RetrievalGroundedness``, ``ToolCallCorrectness``,
``UserFrustration`` ...), ``make_scorer_ensemble`` with its combiners
(``majority_vote``, ``mean``, ``minimum``, ``maximum``, ``agg_all``,
``agg_any``), ``get_all_scorers()``, and online evaluation: ``scorer.register()``,
``.start(sampling_config=ScorerSamplingConfig(...))``, ``.update()``, ``.stop()``,
``list_scorers``, ``get_scorer``, ``delete_scorer`` (``genai/scorers/registry.py``). See ``docs/genai-evaluation.md``.

Example::

    from mltrail.genai.scorers import Correctness, Safety, scorer

    @scorer
    def short(outputs) -> bool:
        return len(outputs) < 200

    scorers = [Correctness(), Safety(model="anthropic:/claude-3-5-haiku-latest"), short]
"""

from __future__ import annotations

from mltrail.genai.scorers.base import Scorer, ScorerKind, scorer
from mltrail.genai.scorers.builtin import (
    Completeness,
    Correctness,
    Equivalence,
    ExpectationsGuidelines,
    Fluency,
    Guidelines,
    RelevanceToQuery,
    RetrievalGroundedness,
    RetrievalRelevance,
    RetrievalSufficiency,
    Safety,
    Summarization,
    ToolCallCorrectness,
    ToolCallEfficiency,
)
from mltrail.genai.scorers.deterministic import PIIDetection, RegexMatch, ResponseLength
from mltrail.genai.scorers.ensemble import (
    agg_all,
    agg_any,
    majority_vote,
    make_scorer_ensemble,
    maximum,
    mean,
    minimum,
)
from mltrail.genai.scorers.registry import (
    ScorerSamplingConfig,
    ScorerStatus,
    attach,
    delete_scorer,
    get_scorer,
    list_scorer_versions,
    list_scorers,
)
from mltrail.genai.scorers.session import (
    ConversationalGuidelines,
    ConversationalRoleAdherence,
    ConversationalSafety,
    ConversationalToolCallEfficiency,
    ConversationCompleteness,
    KnowledgeRetention,
    UserFrustration,
)

FRAMEWORK_METADATA_KEY = "mlflow.scorer.framework"
attach(Scorer)  # register(), start(), update(), stop(), sample_rate, filter_string, status


_SINGLE_TURN = (
    "Completeness",
    "Correctness",
    "Equivalence",
    "ExpectationsGuidelines",
    "Fluency",
    "Guidelines",
    "PIIDetection",
    "RegexMatch",
    "RelevanceToQuery",
    "ResponseLength",
    "RetrievalGroundedness",
    "RetrievalRelevance",
    "RetrievalSufficiency",
    "Safety",
    "Summarization",
    "ToolCallCorrectness",
    "ToolCallEfficiency",
)
_SESSION = (
    "ConversationCompleteness",
    "ConversationalGuidelines",
    "ConversationalRoleAdherence",
    "ConversationalSafety",
    "ConversationalToolCallEfficiency",
    "KnowledgeRetention",
    "UserFrustration",
)


def get_all_scorers() -> list[Scorer]:
    """One instance of every built-in scorer that needs no constructor argument."""
    out = []
    for name in (*_SINGLE_TURN, *_SESSION):
        try:
            out.append(globals()[name]())
        except TypeError:  # needs guidelines=, pattern= ...
            continue
    return out


__all__ = [
    "Completeness",
    "ConversationCompleteness",
    "ConversationalGuidelines",
    "ConversationalRoleAdherence",
    "ConversationalSafety",
    "ConversationalToolCallEfficiency",
    "Correctness",
    "Equivalence",
    "ExpectationsGuidelines",
    "Fluency",
    "Guidelines",
    "KnowledgeRetention",
    "PIIDetection",
    "RegexMatch",
    "RelevanceToQuery",
    "ResponseLength",
    "RetrievalGroundedness",
    "RetrievalRelevance",
    "RetrievalSufficiency",
    "Safety",
    "Scorer",
    "ScorerKind",
    "ScorerSamplingConfig",
    "ScorerStatus",
    "Summarization",
    "ToolCallCorrectness",
    "ToolCallEfficiency",
    "UserFrustration",
    "agg_all",
    "agg_any",
    "delete_scorer",
    "get_all_scorers",
    "get_scorer",
    "list_scorer_versions",
    "list_scorers",
    "majority_vote",
    "make_scorer_ensemble",
    "maximum",
    "mean",
    "minimum",
    "scorer",
]
