"""Settings of the region's back-office APIs (section `backoffice`, env VOICEBOT_BACKOFFICE__<KEY>)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class BackofficeSettings(BaseModel):
    """Where the back-office is, how to authenticate, and how long the bot may wait for it on a call."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = Field("", description="Base URL of the back-office API ('' = no back-office: the dossier "
                          "status flow is off), e.g. http://127.0.0.1:8780")
    spec: str = Field("", description="OpenAPI description: '' = fetch <base_url>/openapi.json; or a path to a "
                      "committed JSON file (then the service's own description is not fetched).")
    status_operation: str = Field("getDossierStatus", description="operationId of the dossier status lookup.")
    auth: Literal["none", "api_key", "oauth2"] = Field("none", description="Authentication to the back-office.")
    api_key: str = Field("", description="API key (auth = api_key).")
    api_key_header: str = Field("X-API-Key", description="Header carrying the API key.")
    token_url: str = Field("", description="OAuth2 token endpoint (auth = oauth2, client credentials grant).")
    client_id: str = Field("", description="OAuth2 client id.")
    client_secret: str = Field("", description="OAuth2 client secret.")
    scope: str = Field("", description="OAuth2 scope requested ('' = none).")
    connect_timeout_s: float = Field(1.0, gt=0, le=30, description="TCP connect timeout.")
    timeout_s: float = Field(3.0, gt=0, le=60, description="Whole-request timeout (a caller is waiting).")
    retries: int = Field(1, ge=0, le=3, description="Extra tries of an idempotent GET after a network error, "
                         "a timeout or a 502/503/504 (never for other methods).")
    breaker_failures: int = Field(3, ge=1, description="Consecutive failures that open the circuit breaker.")
    breaker_reset_s: float = Field(30.0, gt=0, description="Seconds the breaker stays open before one trial.")
    max_response_bytes: int = Field(65_536, ge=1024, description="Larger responses are rejected as malformed.")
    number_prefixes: list[str] = Field(["IDF"], description="Letter prefixes of dossier numbers (the first is "
                                       "assumed when the caller gives digits only).")
    upload_hint: str = Field("depuis votre espace personnel sur le site de la Région",
                             description="How a caller sends a missing document (spoken after the list).")
    max_failures: int = Field(3, ge=1, le=10, description="Failed verifications before a human agent is offered.")
