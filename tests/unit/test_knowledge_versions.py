"""Version history, validity by date and discrepancy detection (pure logic on documents)."""

from datetime import date
from pathlib import Path

from voicebot.knowledge.cli import _VALUE_KINDS as VALUE_KINDS  # what `kb diff` lists by default
from voicebot.knowledge.ingest import build_document, iter_documents
from voicebot.knowledge.retrieval import rrf
from voicebot.knowledge.settings import SAMPLES_DIR
from voicebot.knowledge.versions import detect, in_force, validity_windows


def _doc(id_: str, start: str, body: str, until: str | None = None):
    meta = {"id": id_, "scheme": "velo", "effective_from": start, "queue": "transport"}
    if until:
        meta["effective_until"] = until
    return build_document(meta, body)


OLD = "# Vélo\n## Montant\n- Vélo à assistance électrique : plafonnée à 500 €.\n- Taux : 50 % du prix.\n## Public\n- Âge : être majeur.\n"
NEW = "# Vélo\n## Montant\n- Vélo à assistance électrique : plafonnée à 400 €.\n- Taux : 50 % du prix.\n## Public\n- Âge : être majeur.\n- Occasion : les vélos reconditionnés sont éligibles.\n"


def test_validity_windows_and_version_in_force():
    docs = [_doc("v1", "2020-02-20", OLD), _doc("v2", "2023-09-01", NEW)]
    assert validity_windows(docs) == {"v1": date(2023, 9, 1), "v2": None}
    assert in_force(docs, "velo", date(2023, 8, 31)).id == "v1"
    assert in_force(docs, "velo", date(2023, 9, 1)).id == "v2"
    assert in_force(docs, "velo", date(2019, 1, 1)) is None


def test_declared_end_date_wins_over_next_version():
    docs = [_doc("relance", "2021-03-01", OLD, until="2022-06-30"), _doc("actuelle", "2022-07-01", NEW)]
    assert in_force(docs, "velo", date(2022, 6, 30)) is None  # gap between the two versions
    assert in_force(docs, "velo", date(2022, 7, 1)).id == "actuelle"


def test_detects_changed_amount_and_added_eligibility_line():
    found = detect([_doc("v1", "2020-02-20", OLD), _doc("v2", "2023-09-01", NEW)])
    amount = [d for d in found if d.kind == "amount"]
    assert len(amount) == 1
    d = amount[0]
    assert (d.field, d.old_document, d.new_document) == ("Montant › Vélo à assistance électrique", "v1", "v2")
    assert "500 €" in d.old_value and "400 €" in d.new_value and d.new_date == date(2023, 9, 1)
    assert [x.field for x in found if x.kind == "added"] == ["Public › Occasion"]
    assert not [x for x in found if "Taux" in x.field]  # unchanged statements are not discrepancies


# Value discordances of the fact sheet (shared/data/kb-facts-idf.md): scheme, old figure, new figure.
FACT_SHEET_DISCORDANCES = [
    ("permis-b", "650", "300"), ("permis-b", "10", None),
    ("navigo", "86,40", "88,80"), ("navigo", "88,80", "90,80"), ("navigo", "950,40", "976,80"),
    ("imagine-r", "350", "374,40"), ("imagine-r", "374,40", "384,30"),
    ("imagine-r-junior", "16,40", "16,80"), ("imagine-r-junior", "24", "16,40"),
    ("velo", "500", "400"), ("equitables", "1 €", "1,50"), ("equitables", "1,50", "1,52"),
    ("equitables", "58 %", "55 %"), ("ordinateur-seconde", "400", "600"),
    ("bacheliers-meritants", "900", "1 000"), ("bourse-sanitaire-sociale", "15 novembre 2023", "30 novembre 2024"),
    ("amie", "1 mois", "30 jours"), ("pmup", "250 000", "500 000"), ("pmup", "500 000", "375 000"),
    ("pmup", "250 salariés", "5 000"), ("tpup", "5 salariés", "10 salariés"), ("tpup", "150 000", "82 500"),
    ("innovup", "100 000", "500 000"), ("innovup", "1 M€", "3 M€"), ("pret-rebond", "250 M€", "300 M€"),
    ("pass-culture", "30 €", "50 €"), ("pass-culture", "300 €", "150 €"), ("pass-sport", "50 €", "70 €"),
    ("pass-sport", "6 à 17", "14 à 17"), ("cheque-numerique", "2 000", None),
    ("fonds-garantie", "70 %", "80 %"),
]


def test_sample_base_shows_every_value_discordance_of_the_fact_sheet():
    found = detect(list(iter_documents([SAMPLES_DIR])))
    missing = []
    for scheme, old, new in FACT_SHEET_DISCORDANCES:
        if not any(d.scheme == scheme and old in d.old_value and (new is None or new in d.new_value)
                   and d.kind in VALUE_KINDS for d in found):
            missing.append((scheme, old, new))
    assert missing == []


def test_every_sample_document_has_complete_front_matter():
    docs = list(iter_documents([SAMPLES_DIR]))
    assert len(docs) >= 40
    for d in docs:
        assert d.source_url.startswith("http") and d.title and d.audience and d.version, d.id
        assert d.queue in ("funding", "transport", "highschool", "other"), d.id
    assert len({d.id for d in docs}) == len(docs)
    assert Path(SAMPLES_DIR).name == "idf"


def test_rrf_rewards_items_ranked_well_by_both_rankers():
    scores = rrf([["a", "b", "c"], ["b", "c", "a"]], k=60)
    assert max(scores, key=scores.get) == "b"
    assert scores["a"] == 1 / 61 + 1 / 63
    assert rrf([[], ["x"]]) == {"x": 1 / 61}
