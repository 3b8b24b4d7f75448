"""The Kubernetes manifests (deploy/kubernetes): every overlay renders with Kustomize, passes
`kubernetes-validate --strict` for Kubernetes 1.30 and the checkov security scan (skips justified in
deploy/kubernetes/.checkov.yaml), and holds the properties the deployment relies on."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from voicebot.calls import metrics as call_metrics
from voicebot.models import load_manifest

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
OVERLAYS = ["cpu-only", "gpu"]
TOOLS = ROOT / ".venv-tools" / "bin"  # checkov and kubernetes-validate, installed by deploy/setup.sh


def tool(name: str) -> str:
    found = TOOLS / name if (TOOLS / name).exists() else shutil.which(name)
    assert found, f"{name} is not installed: run deploy/setup.sh"
    return str(found)


def render(overlay: str) -> str:
    out = subprocess.run([tool("kubectl"), "kustomize", str(K8S / "overlays" / overlay)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request, tmp_path_factory) -> tuple[str, Path, list[dict]]:
    text = render(request.param)
    path = tmp_path_factory.mktemp("k8s") / f"{request.param}.yaml"
    path.write_text(text)
    return request.param, path, [d for d in yaml.safe_load_all(text) if d]


def by_kind(docs: list[dict], kind: str, name: str) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def pod_spec(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]


def test_kubernetes_validate_strict_1_30(rendered):
    _, path, _ = rendered
    res = subprocess.run([tool("kubernetes-validate"), "--strict", "-k", "1.30.0", "--quiet", str(path)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


def test_kubernetes_validate_rejects_an_unknown_field(tmp_path):
    """The validator really checks: a misspelt field fails it (so the test above can fail)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(render("cpu-only").replace("terminationGracePeriodSeconds:", "terminationGracePeriodSecond:", 1))
    res = subprocess.run([tool("kubernetes-validate"), "--strict", "-k", "1.30.0", "--quiet", str(bad)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode != 0


def test_checkov_passes_with_only_the_justified_skips(rendered):
    _, path, _ = rendered
    config = K8S / ".checkov.yaml"
    skipped = yaml.safe_load(config.read_text())["skip-check"]
    lines = [line.strip() for line in config.read_text().splitlines()]
    for rule in skipped:  # every skip (or group of skips) has its reason in a comment just above it
        i = lines.index(f"- {rule}")
        while lines[i - 1].startswith("- CKV"):
            i -= 1
        assert lines[i - 1].startswith("#") and len(lines[i - 1]) > 20, f"{rule} is skipped without a reason"
    env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false")
    res = subprocess.run([tool("checkov"), "-f", str(path), "--config-file", str(config)],
                         capture_output=True, text=True, timeout=600, env=env, cwd=str(path.parent))
    assert res.returncode == 0, res.stdout[-4000:]
    assert re.search(r"Failed checks: 0\b", res.stdout), res.stdout[-2000:]


def test_every_container_is_non_root_read_only_and_bounded(rendered):
    _, _, docs = rendered
    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
    assert {d["metadata"]["name"] for d in workloads} >= {"voicebot", "kamailio", "redis", "postgres"}
    for d in workloads:
        spec = pod_spec(d)
        assert spec["securityContext"]["runAsNonRoot"] is True, d["metadata"]["name"]
        assert spec["automountServiceAccountToken"] is False
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, c["name"]
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["limits"]["memory"] and c["resources"]["requests"]["cpu"]
            assert c.get("readinessProbe") and c.get("livenessProbe"), c["name"]
    for d in docs:  # kamailio alone in the privileged edge namespace; everything else under "restricted"
        if d["kind"] == "Namespace":
            enforce = d["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
            assert enforce == ("privileged" if d["metadata"]["name"] == "voicebot-edge" else "restricted")
        elif d["metadata"]["name"] == "kamailio":
            assert d["metadata"]["namespace"] == "voicebot-edge"
        else:
            assert d["metadata"]["namespace"] == "voicebot", d["metadata"]["name"]
    edge = [d for d in workloads if d["metadata"]["namespace"] == "voicebot-edge"]
    assert [d["metadata"]["name"] for d in edge] == ["kamailio"]
    assert not [d for d in workloads if pod_spec(d).get("hostNetwork") and d not in edge]


def test_workers_drain_before_they_are_killed(rendered):
    _, _, docs = rendered
    dep = by_kind(docs, "Deployment", "voicebot")
    spec = pod_spec(dep)
    c = spec["containers"][0]
    config = tomllib.loads((K8S / "base" / "core" / "voicebot.toml").read_text())
    drain = config["server"]["drain_timeout_s"]
    assert drain >= config["pipeline"]["max_call_s"]  # any call in progress may finish
    assert spec["terminationGracePeriodSeconds"] > drain  # and the kubelet waits for the drain
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    annotations = dep["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"
    env = {e["name"]: e for e in c["env"]}
    assert env["VOICEBOT_SERVER__WORKER_ID"]["value"] == "$(POD_NAME)"  # distinct worker ids in the store


def test_autoscaler_uses_a_metric_the_worker_exports(rendered):
    _, _, docs = rendered
    hpa = by_kind(docs, "HorizontalPodAutoscaler", "voicebot")
    name = hpa["spec"]["metrics"][0]["pods"]["metric"]["name"]
    assert name == call_metrics.ACTIVE_CALLS._name  # voicebot_active_calls
    adapter = yaml.safe_load((K8S / "monitoring" / "prometheus-adapter.yaml").read_text())
    assert adapter["rules"][0]["name"]["as"] == name
    assert by_kind(docs, "PodDisruptionBudget", "voicebot")["spec"]["maxUnavailable"] == 1


def test_no_secret_value_outside_secrets(rendered):
    _, _, docs = rendered
    assert not [d for d in docs if d["kind"] == "Secret"]  # created from deploy/kubernetes/secrets only
    for d in docs:
        if d["kind"] == "ConfigMap":
            for key, value in (d.get("data") or {}).items():
                assert not re.search(r"(password|secret|api_key)\s*=\s*\"[^\"]+", value, re.I), key
    refs = set(_secret_keys(docs))
    example = (K8S / "secrets" / "voicebot.env.example").read_text()
    keys = {line.split("=")[0] for line in example.splitlines() if "=" in line and not line.startswith("#")}
    assert refs and refs <= keys  # every key read is in the example (without a real value)


def _secret_keys(node):
    if isinstance(node, dict):
        ref = node.get("secretKeyRef")
        if ref:
            assert ref["name"] == "voicebot-secrets"
            yield ref["key"]
        for value in node.values():
            yield from _secret_keys(value)
    elif isinstance(node, list):
        for value in node:
            yield from _secret_keys(value)


def test_egress_is_denied_by_default(rendered):
    _, _, docs = rendered
    deny = by_kind(docs, "NetworkPolicy", "default-deny-all")
    assert deny["spec"]["podSelector"] == {} and set(deny["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    assert "egress" not in deny["spec"]
    for d in docs:  # no policy opens egress to the whole internet
        if d["kind"] == "NetworkPolicy":
            for rule in d["spec"].get("egress", []):
                for peer in rule.get("to", []):
                    assert peer.get("ipBlock", {}).get("cidr") != "0.0.0.0/0", d["metadata"]["name"]


def test_gpu_overlay_serves_the_production_llm_with_prefix_caching():
    docs = [d for d in yaml.safe_load_all(render("gpu")) if d]
    vllm = by_kind(docs, "Deployment", "vllm")
    c = pod_spec(vllm)["containers"][0]
    model = load_manifest()["llm"]["production"]["repo"]
    assert f"--model={model}" in c["args"] and "--enable-prefix-caching" in c["args"]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert c["startupProbe"]["httpGet"]["path"] == "/health"
    assert by_kind(docs, "PersistentVolumeClaim", "vllm-weights")
    worker = pod_spec(by_kind(docs, "Deployment", "voicebot"))["containers"][0]
    env = {e["name"]: e.get("value") for e in worker["env"]}
    assert env["VOICEBOT_STT__DEVICE"] == "cuda" and env["VOICEBOT_LLM__BASE_URL"] == "http://vllm:8000/v1"
    assert worker["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert worker["image"].endswith(":gpu")
    cpu_docs = [d for d in yaml.safe_load_all(render("cpu-only")) if d]
    assert not [d for d in cpu_docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "vllm"]


def test_grafana_dashboard_is_the_repository_json(rendered):
    _, _, docs = rendered
    cm = by_kind(docs, "ConfigMap", "voicebot-grafana-dashboard")
    assert cm["data"]["voicebot-calls.json"] == (ROOT / "deploy" / "grafana" / "voicebot-calls.json").read_text()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
