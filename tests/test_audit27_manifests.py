"""The scale-out files of issue 7 keep what they promise: compose runs PostgreSQL, Redis, API,
worker and scheduler with health checks; the Kubernetes Deployments of the API, the worker and
the scheduler have probes and resources; the API and the worker have HPAs; no secret value is
written into any of them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "infra" / "k8s"


def _docs() -> list[dict]:
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    out: list[dict] = []
    for name in kust["resources"]:
        out += [d for d in yaml.safe_load_all((K8S / name).read_text(encoding="utf-8")) if d]
    return out


def _deployment(name: str) -> dict:
    found = [d for d in _docs() if d["kind"] == "Deployment" and d["metadata"]["name"] == name]
    assert len(found) == 1, name
    return found[0]


@pytest.mark.parametrize("name", ["ducha-api", "ducha-worker", "ducha-scheduler"])
def test_every_deployment_has_probes_and_resources(name):
    for c in _deployment(name)["spec"]["template"]["spec"]["containers"]:
        assert c.get("readinessProbe") and c.get("livenessProbe"), name
        res = c["resources"]
        assert res["requests"]["cpu"] and res["requests"]["memory"] and res["limits"]["memory"], name


def test_api_probes_split_liveness_from_readiness():
    c = _deployment("ducha-api")["spec"]["template"]["spec"]["containers"][0]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"  # an outage of PostgreSQL must not restart pods
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"


@pytest.mark.parametrize("name", ["ducha-api", "ducha-worker"])
def test_api_and_worker_scale_with_an_hpa(name):
    hpas = [d for d in _docs() if d["kind"] == "HorizontalPodAutoscaler" and d["spec"]["scaleTargetRef"]["name"] == name]
    assert len(hpas) == 1 and hpas[0]["spec"]["maxReplicas"] > hpas[0]["spec"]["minReplicas"] >= 1


def test_secrets_come_from_the_secret_object_only():
    cm = next(d for d in _docs() if d["kind"] == "ConfigMap")
    assert not {k for k in cm["data"] if any(w in k for w in ("SECRET", "PASSWORD", "DATABASE_URL", "REDIS_URL"))}
    for d in _docs():
        if d["kind"] != "Deployment":
            continue
        for c in d["spec"]["template"]["spec"]["containers"]:
            for e in c.get("env", []):
                if any(w in e["name"] for w in ("SECRET", "PASSWORD", "DATABASE_URL", "REDIS_URL", "KEY")):
                    assert "valueFrom" in e and "value" not in e, (d["metadata"]["name"], e["name"])


def test_compose_runs_the_whole_stack_with_health_checks():
    compose = yaml.safe_load((ROOT / "infra" / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"postgres", "redis", "api", "worker", "scheduler"} <= set(services)
    for name in ("postgres", "redis", "api", "worker", "scheduler"):
        assert services[name].get("healthcheck"), name
    text = (ROOT / "infra" / "compose.yaml").read_text(encoding="utf-8")
    assert "PASSWORD:?" in text  # passwords must come from the environment


def test_no_private_key_or_credential_is_committed():
    import re
    import subprocess

    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    patterns = [re.compile(p) for p in (r"-----BEGIN (RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----", r"AKIA[0-9A-Z]{16}",
                                        r"[a-z+]+://[^/\s:@'\"$]+:[^@/\s'\"$]{3,}@")]
    hits = []
    for name in files:
        path = ROOT / name
        if not path.is_file() or path.suffix in (".png", ".jpg", ".docx", ".xlsx", ".pdf") or path.stat().st_size > 2_000_000:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        hits += [f"{name}: {p.pattern}" for p in patterns if p.search(text)]
    assert hits == []
    assert not [n for n in files if n.endswith((".env", ".pem", ".key")) or "id_rsa" in n]
