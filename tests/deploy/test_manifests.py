"""deploy/ as the linters and validators see it, offline: the Containerfile is hadolint
clean; compose.yaml is valid under the Compose specification and wires what it says;
every Kubernetes manifest, rendered as kustomize would, is valid for Kubernetes with
unknown fields refused, and the pieces point at each other."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.manifests import KUBERNETES, named, rendered
from tests.deploy.running import ROOT

DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent


def tool(name: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / name), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# -- Containerfile ----------------------------------------------------------------------


def test_hadolint_finds_nothing_in_the_containerfile(tmp_path: Path) -> None:
    """hadolint passes deploy/Containerfile, and does flag a Containerfile with faults."""
    clean = tool("hadolint", DEPLOY / "Containerfile")
    assert (clean.returncode, clean.stdout + clean.stderr) == (0, "")
    faulty = tmp_path / "Containerfile"
    faulty.write_text("FROM debian\nRUN apt-get install curl\n")
    assert tool("hadolint", faulty).returncode != 0


# -- compose ----------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def test_compose_file_is_valid_under_the_compose_specification(tmp_path: Path) -> None:
    """check-jsonschema accepts compose.yaml and refuses it with a misspelt key."""
    ok = tool(
        "check-jsonschema", "--builtin-schema", "vendor.compose-spec", DEPLOY / "compose.yaml"
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    broken = compose()
    broken["services"]["scheduler"]["deploy"]["replica"] = 2
    (tmp_path / "compose.yaml").write_text(yaml.safe_dump(broken))
    bad = tool(
        "check-jsonschema", "--builtin-schema", "vendor.compose-spec", tmp_path / "compose.yaml"
    )
    assert bad.returncode != 0


def test_compose_runs_migration_first_two_schedulers_a_worker_and_secrets_by_file() -> None:
    """PostgreSQL, NATS with JetStream, the migration and role passwords before the
    replicas, two schedulers, a worker; every secret is a file under compose/secrets."""
    spec = compose()
    services = spec["services"]
    assert set(services) == {"postgres", "nats", "migrate", "roles", "scheduler", "worker"}
    assert "-js" in services["nats"]["command"]
    assert services["scheduler"]["deploy"]["replicas"] == 2
    for name in ("scheduler", "worker"):
        after = services[name]["depends_on"]
        assert after["migrate"]["condition"] == "service_completed_successfully"
        assert after["roles"]["condition"] == "service_completed_successfully"
        assert services[name]["command"][:2] == ["sh", "/etc/kairos/with-secrets.sh"]
    assert services["worker"]["command"][2:4] == ["kairos", "worker"]
    assert services["scheduler"]["command"][2:4] == ["kairos", "serve"]
    assert all(set(s) == {"file"} for s in spec["secrets"].values())
    assert all(s["file"].startswith("./compose/secrets/") for s in spec["secrets"].values())
    for service in services.values():
        assert set(service.get("secrets", [])) <= set(spec["secrets"])
        assert "PASSWORD=" not in str(service.get("environment", {}))


def test_the_compose_secret_files_become_kairos_settings(tmp_path: Path) -> None:
    """with-secrets.sh turns the mounted files into the owner's, the scheduler's and the
    API's database URLs and the Fernet key, then runs the command."""
    for name, value in {
        "postgres_password": "p0",
        "kairos_scheduler_password": "s1",
        "kairos_app_password": "a2",
        "kairos_secret_key": "k3",
    }.items():
        (tmp_path / name).write_text(value)
    env = {"PATH": os.environ["PATH"], "KAIROS_SECRETS_DIR": str(tmp_path)}
    script = DEPLOY / "compose" / "with-secrets.sh"
    out = subprocess.run(
        ["sh", str(script), "env"], capture_output=True, text=True, env=env, check=True
    ).stdout
    settings = dict(line.split("=", 1) for line in out.splitlines() if line.startswith("KAIROS_"))
    assert settings == {
        "KAIROS_SECRETS_DIR": str(tmp_path),
        "KAIROS_OWNER_DATABASE_URL": "postgresql://postgres:p0@postgres:5432/kairos",
        "KAIROS_DATABASE_URL": "postgresql://kairos_scheduler:s1@postgres:5432/kairos",
        "KAIROS_API_DATABASE_URL": "postgresql://kairos_app:a2@postgres:5432/kairos",
        "KAIROS_SECRET_KEY": "k3",
    }


# -- Kubernetes -------------------------------------------------------------------------


