"""Render the Kubernetes manifests (overlay cpu-only) for one host: one file for `podman kube play`.

The same images, settings and security contexts as on a cluster; what a single host does not have is
replaced, and nothing else:
- every pod on the host network (no Services, no cluster DNS): components reach each other at
  ``--host`` on fixed ports; the Deployment ``voicebot`` becomes N pods ``voicebot-1..N`` with their
  own HTTP, SIP and RTP ports; kamailio gets the static worker list instead of DNS discovery;
- the StatefulSet ``postgres`` becomes a Deployment whose data is the podman volume
  ``voicebot-postgres-data`` (created on first play, kept by ``podman kube down``); each pod's emptyDir
  becomes a volume named after the pod (podman 4.3 shares same-named emptyDirs between pods);
- Secrets: podman 4.3 cannot read Kubernetes Secret objects, so the values (from ``--secrets``, an env
  file written with random values on first use, mode 0600) are written into the rendered file, which is
  written mode 0600 too;
- Services, HPA, PDB and NetworkPolicies are dropped (podman ignores them), probes too (podman would
  run them with tools the images do not have), and resource limits (cgroupfs on this kind of host).

    python deploy/podman/render.py --workers 2 --out kube.yaml [--secrets voicebot.env] [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import copy
import os
import secrets as pysecrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "deploy" / "kubernetes" / "overlays" / "cpu-only"
SECRET_KEYS = ("redis-password", "postgres-password", "webhook-secret")
KEEP = {"Deployment", "StatefulSet", "ConfigMap"}


@dataclass
class Ports:
    kamailio: int = 5060
    redis: int = 6379
    postgres: int = 5432
    http: int = 8765  # worker i: http + i - 1
    sip: int = 5081  # worker i: sip + i - 1
    rtp: int = 40000  # worker i: rtp + 200 * (i - 1) .. + 199


def render_overlay(overlay: Path = OVERLAY) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        sys.exit("render.py: kubectl is needed to render the Kustomize overlay (deploy/setup.sh installs it)")
    out = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True, check=True)
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def load_secrets(path: Path) -> dict[str, str]:
    """KEY=value lines; created with random values (0600) when the file does not exist."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.writelines(f"{k}={pysecrets.token_urlsafe(24)}\n" for k in SECRET_KEYS)
    values = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line
                  and not line.startswith("#"))
    missing = [k for k in SECRET_KEYS if k not in values]
    if missing:
        sys.exit(f"render.py: {path} lacks {', '.join(missing)}")
    return values


def _private_volumes(pod: dict, owner: str) -> None:
    """podman 4.3 makes an emptyDir a named volume of the same name, shared by every pod that uses that
    name: prefix each with its pod so that no two pods share /tmp or a data directory."""
    renamed = {}
    for v in pod.get("volumes", []):
        if "emptyDir" in v:
            renamed[v["name"]] = v["name"] = f"{owner}-{v['name']}"
    for c in pod["containers"]:
        for m in c.get("volumeMounts", []):
            m["name"] = renamed.get(m["name"], m["name"])


def _single_host(pod: dict) -> None:
    pod["hostNetwork"] = True
    for key in ("dnsPolicy", "nodeSelector", "affinity", "topologySpreadConstraints", "serviceAccountName",
                "automountServiceAccountToken", "tolerations"):
        pod.pop(key, None)
    for c in pod["containers"]:
        c["imagePullPolicy"] = "IfNotPresent"
        for key in ("readinessProbe", "livenessProbe", "startupProbe", "resources"):
            c.pop(key, None)
        c.pop("ports", None)  # host network: podman refuses port mappings


def _set_env(container: dict, values: dict[str, str], secret_values: dict[str, str]) -> None:
    """Resolve secretKeyRef/fieldRef/$(VAR) to literals, then apply ``values`` (added or replaced)."""
    resolved: dict[str, str] = {}
    out = []
    for e in container.get("env", []):
        name = e["name"]
        if "valueFrom" in e:
            ref = e["valueFrom"]
            if "secretKeyRef" in ref:
                value = secret_values[ref["secretKeyRef"]["key"]]
            else:
                value = values.get(name, "")
        else:
            value = str(e.get("value", ""))
            for k, v in resolved.items():
                value = value.replace(f"$({k})", v)
        value = values.get(name, value)
        resolved[name] = value
        out.append({"name": name, "value": value})
    known = {e["name"] for e in out}
    out += [{"name": k, "value": v} for k, v in values.items() if k not in known]
    container["env"] = out


