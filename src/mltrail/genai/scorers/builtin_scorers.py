"""``mlflow.genai.scorers.builtin_scorers``'s import path: the built-in LLM-judge and deterministic scorers.

They are defined in :mod:`mltrail.genai.scorers.builtin`, ``.deterministic`` and
``.session``; code written as ``from mlflow.genai.scorers.builtin_scorers import
Correctness`` runs unchanged with ``mltrail``.
"""

from __future__ import annotations

from mltrail.genai.scorers import get_all_scorers
from mltrail.genai.scorers.builtin import (
    BuiltInScorer,
    Completeness,
    Correctness,
    Equivalence,
    ExpectationsGuidelines,
    Fluency,
    Guidelines,
    MissingColumnsException,
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
from mltrail.genai.scorers.session import (
    ConversationalGuidelines,
    ConversationalRoleAdherence,
    ConversationalSafety,
    ConversationalToolCallEfficiency,
    ConversationCompleteness,
    KnowledgeRetention,
    UserFrustration,
)

__all__ = [
    "BuiltInScorer",
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
    "MissingColumnsException",
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
    "UserFrustration",
    "get_all_scorers",
]
