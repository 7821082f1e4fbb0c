"""The container image (deploy/Containerfile) as an operator runs it, built and run with
podman here (no registry: a local Debian base, scripts/ensure-podman): the version, a
migration, a serving replica that is healthy and drains on ``podman stop``, a worker;
as a non-root user, with tini as PID 1; and the Kubernetes scheduler Deployment played
by ``podman kube play``. The image is removed afterwards."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet

from adapters.auth.tokens import DevKeys
from adapters.embedded.nats import EmbeddedNats
from adapters.embedded.ports import free_port
from service._version import __version__
from tests.deploy.manifests import KUBERNETES, named, render
from tests.deploy.running import ROOT, api_url, auth_settings, running, wait_ready
from tests.servers import app_dsn

pytestmark = pytest.mark.image
CACERT = Path("/etc/ssl/certs/ca-certificates.crt")
ENV = {**os.environ, "CONTAINERS_CONF": str(ROOT / "deploy" / "podman" / "containers.conf")}


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, env=ENV, check=False
    )


def ok(*args: str, timeout: float = 120) -> str:
    out = podman(*args, timeout=timeout)
    assert out.returncode == 0, f"podman {args[0]}: {out.stdout}\n{out.stderr}"
    return out.stdout


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    """The image built from this checkout under a tag of its own, without layer cache
    (nothing left behind but the base), removed at the end."""
    base = subprocess.run(
        [str(ROOT / "scripts" / "ensure-podman")],
        capture_output=True,
        text=True,
        timeout=900,
        env=ENV,
        check=True,
    ).stdout.strip()
    tag = f"localhost/kairos-test:{uuid.uuid4().hex[:12]}"
    build = ["build", "--layers=false", "--format", "docker", "--network", "host"]
    if CACERT.exists():
        build += ["--secret", f"id=cacert,src={CACERT}"]
    build += ["--build-arg", f"BASE={base}", "-t", tag, "-f", "deploy/Containerfile", str(ROOT)]
    try:
        ok(*build, timeout=900)
        yield tag
    finally:
        podman("rmi", "--force", tag)


def run(image: str, *argv: str, options: tuple[str, ...] = ()) -> list[str]:
    """``podman run`` of the image on the host's network (the test servers are on
    127.0.0.1), as a list."""
    return ["podman", "run", "--rm", "--network", "host", *options, image, *argv]


def test_the_image_runs_as_a_non_root_user_under_tini(image: str) -> None:
    """``kairos --version`` answers; the process is not root; PID 1 is tini, with the
    default command under it."""
    version = ok("run", "--rm", image, "kairos", "--version").splitlines()
    assert version[0] == f"kairos {__version__}"
    probe = "import os; print(os.getuid(), open('/proc/1/cmdline').read().split(chr(0))[0])"
    assert ok("run", "--rm", image, "python3", "-c", probe).split() == ["10001", "/usr/bin/tini"]
    config = ok("image", "inspect", image, "--format", "{{.Config.Entrypoint}} {{.Config.Cmd}}")
    assert config.strip() == "[/usr/bin/tini --] [kairos serve --api-host 0.0.0.0]"


def test_the_image_migrates_serves_and_works(
    image: str, empty_database: str, nats_server: EmbeddedNats
) -> None:
    """From the image: every migration applied; a replica that reports healthy (its own
    HEALTHCHECK and /health/ready) and exits 0 on ``podman stop``; a worker likewise;
    both on a read-only root filesystem."""
    migrated = ok(*run(image, "kairos", "migrate", "--database-url", empty_database)[1:])
    shipped = sorted(int(f.name[:4]) for f in (ROOT / "migrations").glob("[0-9]*.sql"))
    assert migrated.strip() == f"applied {len(shipped)} migration(s): {shipped}"
    folder = Path(tempfile.mkdtemp(prefix="kairos-image-"))
    try:
        keys = DevKeys(folder / "auth").ensure()
        folder.chmod(0o755)
        (folder / "auth").chmod(0o755)
        scheduler = app_dsn(empty_database, "kairos_scheduler")
        port = free_port()
        name = f"kairos-serve-{uuid.uuid4().hex[:8]}"
        settings = {
            **auth_settings(keys, "/run/kairos/jwks.json"),
            "KAIROS_HEALTHCHECK_URL": f"http://127.0.0.1:{port}/health/live",
        }
        # Read-only root and a /tmp of its own, as the Kubernetes manifests run it.
        readonly = ["--read-only", "--tmpfs", "/tmp"]
        options = [*readonly, "--name", name, "-v", f"{keys.jwks_file}:/run/kairos/jwks.json:ro"]
        options += [f"--env={k}={v}" for k, v in settings.items()]
        serve = ["kairos", "serve", "--database-url", scheduler, "--nats-url", nats_server.url]
        serve += ["--api-host", "127.0.0.1", "--api-port", str(port), "--workers", "0"]
        stop = ["podman", "stop", "--time", "30", name]
        with running(
            run(image, *serve, options=tuple(options)), env=ENV, cwd=folder, stop=stop
        ) as up:
            checks = wait_ready(api_url(up))
            assert checks["migrations"]["ok"] is True
            assert ok("healthcheck", "run", name).strip() in {"", "healthy"}
        name = f"kairos-worker-{uuid.uuid4().hex[:8]}"
        worker = ["kairos", "worker", "--database-url", scheduler, "--nats-url", nats_server.url]
        stop = ["podman", "stop", "--time", "30", name]
        argv = run(
            image,
            *worker,
            "--name",
            "boxed",
            options=(*readonly, "--name", name, "--no-healthcheck"),
        )
        with running(argv, env=ENV, cwd=folder, stop=stop) as up:
            assert up.startswith("worker boxed (")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_kubernetes_scheduler_comes_up_under_podman_kube_play(
    image: str, database: str, nats_server: EmbeddedNats, tmp_path: Path
) -> None:
    """The base's ConfigMap and scheduler Deployment, with a Secret of the keys
    secret.example.yaml names, played by podman: the pod serves /health/ready as the
    manifest's user, on a read-only root. (The servers' addresses, the image and the port
    change, and one pod on the host's network stands for the replicas.)"""
    documents = list(render(KUBERNETES / "base"))
    config = named(documents, "ConfigMap")["kairos-config"]
    config["data"]["KAIROS_NATS_URL"] = nats_server.url
    secret = yaml.safe_load((KUBERNETES / "secret.example.yaml").read_text())
    values = {
        "KAIROS_DATABASE_URL": app_dsn(database, "kairos_scheduler"),
        "KAIROS_API_DATABASE_URL": app_dsn(database),
        "KAIROS_OWNER_DATABASE_URL": database,
        "KAIROS_SECRET_KEY": Fernet.generate_key().decode(),
    }
    assert set(secret["stringData"]) == set(values)
    deployment = named(documents, "Deployment")["kairos-scheduler"]
    port = free_port()
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    container["image"] = image
    container["args"] = [str(port) if a == "8080" else a for a in container["args"]]
    # The test servers are on the host's loopback, so the pod is on the host's network,
    # where podman refuses port mappings: the probes name the port by number instead.
    deployment["spec"]["template"]["spec"]["hostNetwork"] = True
    # podman plays every replica, and on one host network only one can hold the port.
    assert deployment["spec"]["replicas"] >= 2
    deployment["spec"]["replicas"] = 1
    assert container.pop("ports") == [{"name": "http", "containerPort": 8080}]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        container[probe]["httpGet"]["port"] = port
    kube = tmp_path / "kube.yaml"
    # Names of this run's own: podman's pods and secrets are machine-wide.
    suffix = uuid.uuid4().hex[:8]
    deployment["metadata"]["name"] += f"-{suffix}"
    config["metadata"]["name"] += f"-{suffix}"
    container["envFrom"][0]["configMapRef"]["name"] = config["metadata"]["name"]
    for env in container["env"]:
        env["valueFrom"]["secretKeyRef"]["name"] = f"kairos-secrets-{suffix}"
    kube.write_text(yaml.safe_dump_all([config, deployment]))
    # The Secret as podman 4.3 resolves secretKeyRef: a podman secret of that name
    # holding a JSON object of base64 values (it cannot read a played Secret document).
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
    (tmp_path / "secret.json").write_text(json.dumps(encoded))
    try:
        ok("secret", "create", f"kairos-secrets-{suffix}", str(tmp_path / "secret.json"))
        ok("kube", "play", str(kube))
        checks = wait_ready(f"http://127.0.0.1:{port}")
        assert checks["migrations"]["ok"] is True
        pod = f"kairos-scheduler-{suffix}-pod-0-scheduler"  # <pod>-<container>
        probe = "open('/probe', 'w')"
        denied = podman("exec", pod, "python3", "-c", probe)
        assert "Read-only file system" in denied.stderr
        assert ok("exec", pod, "id", "-u").strip() == "10001"
    finally:
        podman("kube", "down", str(kube))
        podman("secret", "rm", f"kairos-secrets-{suffix}")
