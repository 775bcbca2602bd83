"""Manifests as data: IIS image choice, pinning, overrides, and validation against the Kubernetes schemas."""

from __future__ import annotations

import kubernetes_validate
import pytest
from kubernetes_validate.utils import all_versions

from prefect_windows_nodes.tasks._verify import manifests as m

NODE = "k8s-ww"


def schema_version(git_version: str) -> str:
    """The kubernetes-validate schema version for a cluster's /version gitVersion: the same minor when bundled,
    else the oldest bundled (1.25, for the runbook's v1.22.6: the v1 APIs used here are unchanged since 1.22)."""
    minor = tuple(int(x) for x in git_version.lstrip("v").split(".")[:2])
    bundled = sorted({tuple(int(x) for x in v.split(".")[:2]) for v in all_versions()})
    usable = [v for v in bundled if v <= minor]
    chosen = usable[-1] if usable else bundled[0]
    return f"{chosen[0]}.{chosen[1]}.0"


@pytest.mark.parametrize("build,tag", [("10.0.17763", "ltsc2019"), ("10.0.20348", "ltsc2022"),
                                       ("10.0.17763.1999", "ltsc2019")])
def test_iis_tag_follows_the_windows_build_label(build, tag):
    assert m.iis_tag_for_build(build) == tag
    assert m.iis_image(m.SmokeImages(), build) == f"mcr.microsoft.com/windows/servercore/iis:windowsservercore-{tag}"


@pytest.mark.parametrize("build", [None, "", "10.0.19041", "garbage"])
def test_unknown_build_asks_for_an_explicit_image(build):
    with pytest.raises(m.UnknownWindowsBuild, match="images.iis"):
        m.iis_image(m.SmokeImages(), build)
    # an explicit image needs no label
    assert m.iis_image(m.SmokeImages(iis="registry.corp/iis:2019"), build) == "registry.corp/iis:2019"


def test_every_image_is_overridable_for_a_private_registry():
    images = m.SmokeImages(netshoot="registry.corp/netshoot:1", nginx="registry.corp/nginx:1",
                           iis_repository="registry.corp/windows/iis", image_pull_secrets=["corp-pull"])
    objs = m.smoke_workloads(NODE, "10.0.20348", images, with_client=True)
    used = []
    for o in objs:
        spec = o["spec"]["template"]["spec"] if o["kind"] == "Deployment" else o.get("spec")
        if o["kind"] in ("Pod", "Deployment"):
            used += [c["image"] for c in spec["containers"]]
            assert spec["imagePullSecrets"] == [{"name": "corp-pull"}]
    assert used == ["registry.corp/netshoot:1", "registry.corp/netshoot:1", "registry.corp/nginx:1",
                    "registry.corp/windows/iis:windowsservercore-ltsc2022"]


def test_images_reject_blank_references():
    with pytest.raises(ValueError):
        m.SmokeImages(nginx="nginx 1.2")


def test_iis_is_pinned_to_the_node_and_tolerates_windows_taints():
    iis = next(o for o in m.smoke_workloads(NODE, "10.0.17763", m.SmokeImages()) if o["kind"] == "Deployment"
               and o["metadata"]["name"] == "iis")
    spec = iis["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"kubernetes.io/os": "windows", "kubernetes.io/hostname": NODE}
    assert {"key": "os", "operator": "Equal", "value": "windows", "effect": "NoSchedule"} in spec["tolerations"]
    assert iis["spec"]["template"]["metadata"]["labels"]["run"] == "iis"
    linux = [o for o in m.smoke_workloads(NODE, "10.0.17763", m.SmokeImages()) if o["metadata"]["name"] in
             ("netshoot", "nginx")]
    for o in linux:
        spec = o["spec"]["template"]["spec"] if o["kind"] == "Deployment" else o["spec"]
        assert spec["nodeSelector"] == {"kubernetes.io/os": "linux"}


def test_services_select_the_runbook_labels():
    objs = {o["metadata"]["name"]: o for o in m.smoke_workloads(NODE, "10.0.17763", m.SmokeImages())}
    assert objs["nginx-svc"]["spec"]["selector"] == {"run": "nginx"}
    assert objs["iis-svc"]["spec"]["selector"] == {"run": "iis"}
    assert m.namespace(NODE)["metadata"]["generateName"] == "win-smoke-"


def test_policies_match_the_runbook_and_select_the_iis_pod():
    nginx, iis = m.policies()
    assert nginx["metadata"]["name"] == "allow-nginx-ingress-from-iis"
    assert nginx["spec"] == {"podSelector": {"matchLabels": {"run": "nginx"}}, "policyTypes": ["Ingress"],
                             "ingress": [{"from": [{"podSelector": {"matchLabels": {"run": "iis"}}}],
                                          "ports": [{"protocol": "TCP", "port": 80}]}]}
    assert iis["spec"]["podSelector"] == {"matchLabels": {"run": "iis"}}
    assert iis["spec"]["ingress"][0]["from"] == [{"podSelector": {"matchLabels": {"role": "iis-client"}}}]
    client = m.netshoot_pod(m.SmokeImages(), name="iis-client", labels=m.CLIENT_LABEL)
    assert client["metadata"]["labels"]["role"] == "iis-client"


def test_a_bad_node_name_is_refused():
    with pytest.raises(ValueError, match="node name"):
        m.smoke_workloads("K8S WW", "10.0.17763", m.SmokeImages())


def all_manifests() -> list[dict]:
    return [m.namespace(NODE)] + m.smoke_workloads(NODE, "10.0.17763", m.SmokeImages(image_pull_secrets=["p"]),
                                                   with_client=True) + m.policies()


@pytest.mark.parametrize("git_version", ["v1.22.6", "v1.30.2"])
def test_manifests_validate_against_the_schemas_of_the_cluster_version(git_version):
    version = schema_version(git_version)
    for obj in all_manifests():
        body = dict(obj)
        if "generateName" in body["metadata"]:
            body = {**body, "metadata": {**body["metadata"], "name": "win-smoke-x"}}
        assert kubernetes_validate.validate(body, version, strict=True)


def test_the_validator_would_catch_a_typo():
    bad = m.nginx_service()
    bad["spec"]["ports"][0]["targetport"] = 80
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, schema_version("v1.30.0"), strict=True)
