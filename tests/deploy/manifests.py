"""The Kubernetes manifests under deploy/kubernetes/, rendered as kustomize renders them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.running import ROOT

KUBERNETES = ROOT / "deploy" / "kubernetes"


def render(folder: Path) -> Iterator[dict[str, Any]]:
    """The documents ``kubectl kustomize folder`` prints for our kustomizations, which
    use only ``resources`` and ``namespace`` (anything else fails here, so this stays
    what kustomize would render)."""
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text())
    assert set(spec) <= {"apiVersion", "kind", "namespace", "resources"}, folder
    for resource in spec["resources"]:
        path = folder / resource
        if path.is_dir():
            documents: Iterator[dict[str, Any]] = render(path)
        else:
            documents = (d for d in yaml.safe_load_all(path.read_text()) if d)
        for document in documents:
            if "namespace" in spec and document["kind"] not in {"Namespace"}:
                document.setdefault("metadata", {})["namespace"] = spec["namespace"]
            yield document


KUSTOMIZATIONS = sorted(p.parent.name for p in KUBERNETES.glob("*/kustomization.yaml"))


def rendered() -> dict[str, list[dict[str, Any]]]:
    """Every kustomization's documents, by folder name."""
    return {name: list(render(KUBERNETES / name)) for name in KUSTOMIZATIONS}


def named(documents: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == kind}
