"""Reading source files (Markdown + front matter, HTML, PDF, plain text) into `Document`s and chunks.

Parsers: PyYAML (front matter), BeautifulSoup with the stdlib html.parser (HTML), pypdf (PDF).
Metadata of formats without front matter comes from `<meta name="kb:FIELD">` tags (HTML) or a sidecar
`FILE.meta.yaml` (PDF, text); missing fields get defaults derived from the file name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from voicebot.knowledge.documents import QUEUES, Chunk, Document

SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html", ".pdf": "pdf",
            ".txt": "text"}
MAX_CHUNK_CHARS = 1200
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
_HEADING = re.compile(r"^(#{1,6})\s+(.*\S)\s*$")


class IngestError(ValueError):
    """A source file that cannot be ingested; the message names the file and the reason (French)."""


def discover(paths: Iterable[Path]) -> list[Path]:
    """Files to ingest under `paths` (files or folders), in a stable order."""
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES))
        elif p.is_file():
            if p.suffix.lower() not in SUFFIXES:
                raise IngestError(f"{p} : format non pris en charge (attendu : .md, .html, .pdf, .txt)")
            found.append(p)
        else:
            raise IngestError(f"{p} : fichier ou dossier introuvable")
    return found


def read_document(path: Path) -> Document:
    """Parse one file into a Document (body normalised to Markdown-like text)."""
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise IngestError(f"{path} : format non pris en charge")
    try:
        if fmt == "markdown":
            meta, body = _split_front_matter(path.read_text(encoding="utf-8"))
        elif fmt == "text":
            meta, body = _split_front_matter(path.read_text(encoding="utf-8"))
            meta = {**_sidecar(path), **meta}
        elif fmt == "html":
            meta, body = _read_html(path.read_text(encoding="utf-8"))
            meta = {**_sidecar(path), **meta}
        else:
            meta, body = _read_pdf(path), ""
            body = str(meta.pop("__body__"))
            meta = {**meta, **_sidecar(path)}
    except UnicodeDecodeError as exc:
        raise IngestError(f"{path} : le fichier n'est pas en UTF-8 ({exc.reason})") from exc
    return build_document(meta, body, path=path, fmt=fmt)


def build_document(meta: dict[str, object], body: str, *, path: Path | None = None, fmt: str = "markdown") -> Document:
    """Validate metadata, fill defaults, and hash the content (the idempotency key)."""
    name = path.stem if path else "document"
    where = str(path) if path else "document"
    body = body.strip() + "\n"
    if not body.strip():
        raise IngestError(f"{where} : document vide")
    doc_id = str(meta.get("id") or name)
    queue = str(meta.get("queue") or "other")
    if queue not in QUEUES:
        raise IngestError(f"{where} : file d'attente « {queue} » inconnue (attendu : {', '.join(QUEUES)})")
    title = str(meta.get("title") or _first_heading(body) or doc_id)
    canonical = {
        "id": doc_id,
        "scheme": str(meta.get("scheme") or doc_id),
        "title": title,
        "audience": str(meta.get("audience") or ""),
        "version": str(meta.get("version") or "1"),
        "effective_from": _as_date(meta.get("effective_from"), where, "effective_from") or date(1970, 1, 1),
        "effective_until": _as_date(meta.get("effective_until"), where, "effective_until"),
        "source_url": str(meta.get("source_url") or ""),
        "queue": queue,
    }
    digest = hashlib.sha256(
        (repr(sorted((k, str(v)) for k, v in canonical.items())) + "\n" + body).encode("utf-8")
    ).hexdigest()
    return Document(body=body, content_hash=digest, path=str(path or ""), format=fmt, **canonical)  # type: ignore[arg-type]


def chunk_document(doc: Document, max_chars: int = MAX_CHUNK_CHARS) -> list[Chunk]:
    """Split along headings; each section keeps its heading path; long sections split by paragraph."""
    sections: list[tuple[tuple[str, ...], list[str]]] = []
    path: list[tuple[int, str]] = []
    lines: list[str] = []

    def flush() -> None:
        text = "\n".join(lines).strip()
        if text:
            heads = tuple(h for _, h in path) or (doc.title,)
            sections.append((heads, _split_long(text, max_chars)))
        lines.clear()

    for line in doc.body.splitlines():
        m = _HEADING.match(line)
        if m:
            flush()
            level = len(m.group(1))
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, m.group(2).strip()))
        else:
            lines.append(line)
    flush()

    chunks: list[Chunk] = []
    for heads, pieces in sections:
        for piece in pieces:
            chunks.append(
                Chunk(
                    id=f"{doc.id}#{len(chunks)}", document_id=doc.id, ordinal=len(chunks), heading_path=heads,
                    text=piece, scheme=doc.scheme, title=doc.title, version=doc.version,
                    audience=doc.audience, effective_from=doc.effective_from, valid_until=doc.valid_until,
                    source_url=doc.source_url, queue=doc.queue,
                )
            )
    return chunks


def iter_documents(paths: Iterable[Path]) -> Iterator[Document]:
    for p in discover(paths):
        yield read_document(p)


# -- format readers -------------------------------------------------------------------------------

def _split_front_matter(text: str) -> tuple[dict[str, object], str]:
    m = _FRONT_MATTER.match(text)
    if not m:
        return {}, text
    try:
        meta = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError as exc:
        raise IngestError(f"en-tête YAML illisible : {exc}") from exc
    if not isinstance(meta, dict):
        raise IngestError("l'en-tête YAML doit être un dictionnaire")
    return meta, text[m.end():]


def _sidecar(path: Path) -> dict[str, object]:
    side = path.with_name(path.name + ".meta.yaml")
    if not side.exists():
        return {}
    meta = yaml.safe_load(side.read_text(encoding="utf-8")) or {}
    if not isinstance(meta, dict):
        raise IngestError(f"{side} : les métadonnées doivent être un dictionnaire")
    return meta


def _read_html(html: str) -> tuple[dict[str, object], str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    meta: dict[str, object] = {}
    for tag in soup.find_all("meta"):
        name = str(tag.get("name") or "")
        if name.startswith("kb:") and tag.get("content") is not None:
            meta[name[3:]] = str(tag.get("content"))
    if soup.title and soup.title.string and "title" not in meta:
        meta["title"] = soup.title.string.strip()
    for bad in soup(["script", "style", "nav", "footer", "header"]):
        bad.decompose()
    root = soup.body or soup
    out: list[str] = []
    for el in root.find_all(["h1", "h2", "h3", "h4", "p", "li", "td"]):
        text = " ".join(el.get_text(" ", strip=True).split())
        if not text:
            continue
        if el.name in ("h1", "h2", "h3", "h4"):
            out.append("\n" + "#" * int(el.name[1]) + " " + text)
        elif el.name == "li":
            out.append("- " + text)
        elif el.find_parent("li") is None:
            out.append(text)
    return meta, "\n".join(out)


def _read_pdf(path: Path) -> dict[str, object]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [page.extract_text() or "" for page in reader.pages]
        info: Any = reader.metadata or {}
    except (PdfReadError, OSError, ValueError) as exc:
        raise IngestError(f"{path} : PDF illisible ({exc})") from exc
    meta: dict[str, object] = {}
    if info.get("/Title"):
        meta["title"] = str(info["/Title"])
    lines: list[str] = []
    for page in pages:
        for line in page.splitlines():
            line = line.strip()
            if not line:
                continue
            # PDF text has no heading markup: a short line without final punctuation is taken as a heading.
            if len(line) < 60 and not re.search(r"[.:;,!?€%)]$", line) and not line.startswith(("-", "•")):
                lines.append("\n## " + line)
            else:
                lines.append(re.sub(r"^[•·]\s*", "- ", line))
    meta["__body__"] = "\n".join(lines)
    return meta


def _first_heading(body: str) -> str | None:
    for line in body.splitlines():
        m = _HEADING.match(line)
        if m:
            return m.group(2).strip()
    return None


def _as_date(value: object, where: str, name: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise IngestError(f"{where} : {name} « {value} » n'est pas une date AAAA-MM-JJ") from exc


def _split_long(text: str, max_chars: int) -> list[str]:
    if len(text) <= max_chars:
        return [text]
    pieces: list[str] = []
    current = ""
    for para in re.split(r"\n(?=- )|\n\s*\n", text):
        if current and len(current) + len(para) + 1 > max_chars:
            pieces.append(current.strip())
            current = ""
        current += ("\n" if current else "") + para
    if current.strip():
        pieces.append(current.strip())
    return pieces
