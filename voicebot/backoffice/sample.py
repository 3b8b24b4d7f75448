"""A sample back-office for development, demos and tests: `voicebot backoffice sample`.

A separate HTTP service (FastAPI, its OpenAPI description at /openapi.json) over a small SQLite sample
of dossiers. Verification is done here, server-side: the status operation takes the dossier number and
the postcode (in a header, so it stays out of URLs and access logs) and answers the same 404 for an
unknown number and a wrong postcode, so a caller who guesses learns nothing, not even that a dossier
exists. Fault modes (--delay-ms, --fault) let tests see the bot cope with a slow or broken back-office.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Form, Header, HTTPException, Path as PathParam, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

FAULTS = ("none", "malformed", "other-dossier", "not-json", "error", "huge")
NUMBER_PATTERN = r"^[A-Z]{2,4}-\d{4}-\d{6}$"
NOT_FOUND = "Aucun dossier ne correspond à ces informations."

# number, postcode, scheme, status, last step, amount paid, paid on, missing documents
SAMPLE_DOSSIERS = [
    ("IDF-2025-000123", "93200", "aide au permis de conduire", "en cours d'instruction", "2025-11-03",
     None, None, ["justificatif de domicile"]),
    ("IDF-2025-000456", "75011", "chèque numérique", "payé", "2025-10-14", 1500.0, "2025-10-14", []),
    ("IDF-2024-000789", "94000", "bourse régionale des formations sanitaires et sociales", "accepté",
     "2024-09-20", None, None, []),
    ("IDF-2025-001010", "92100", "forfait imagine R", "incomplet", "2025-09-02", None, None,
     ["certificat de scolarité", "photo d'identité"]),
    ("IDF-2025-000999", "78000", "aide à la mobilité internationale des étudiants", "refusé", "2025-07-01",
     None, None, []),
]


class DossierStatusOut(BaseModel):
    """Status of one dossier, returned only to a verified caller."""

    number: str = Field(pattern=NUMBER_PATTERN, description="Dossier number, e.g. IDF-2025-000123")
    scheme: str = Field(description="Scheme (dispositif) the application is for")
    status: str = Field(description="Current status, in French, agreeing with 'le dossier est …'")
    last_step_date: str = Field(description="Date of the last step (ISO 8601)")
    missing_documents: list[str] = Field(description="Documents still to be sent")
    amount_paid: float | None = Field(None, description="Amount paid, in euros")
    paid_on: str | None = Field(None, description="Payment date (ISO 8601)")


def init_db(path: Path) -> None:
    """Create the sample database with its dossiers if it does not exist yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE IF NOT EXISTS dossiers (number TEXT PRIMARY KEY, postcode TEXT NOT NULL,"
            " scheme TEXT NOT NULL, status TEXT NOT NULL, last_step_date TEXT NOT NULL, amount_paid REAL,"
            " paid_on TEXT);"
            "CREATE TABLE IF NOT EXISTS missing_documents (number TEXT NOT NULL REFERENCES dossiers(number),"
            " label TEXT NOT NULL);")
        if db.execute("SELECT COUNT(*) FROM dossiers").fetchone()[0] == 0:
            for number, postcode, scheme, status, last, amount, paid_on, missing in SAMPLE_DOSSIERS:
                db.execute("INSERT INTO dossiers VALUES (?,?,?,?,?,?,?)",
                           (number, postcode, scheme, status, last, amount, paid_on))
                db.executemany("INSERT INTO missing_documents VALUES (?,?)", [(number, m) for m in missing])


class _Auth:
    """Optional API key and/or OAuth2 client credentials (tokens kept in memory)."""

    def __init__(self, api_key: str, client_id: str, client_secret: str, token_ttl_s: int):
        self.api_key, self.client_id, self.client_secret = api_key, client_id, client_secret
        self.token_ttl_s = token_ttl_s
        self.tokens: dict[str, float] = {}

    def check(self, request: Request) -> None:
        if self.api_key and not hmac.compare_digest(request.headers.get("x-api-key", ""), self.api_key):
            raise HTTPException(401, "Clé d'API absente ou invalide.")
        if self.client_id:
            auth = request.headers.get("authorization", "")
            token = auth[7:] if auth[:7].lower() == "bearer " else ""
            if self.tokens.get(token, 0) < time.monotonic():
                raise HTTPException(401, "Jeton absent ou expiré.", headers={"WWW-Authenticate": "Bearer"})


