"""Document and chunk records shared by ingestion, stores, versions and answering."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

QUEUES = ("funding", "transport", "highschool", "other")


@dataclass(frozen=True)
class Document:
    """One version of one scheme's documentation, as ingested."""

    id: str
    scheme: str
    title: str
    audience: str
    version: str
    effective_from: date
    effective_until: date | None  # declared in the source; None = open-ended
    source_url: str
    queue: str
    body: str  # Markdown-like text: '#' headings, '- ' bullets
    content_hash: str
    path: str = ""
    format: str = "markdown"
    valid_until: date | None = None  # computed from the version history (next version's start)

    def in_force(self, on: date) -> bool:
        end = self.valid_until
        return self.effective_from <= on and (end is None or on < end)


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage: one heading section (or a piece of a long one) of a document."""

    id: str
    document_id: str
    ordinal: int
    heading_path: tuple[str, ...]
    text: str
    scheme: str = ""
    title: str = ""
    version: str = ""
    audience: str = ""
    effective_from: date | None = None
    valid_until: date | None = None
    source_url: str = ""
    queue: str = ""

    @property
    def heading(self) -> str:
        return " › ".join(self.heading_path)

    def indexed_text(self) -> str:
        """What search sees: title and headings give context to short sections."""
        return f"{self.title}. {' . '.join(self.heading_path[1:])}. {self.text}"


@dataclass(frozen=True)
class Discrepancy:
    """A value that changed between two versions of a scheme's documentation."""

    scheme: str
    field: str
    kind: str  # amount | rate | date | age | threshold | number | text | added | removed
    old_value: str
    old_date: date | None
    old_document: str
    old_source: str
    new_value: str
    new_date: date | None
    new_document: str
    new_source: str

    def as_dict(self) -> dict[str, object]:
        return {
            "scheme": self.scheme,
            "field": self.field,
            "kind": self.kind,
            "old": {"value": self.old_value, "date": _iso(self.old_date), "document": self.old_document,
                    "source": self.old_source},
            "new": {"value": self.new_value, "date": _iso(self.new_date), "document": self.new_document,
                    "source": self.new_source},
        }


@dataclass
class SearchHit:
    """A chunk with its fused score and the per-ranker evidence."""

    chunk: Chunk
    score: float
    relevance: float
    lexical_rank: int | None = None
    dense_rank: int | None = None
    dense_score: float | None = None
    extras: dict[str, float] = field(default_factory=dict)


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None