def render(workers: int, host: str, ports: Ports, secret_values: dict[str, str],
           docs: list[dict] | None = None) -> list[dict]:
    docs = docs if docs is not None else render_overlay()
    kept = [d for d in docs if d["kind"] in KEEP]
    out: list[dict] = []
    for d in kept:
        name = d["metadata"]["name"]
        if d["kind"] == "ConfigMap":
            out.append(d)
            continue
        pod = d["spec"]["template"]["spec"]
        _single_host(pod)
        if name == "voicebot":
            out += [_worker(d, i, host, ports, secret_values) for i in range(1, workers + 1)]
            continue
        _private_volumes(pod, f"voicebot-{name}")
        if name == "kamailio":
            listed = " ".join(f"{host}:{ports.sip + i - 1}" for i in range(1, workers + 1))
            _set_env(pod["containers"][0], {"KAMAILIO_LISTEN": host, "KAMAILIO_PORT": str(ports.kamailio),
                                            "VOICEBOT_WORKERS": listed, "VOICEBOT_WORKERS_DNS": ""}, secret_values)
            d["spec"]["replicas"] = 1
            out.append(d)
        elif name == "redis":
            c = pod["containers"][0]
            c["args"] = [c["args"][0].replace("--port 6379", f"--port {ports.redis} --bind {host}")]
            _set_env(c, {}, secret_values)
            out.append(d)
        elif name == "postgres":
            out += _postgres(d, host, ports, secret_values)
    return out


def prefixed(docs: list[dict], prefix: str) -> list[dict]:
    """Every object, ConfigMap reference and volume name prefixed (several plays on one host)."""
    if not prefix:
        return docs
    for d in docs:
        d["metadata"]["name"] = prefix + d["metadata"]["name"]
        if d["kind"] != "Deployment":
            continue
        pod = d["spec"]["template"]["spec"]
        renamed = {}
        for v in pod.get("volumes", []):
            if "configMap" in v:
                v["configMap"]["name"] = prefix + v["configMap"]["name"]
            elif "persistentVolumeClaim" in v:
                v["persistentVolumeClaim"]["claimName"] = prefix + v["persistentVolumeClaim"]["claimName"]
            else:
                renamed[v["name"]] = v["name"] = prefix + v["name"]
        for c in pod["containers"]:
            for m in c.get("volumeMounts", []):
                m["name"] = renamed.get(m["name"], m["name"])
    return docs


def _worker(template: dict, i: int, host: str, ports: Ports, secret_values: dict[str, str]) -> dict:
    d = copy.deepcopy(template)
    name = f"voicebot-{i}"
    d["metadata"]["name"] = name
    d["spec"]["replicas"] = 1
    for labels in (d["spec"]["selector"]["matchLabels"], d["spec"]["template"]["metadata"]["labels"]):
        labels["app.kubernetes.io/instance"] = name
    _private_volumes(d["spec"]["template"]["spec"], name)
    c = d["spec"]["template"]["spec"]["containers"][0]
    rtp = ports.rtp + 200 * (i - 1)
    _set_env(c, {
        "POD_NAME": name, "POD_IP": host,
        "VOICEBOT_SERVER__WORKER_ID": name,
        "VOICEBOT_SERVER__HTTP_HOST": host, "VOICEBOT_SERVER__HTTP_PORT": str(ports.http + i - 1),
        "VOICEBOT_SIP__HOST": host, "VOICEBOT_SIP__PUBLIC_HOST": host, "VOICEBOT_SIP__PORT": str(ports.sip + i - 1),
        "VOICEBOT_SIP__RTP_PORT_MIN": str(rtp), "VOICEBOT_SIP__RTP_PORT_MAX": str(rtp + 199),
        "VOICEBOT_SIP__ALLOWED_CIDRS": f'["{host}/32"]',
        "VOICEBOT_CALLS__REDIS_URL": f"redis://:{secret_values['redis-password']}@{host}:{ports.redis}/0",
        "VOICEBOT_CALLS__STORE_URL": (f"postgresql+psycopg://voicebot:{secret_values['postgres-password']}"
                                      f"@{host}:{ports.postgres}/voicebot"),
    }, secret_values)
    return d


def _postgres(d: dict, host: str, ports: Ports, secret_values: dict[str, str]) -> list[dict]:
    claim = d["spec"]["volumeClaimTemplates"][0]
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": d["metadata"],
           "spec": {"replicas": 1, "selector": d["spec"]["selector"], "template": d["spec"]["template"]}}
    pod = dep["spec"]["template"]["spec"]
    pod["volumes"] = pod.get("volumes", []) + [
        {"name": claim["metadata"]["name"], "persistentVolumeClaim": {"claimName": "voicebot-postgres-data"}}]
    _set_env(pod["containers"][0], {"POSTGRES_LISTEN": host, "POSTGRES_PORT": str(ports.postgres)}, secret_values)
    return [dep]  # the claim becomes a podman volume of that name, created on first play, kept after


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--host", default="127.0.0.1", help="address every component listens on")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--secrets", type=Path, default=ROOT / "deploy" / "podman" / "voicebot.env")
    ap.add_argument("--prefix", default="", help="prefix of every pod, ConfigMap and volume name")
    for field, default in Ports().__dict__.items():
        ap.add_argument(f"--{field}-port", type=int, default=default, dest=f"port_{field}")
    a = ap.parse_args(argv)
    ports = Ports(**{k: getattr(a, f"port_{k}") for k in Ports().__dict__})
    docs = prefixed(render(a.workers, a.host, ports, load_secrets(a.secrets)), a.prefix)
    fd = os.open(a.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump_all(docs, f, sort_keys=False)
    print(f"render.py: {a.out}: {len(docs)} objects, {a.workers} worker(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
