"""Reading each source format into documents and chunks (pure parsing, temp files)."""

import sys
from datetime import date
from pathlib import Path

import pytest

from voicebot.knowledge.ingest import IngestError, chunk_document, discover, read_document

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from knowledge_support import write_pdf  # noqa: E402

MD = """---
id: velo-test
scheme: velo
title: Aide vélo
audience: habitants
version: "2023"
effective_from: 2023-09-01
source_url: https://example.org/velo
queue: transport
---
# Aide vélo

Introduction courte.

## Montant
- Vélo à assistance électrique : l'aide est plafonnée à 400 €.

### Cas particuliers
- Vélo adapté : 1 200 €.

## Démarche
- Demande : en ligne.
"""


def test_markdown_front_matter_and_heading_chunks(tmp_path: Path):
    f = tmp_path / "velo.md"
    f.write_text(MD, encoding="utf-8")
    doc = read_document(f)
    assert (doc.id, doc.scheme, doc.queue, doc.effective_from) == ("velo-test", "velo", "transport", date(2023, 9, 1))
    chunks = chunk_document(doc)
    paths = [c.heading_path for c in chunks]
    assert paths == [("Aide vélo",), ("Aide vélo", "Montant"), ("Aide vélo", "Montant", "Cas particuliers"),
                     ("Aide vélo", "Démarche")]
    assert all(c.scheme == "velo" and c.source_url == "https://example.org/velo" for c in chunks)
    assert "400 €" in chunks[1].text and chunks[1].id == "velo-test#1"


def test_content_hash_changes_with_content_only(tmp_path: Path):
    f = tmp_path / "velo.md"
    f.write_text(MD, encoding="utf-8")
    h1 = read_document(f).content_hash
    assert read_document(f).content_hash == h1
    f.write_text(MD.replace("400 €", "450 €"), encoding="utf-8")
    assert read_document(f).content_hash != h1


def test_html_with_meta_tags(tmp_path: Path):
    f = tmp_path / "cantine.html"
    f.write_text(
        """<html><head><title>Cantine</title><meta name="kb:scheme" content="equitables">
        <meta name="kb:effective_from" content="2019-09-01"><meta name="kb:queue" content="highschool"></head>
        <body><nav>menu</nav><h1>EquiTables</h1><p>Le prix dépend du quotient familial.</p>
        <h2>Tarifs</h2><ul><li>Prix du repas : de 1,52 € à 4,05 €.</li></ul><script>x()</script></body></html>""",
        encoding="utf-8",
    )
    doc = read_document(f)
    assert (doc.scheme, doc.queue, doc.title, doc.format) == ("equitables", "highschool", "Cantine", "html")
    chunks = chunk_document(doc)
    assert chunks[-1].heading_path == ("EquiTables", "Tarifs") and "1,52 €" in chunks[-1].text
    assert "menu" not in doc.body and "x()" not in doc.body


def test_pdf_with_sidecar_metadata(tmp_path: Path):
    f = tmp_path / "permis.pdf"
    write_pdf(f, ["Aide au permis", "La Région verse jusqu'à 1 300 € aux jeunes éligibles.", "Démarche",
                  "La demande se fait en ligne, pièce d'identité à fournir."], title="Permis B")
    (tmp_path / "permis.pdf.meta.yaml").write_text("scheme: permis-b\neffective_from: 2022-03-01\nqueue: funding\n")
    doc = read_document(f)
    assert (doc.scheme, doc.title, doc.format) == ("permis-b", "Permis B", "pdf")
    chunks = chunk_document(doc)
    assert any("1 300 €" in c.text and c.heading_path[-1] == "Aide au permis" for c in chunks)
    assert any("éligibles" in c.text for c in chunks)


def test_plain_text_defaults_from_file_name(tmp_path: Path):
    f = tmp_path / "pass-sport.txt"
    f.write_text("Le Pass'Sport vaut 70 € par jeune.\n\nIl se cumule avec les aides locales.\n", encoding="utf-8")
    doc = read_document(f)
    assert (doc.id, doc.scheme, doc.queue) == ("pass-sport", "pass-sport", "other")
    assert "70 €" in chunk_document(doc)[0].text


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.md", "---\nqueue: nowhere\n---\ntexte", "file d'attente « nowhere » inconnue"),
        ("b.md", "---\neffective_from: demain\n---\ntexte", "n'est pas une date"),
        ("c.md", "---\nid: [\n---\ntexte", "en-tête YAML illisible"),
        ("d.md", "---\nid: vide\n---\n   \n", "document vide"),
    ],
)
def test_bad_sources_get_one_precise_error(tmp_path: Path, name: str, content: str, message: str):
    f = tmp_path / name
    f.write_text(content, encoding="utf-8")
    with pytest.raises(IngestError, match=message):
        read_document(f)


def test_discover_rejects_unknown_formats_and_missing_paths(tmp_path: Path):
    (tmp_path / "x.docx").write_bytes(b"x")
    with pytest.raises(IngestError, match="format non pris en charge"):
        discover([tmp_path / "x.docx"])
    with pytest.raises(IngestError, match="introuvable"):
        discover([tmp_path / "absent.md"])
    (tmp_path / "ok.md").write_text("# T\ntexte", encoding="utf-8")
    assert discover([tmp_path]) == [tmp_path / "ok.md"]