# What the ServiceMonitor uses of the Prometheus Operator's resource, unknown fields
# refused; kubernetes-validate has schemas for built-in kinds only.
SERVICE_MONITOR = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "namespace": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "matchLabels": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        }
                    },
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["port"],
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string", "pattern": "^/"},
                            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "scrapeTimeout": {
                                "type": "string",
                                "pattern": "^[0-9]+(ms|s|m|h)$",
                            },
                        },
                    },
                },
            },
        },
    },
}


def test_every_kubernetes_manifest_is_valid_with_unknown_fields_refused(tmp_path: Path) -> None:
    """kubernetes-validate --strict accepts every rendered document of every built-in
    kind (and the example Secret) and refuses a Deployment with a misspelt field; the
    ServiceMonitor matches the operator's fields it uses."""
    files = []
    monitors = []
    for name, documents in rendered().items():
        for i, document in enumerate(documents):
            if document["apiVersion"].startswith("monitoring.coreos.com/"):
                monitors.append(document)
                continue
            path = tmp_path / f"{name}-{i}-{document['kind']}.yaml"
            path.write_text(yaml.safe_dump(document))
            files.append(path)
    files.append(KUBERNETES / "secret.example.yaml")
    out = tool("kubernetes-validate", "--strict", *files)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Couldn't find schema" not in out.stdout + out.stderr
    assert out.stdout.count("INFO") == len(files)
    assert monitors
    for monitor in monitors:
        jsonschema.validate(monitor, SERVICE_MONITOR)
    deployment = named(rendered()["base"], "Deployment")["kairos-scheduler"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    (tmp_path / "misspelt.yaml").write_text(yaml.safe_dump(deployment))
    assert tool("kubernetes-validate", "--strict", tmp_path / "misspelt.yaml").returncode != 0
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            {**monitors[0], "spec": {"selector": {}, "endpoint": []}}, SERVICE_MONITOR
        )


def containers(documents: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for d in documents:
        if d["kind"] in {"Deployment", "Job"}:
            for c in d["spec"]["template"]["spec"]["containers"]:
                yield d["metadata"]["name"], c


def test_the_kubernetes_pieces_fit_together() -> None:
    """Two or more schedulers spread across nodes under a disruption budget, probed on
    /health/live and /health/ready; the Service, PDB, NetworkPolicies and ServiceMonitor
    select the pods they mean; every container has requests and runs as non-root; every
    secret key used is one the example Secret documents."""
    docs = rendered()
    base = docs["base"]
    scheduler = named(base, "Deployment")["kairos-scheduler"]
    pod = scheduler["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert scheduler["spec"]["replicas"] >= 2
    spread = pod["spec"]["topologySpreadConstraints"][0]
    assert (spread["topologyKey"], spread["whenUnsatisfiable"]) == (
        "kubernetes.io/hostname",
        "DoNotSchedule",
    )
    (container,) = pod["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert {e["name"] for e in container["env"]} >= {
        "KAIROS_DATABASE_URL",
        "KAIROS_API_DATABASE_URL",
    }

    def selects(selector: dict[str, str], pod_labels: dict[str, str]) -> bool:
        return selector.items() <= pod_labels.items()

    pdb = named(base, "PodDisruptionBudget")["kairos-scheduler"]
    assert selects(pdb["spec"]["selector"]["matchLabels"], labels)
    assert pdb["spec"]["minAvailable"] < scheduler["spec"]["replicas"]
    service = named(base, "Service")["kairos"]
    assert selects(service["spec"]["selector"], labels)
    (monitor,) = docs["monitoring"]
    assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    every_pod = [
        d["spec"]["template"]["metadata"]["labels"]
        for documents in docs.values()
        for d in documents
        if d["kind"] == "Deployment"
    ]
    policies = [d for documents in docs.values() for d in documents if d["kind"] == "NetworkPolicy"]
    for pod_labels in every_pod:
        assert any(selects(p["spec"]["podSelector"]["matchLabels"], pod_labels) for p in policies)
    job = named(docs["migrate"], "Job")["kairos-migrate"]
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert migrate["args"] == ["kairos", "migrate"]
    assert migrate["env"][0]["valueFrom"]["secretKeyRef"]["key"] == "KAIROS_OWNER_DATABASE_URL"
    tenant = named(docs["tenant-worker"], "Deployment")["kairos-worker-acme"]
    assert tenant["spec"]["template"]["metadata"]["labels"]["kairos.dev/tenant"] == "acme"
    example = yaml.safe_load((KUBERNETES / "secret.example.yaml").read_text())
    for documents in docs.values():
        for owner, c in containers(documents):
            assert c["resources"]["requests"], owner
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, owner
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["name"] == "kairos-secrets":
                    assert ref["key"] in example["stringData"], (owner, ref)
    for documents in docs.values():
        for d in documents:
            if d["kind"] in {"Deployment", "Job"}:
                assert d["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
