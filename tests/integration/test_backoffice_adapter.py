"""The OpenAPI-driven adapter against the real sample back-office, started as its own process."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from backoffice_support import SampleBackoffice, free_port
from voicebot.backoffice.client import BackofficeClient, dossier_status
from voicebot.backoffice.models import (BackofficeAuthError, BackofficeMalformed, BackofficeTimeout,
                                        BackofficeUnavailable)
from voicebot.backoffice.sample import create_app
from voicebot.backoffice.settings import BackofficeSettings

SPEC_FILE = Path(__file__).resolve().parents[2] / "voicebot" / "backoffice" / "sample-openapi.json"


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    with SampleBackoffice(tmp_path_factory.mktemp("bo")) as s:
        yield s


def client(url: str, **kw) -> BackofficeClient:
    # A generous timeout: the tests share a loaded machine (the slow-service test sets its own).
    return BackofficeClient(BackofficeSettings(base_url=url, **{"timeout_s": 10.0, **kw}))


async def test_verified_lookups_return_typed_statuses(sample):
    c = client(sample.url)
    s = await dossier_status(c, "IDF-2025-000123", "93200")
    assert (s.scheme, s.status, s.missing_documents) == ("aide au permis de conduire", "en cours d'instruction",
                                                         ("justificatif de domicile",))
    s = await dossier_status(c, "IDF-2025-000456", "75011")
    assert (s.status, s.amount_paid, s.paid_on.isoformat()) == ("payé", 1500.0, "2025-10-14")


async def test_wrong_postcode_and_unknown_number_are_indistinguishable(sample):
    c = client(sample.url)
    assert await dossier_status(c, "IDF-2025-000123", "75011") is None
    assert await dossier_status(c, "IDF-2025-999999", "93200") is None
    wrong = httpx.get(sample.url + "/v1/dossiers/IDF-2025-000123/status", headers={"X-Verification-Postcode": "75011"})
    unknown = httpx.get(sample.url + "/v1/dossiers/IDF-2025-999999/status",
                        headers={"X-Verification-Postcode": "93200"})
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.content == unknown.content and "123" not in wrong.text
    missing = httpx.get(sample.url + "/v1/dossiers/IDF-2025-000123/status")
    assert missing.status_code == 422 and "instruction" not in missing.text


async def test_arguments_are_checked_against_the_description_before_sending(sample):
    c = client(sample.url)
    before = sample.stats()["status_requests"]
    for number, postcode in [("../../sample/stats", "93200"), ("IDF-2025-000123", "93200\r\nX-A: b"),
                             ("IDF-2025-000123", "9320")]:
        with pytest.raises(ValueError):
            await dossier_status(c, number, postcode)
    assert sample.stats()["status_requests"] == before


def test_committed_description_is_the_sample_service_own(sample, tmp_path):
    served = httpx.get(sample.url + "/openapi.json").json()
    assert served == json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    assert served == create_app(tmp_path / "x.sqlite3").openapi()
    op = served["paths"]["/v1/dossiers/{number}/status"]["get"]
    assert op["operationId"] == "getDossierStatus"
    assert {p["in"] for p in op["parameters"]} == {"path", "header"}  # the postcode never goes in the URL


async def test_committed_description_drives_the_adapter_without_fetching(sample):
    c = client(sample.url, spec=str(SPEC_FILE))
    assert (await dossier_status(c, "IDF-2025-000123", "93200")).status == "en cours d'instruction"
    tool = await c.tool_schema()
    assert tool["function"]["name"] == "getDossierStatus"
    assert set(tool["function"]["parameters"]["properties"]) == {"number", "verification_postcode"}


async def test_api_key(tmp_path):
    with SampleBackoffice(tmp_path, env={"BACKOFFICE_SAMPLE_API_KEY": "s3cret-key"}) as s:
        with pytest.raises(BackofficeAuthError):
            await dossier_status(client(s.url), "IDF-2025-000123", "93200")
        with pytest.raises(BackofficeAuthError):
            await dossier_status(client(s.url, auth="api_key", api_key="wrong"), "IDF-2025-000123", "93200")
        ok = client(s.url, auth="api_key", api_key="s3cret-key")
        assert (await dossier_status(ok, "IDF-2025-000123", "93200")).scheme == "aide au permis de conduire"


async def test_oauth2_client_credentials_token_is_cached_and_renewed(tmp_path):
    env = {"BACKOFFICE_SAMPLE_CLIENT_SECRET": "client-secret"}
    with SampleBackoffice(tmp_path, args=["--client-id", "voicebot", "--token-ttl", "600"], env=env) as s:
        oauth = dict(auth="oauth2", token_url=s.url + "/oauth/token", client_id="voicebot")
        with pytest.raises(BackofficeAuthError):
            await dossier_status(client(s.url, **oauth, client_secret="bad"), "IDF-2025-000123", "93200")
        c = client(s.url, **oauth, client_secret="client-secret")
        for _ in range(3):
            assert (await dossier_status(c, "IDF-2025-000456", "75011")).status == "payé"
        assert c.tokens_fetched == 1 and s.stats()["tokens_issued"] == 1
    # The service restarts and forgets its tokens: the cached one is refused once, a new one is fetched.
    with SampleBackoffice(tmp_path, args=["--client-id", "voicebot"], env=env, port=s.port) as s2:
        assert (await dossier_status(c, "IDF-2025-000456", "75011")).status == "payé"
        assert c.tokens_fetched == 2 and s2.stats()["tokens_issued"] == 1


@pytest.mark.parametrize("fault", ["malformed", "other-dossier", "not-json", "huge"])
async def test_malformed_answers_are_typed_errors(tmp_path, fault):
    with SampleBackoffice(tmp_path, args=["--fault", fault]) as s:
        with pytest.raises(BackofficeMalformed):
            await dossier_status(client(s.url), "IDF-2025-000123", "93200")


async def test_slow_back_office_times_out_without_retry(tmp_path):
    with SampleBackoffice(tmp_path, args=["--delay-ms", "8000"]) as s:
        c = client(s.url, timeout_s=1.0, retries=2)
        await c.operation("getDossierStatus")  # the description itself is served at once
        with pytest.raises(BackofficeTimeout):
            await dossier_status(c, "IDF-2025-000123", "93200")
        # Every try the client made is sent by now; on a loaded machine the server may see it late.
        for _ in range(100):
            if s.stats()["status_requests"]:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        assert s.stats()["status_requests"] == 1  # a timed-out request is not sent again


async def test_server_errors_are_retried_for_gets_then_open_the_breaker(tmp_path):
    with SampleBackoffice(tmp_path, args=["--fault", "error"]) as s:
        c = client(s.url, retries=2, breaker_failures=2, breaker_reset_s=600)
        for _ in range(2):
            with pytest.raises(BackofficeUnavailable):
                await dossier_status(c, "IDF-2025-000123", "93200")
        assert s.stats()["status_requests"] == 6  # each lookup: one try + two retries (idempotent GET)
        with pytest.raises(BackofficeUnavailable, match="circuit breaker open"):
            await dossier_status(c, "IDF-2025-000123", "93200")
        assert s.stats()["status_requests"] == 6  # open breaker: nothing sent


async def test_back_office_down(tmp_path):
    c = client(f"http://127.0.0.1:{free_port()}", retries=1)
    with pytest.raises(BackofficeUnavailable):
        await dossier_status(c, "IDF-2025-000123", "93200")
    with SampleBackoffice(tmp_path) as s:
        c = client(s.url)
        assert await dossier_status(c, "IDF-2025-000123", "93200") is not None
    with pytest.raises(BackofficeUnavailable):  # the process is stopped now
        await dossier_status(c, "IDF-2025-000123", "93200")


def test_sample_cli_rejects_bad_options():
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "voicebot", "backoffice", "sample", "--fault", "boom"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "--fault" in out.stderr
    env = {k: v for k, v in os.environ.items() if k != "BACKOFFICE_SAMPLE_CLIENT_SECRET"}
    out = subprocess.run([sys.executable, "-m", "voicebot", "backoffice", "sample", "--client-id", "x"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 2 and "BACKOFFICE_SAMPLE_CLIENT_SECRET" in out.stderr
