"""The typed interface of the back-office tools: what a lookup returns and how it can fail.

Everything the back-office sends is hostile until checked: strict types, bounded lengths, printable
text only (it ends up in the caller's ear), and the dossier it describes must be the one asked for.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

NUMBER_RE = re.compile(r"^[A-Z]{2,4}-\d{4}-\d{6}$")
POSTCODE_RE = re.compile(r"^\d{5}$")

# Printable text without control characters or markup-ish angle brackets, short enough to be spoken.
_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120,
                                         pattern=r"^[^\x00-\x1f\x7f<>{}\[\]]+$")]


class BackofficeError(Exception):
    """The back-office could not answer (the caller gets an apology and an offer)."""

    outcome = "error"


class BackofficeUnavailable(BackofficeError):
    """Connection refused, 5xx, or the circuit breaker is open."""

    outcome = "unavailable"


class BackofficeTimeout(BackofficeError):
    """No complete answer within the configured timeout."""

    outcome = "timeout"


class BackofficeMalformed(BackofficeError):
    """An answer that does not match the contract (wrong type, missing field, another dossier...)."""

    outcome = "malformed"


class BackofficeAuthError(BackofficeError):
    """401/403 or no token: a configuration problem on our side, never the caller's."""

    outcome = "auth_error"


class BackofficeConfigError(BackofficeError):
    """The OpenAPI description lacks the operation, or the settings are incomplete."""

    outcome = "config_error"


class _StatusPayload(BaseModel):
    """The wire format of a dossier status, validated strictly (no coercion of types)."""

    model_config = ConfigDict(extra="ignore", strict=True)

    number: Annotated[str, StringConstraints(pattern=NUMBER_RE.pattern)]
    scheme: _Text
    status: _Text
    last_step_date: dt.date
    missing_documents: list[_Text] = Field(max_length=10)
    amount_paid: float | None = Field(None, ge=0, le=10_000_000)
    paid_on: dt.date | None = None


@dataclass(frozen=True)
class DossierStatus:
    """A dossier's status as the bot may tell it, once the caller is verified."""

    number: str
    scheme: str
    status: str
    last_step_date: dt.date
    missing_documents: tuple[str, ...] = ()
    amount_paid: float | None = None
    paid_on: dt.date | None = None

    @classmethod
    def from_wire(cls, data: Any, expected_number: str) -> "DossierStatus":
        """Validate a decoded JSON body; raise BackofficeMalformed with the first problem."""
        if not isinstance(data, dict):
            raise BackofficeMalformed(f"expected a JSON object, got {type(data).__name__}")
        # Dates arrive as ISO strings in JSON: parse them strictly before the strict model sees them.
        body = dict(data)
        try:
            for key in ("last_step_date", "paid_on"):
                if isinstance(body.get(key), str):
                    body[key] = dt.date.fromisoformat(body[key])
            p = _StatusPayload.model_validate(body)
        except (ValueError, ValidationError) as e:
            raise BackofficeMalformed(f"invalid dossier status: {_first_error(e)}") from None
        if p.number != expected_number:
            raise BackofficeMalformed("the back-office answered about another dossier")
        if (p.amount_paid is None) != (p.paid_on is None):
            raise BackofficeMalformed("amount_paid and paid_on must come together")
        return cls(p.number, p.scheme, p.status, p.last_step_date, tuple(p.missing_documents),
                   p.amount_paid, p.paid_on)


def _first_error(e: Exception) -> str:
    if isinstance(e, ValidationError):
        err = e.errors()[0]
        return f"{'.'.join(str(x) for x in err.get('loc', ()))}: {err.get('msg')}"
    return str(e)


def mask_number(number: str) -> str:
    """'IDF-2025-000123' -> 'IDF-2025-••••23': enough for an agent to match, not to look it up."""
    if NUMBER_RE.match(number or ""):
        return number[:-6] + "••••" + number[-2:]
    return "[DOSSIER]"