def create_app(db_path: Path, *, api_key: str = "", client_id: str = "", client_secret: str = "",
               token_ttl_s: int = 300, delay_ms: int = 0, fault: str = "none") -> FastAPI:
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}: one of {', '.join(FAULTS)}")
    init_db(db_path)
    auth = _Auth(api_key, client_id, client_secret, token_ttl_s)
    stats = {"status_requests": 0, "tokens_issued": 0}
    app = FastAPI(title="Back-office régional (échantillon)", version="1.0.0",
                  description="Sample of the region's dossier API, for voicebot's development and tests.")

    @app.get("/v1/dossiers/{number}/status", operation_id="getDossierStatus", response_model=DossierStatusOut,
             summary="Statut d'un dossier, après vérification du code postal du demandeur",
             responses={404: {"description": "Numéro inconnu ou code postal non concordant (indiscernables)"}})
    async def dossier_status(
        number: Annotated[str, PathParam(pattern=NUMBER_PATTERN, max_length=20,
                                         description="Numéro du dossier, ex. IDF-2025-000123")],
        verification_postcode: Annotated[str, Header(alias="X-Verification-Postcode", pattern=r"^\d{5}$",
                                                     description="Code postal du demandeur (5 chiffres)")],
        _: None = Depends(auth.check),
    ):
        stats["status_requests"] += 1
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        row = _lookup(db_path, number, verification_postcode)
        if row is None:
            return JSONResponse({"detail": NOT_FOUND}, status_code=404)
        return _with_fault(row, fault)

    @app.post("/oauth/token", include_in_schema=False)
    async def token(request: Request, grant_type: Annotated[str, Form()]):
        if not auth.client_id:
            raise HTTPException(404)
        ok = _basic_ok(request.headers.get("authorization", ""), auth.client_id, auth.client_secret)
        if grant_type != "client_credentials" or not ok:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        value = secrets.token_urlsafe(32)
        auth.tokens[value] = time.monotonic() + auth.token_ttl_s
        stats["tokens_issued"] += 1
        return {"access_token": value, "token_type": "Bearer", "expires_in": auth.token_ttl_s}

    @app.get("/healthz", include_in_schema=False)
    async def healthz():
        return {"status": "ok"}

    @app.get("/sample/stats", include_in_schema=False)
    async def sample_stats():
        return stats

    return app


def _basic_ok(header: str, client_id: str, client_secret: str) -> bool:
    import base64

    if header[:6].lower() != "basic ":
        return False
    try:
        given = base64.b64decode(header[6:], validate=True).decode()
    except ValueError:
        return False
    return hmac.compare_digest(given, f"{client_id}:{client_secret}")


def _lookup(db_path: Path, number: str, postcode: str) -> dict | None:
    """The dossier if number and postcode match; the postcode is compared in constant time either way."""
    with sqlite3.connect(db_path) as db:
        row = db.execute("SELECT number, postcode, scheme, status, last_step_date, amount_paid, paid_on "
                         "FROM dossiers WHERE number = ?", (number,)).fetchone()
        expected = row[1] if row else "\x00" * 5
        if not hmac.compare_digest(expected.encode(), postcode.encode()) or row is None:
            return None
        missing = [r[0] for r in db.execute("SELECT label FROM missing_documents WHERE number = ? ORDER BY rowid",
                                            (number,))]
    return {"number": row[0], "scheme": row[2], "status": row[3], "last_step_date": row[4],
            "missing_documents": missing, "amount_paid": row[5], "paid_on": row[6]}


def _with_fault(row: dict, fault: str):
    if fault == "malformed":
        return JSONResponse({**row, "last_step_date": "la semaine dernière", "missing_documents": "voir courrier"})
    if fault == "other-dossier":
        return JSONResponse({**row, "number": "IDF-2025-999999"})
    if fault == "not-json":
        return PlainTextResponse("<html>Service indisponible</html>")
    if fault == "error":
        return JSONResponse({"detail": "service momentanément indisponible"}, status_code=503)
    if fault == "huge":
        return JSONResponse({**row, "padding": "x" * 200_000})
    return row


def serve(host: str, port: int, db_path: Path, **options) -> int:
    import uvicorn

    app = create_app(db_path, **options)
    # No access log: even a sample must not write dossier numbers to a log.
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    return 0
