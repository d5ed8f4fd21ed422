"""``Document``: a retrieved document in a RETRIEVER span's outputs (MLflow's ``mlflow.entities.Document``).

Example::

    from mltrail.entities import Document

    @mlflow.trace(span_type="RETRIEVER")
    def retrieve(query: str) -> list[Document]:
        return [Document(page_content="Paris is the capital.", metadata={"doc_uri": "wiki/paris"})]
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Document:
    """A document a retriever returned: its text, its metadata (``doc_uri``, ``chunk_id``, ...) and an id."""

    page_content: str
    metadata: dict[str, Any] = field(default_factory=dict)
    id: str | None = None

    @classmethod
    def from_langchain_document(cls, document: Any) -> Document:
        """From a LangChain ``Document`` (``page_content``, ``metadata``, and ``id`` where it has one)."""
        return cls(
            page_content=document.page_content,
            metadata=deepcopy(document.metadata),
            id=getattr(document, "id", None),
        )

    @classmethod
    def from_llama_index_node_with_score(cls, node_with_score: Any) -> Document:
        """From a LlamaIndex ``NodeWithScore``: its content, its metadata with the ``score``, its node id."""
        metadata = {"score": node_with_score.get_score(), **deepcopy(node_with_score.metadata)}
        return cls(page_content=node_with_score.get_content(), metadata=metadata, id=node_with_score.node_id)

    def to_dict(self) -> dict[str, Any]:
        """``{"page_content", "metadata", "id"}``: the form a RETRIEVER span stores."""
        return asdict(self)
