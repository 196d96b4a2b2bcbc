"""The Kubernetes manifests under deploy/kubernetes/: valid objects (checked offline against
the API's schemas by kubernetes-validate, strict), in the shapes docs/deploying.md promises."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CliResult
from tests.tools import ROOT, require_modules

FOLDER = ROOT / "deploy" / "kubernetes"
#: The oldest Kubernetes release the manifests are checked against (PodDisruptionBudget
#: policy/v1 and every field used here are older).
KUBERNETES = "1.29.0"
#: yamlcron's own shutdown: --shutdown-timeout (30 s) for runs, then the kill grace (10 s).
SHUTDOWN = 30 + 10


def documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((FOLDER / name).read_text()) if d]


def kinds(name: str) -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in documents(name)}


def validate(document: dict[str, Any]) -> None:
    require_modules("kubernetes_validate")
    import kubernetes_validate

    kubernetes_validate.validate(document, KUBERNETES, strict=True)


@pytest.mark.parametrize("name", ["sqlite.yaml", "postgres.yaml"])
def test_every_object_is_valid_for_the_api(name: str) -> None:
    docs = documents(name)
    assert docs
    for document in docs:
        validate(document)


def test_the_validator_really_rejects_a_bad_object() -> None:
    deployment = kinds("sqlite.yaml")["Deployment"]
    typo = copy.deepcopy(deployment)
    typo["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "one"
    require_modules("kubernetes_validate")
    import kubernetes_validate

    for bad in (typo, wrong_type):
        with pytest.raises(kubernetes_validate.ValidationError):
            validate(bad)


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


@pytest.mark.parametrize("name", ["sqlite.yaml", "postgres.yaml"])
def test_probes_scrape_grace_and_the_manifest_folder(name: str) -> None:
    deployment = kinds(name)["Deployment"]
    pod = deployment["spec"]["template"]
    container = _container(deployment)
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert pod["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    assert pod["spec"]["terminationGracePeriodSeconds"] > SHUTDOWN
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    # The ConfigMap is mounted as a folder (no subPath), so its updates reach the file.
    [jobs] = [m for m in container["volumeMounts"] if m["name"] == "jobs"]
    assert (jobs["mountPath"], jobs.get("readOnly"), "subPath" in jobs) == (
        "/etc/yamlcron",
        True,
        False,
    )
    assert container["args"][:3] == ["run", "-f", "/etc/yamlcron/jobs.yaml"]


def test_sqlite_is_one_replica_on_a_volume_recreated() -> None:
    objects = kinds("sqlite.yaml")
    spec = objects["Deployment"]["spec"]
    assert (spec["replicas"], spec["strategy"]["type"]) == (1, "Recreate")
    claims = [v for v in spec["template"]["spec"]["volumes"] if "persistentVolumeClaim" in v]
    assert (
        claims[0]["persistentVolumeClaim"]["claimName"]
        == objects["PersistentVolumeClaim"]["metadata"]["name"]
    )


def test_postgresql_is_three_replicas_with_a_disruption_budget() -> None:
    objects = kinds("postgres.yaml")
    deployment, budget = objects["Deployment"], objects["PodDisruptionBudget"]
    assert deployment["spec"]["replicas"] == 3
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]
    env = {e["name"]: e for e in _container(deployment)["env"]}
    assert "secretKeyRef" in env["YAMLCRON_STORE"]["valueFrom"]


@pytest.mark.parametrize("name", ["sqlite.yaml", "postgres.yaml"])
def test_the_configmaps_manifest_is_valid(
    name: str, tmp_path: Path, cli: Callable[..., CliResult]
) -> None:
    manifest = tmp_path / "jobs.yaml"
    manifest.write_text(kinds(name)["ConfigMap"]["data"]["jobs.yaml"])
    result = cli("validate", manifest)
    assert result.code == 0, result
