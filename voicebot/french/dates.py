"""French month names and dates, written once for the speech normaliser, the figures and the CLI."""

from __future__ import annotations

from datetime import date

MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre"]
"""Month names as written, January first."""

MONTH_NUMBER = {name: n for n, name in enumerate(MONTHS, 1)} | {"fevrier": 2, "aout": 8, "decembre": 12}
"""Month number of a month name, written with or without its accent (lower case)."""


def french_date(d: date) -> str:
    """'1er janvier 2026', '15 avril 2019'."""
    day = "1er" if d.day == 1 else str(d.day)
    return f"{day} {MONTHS[d.month - 1]} {d.year}"
