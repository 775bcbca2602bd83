"""Discovery (legacy and aggregated), /version, OpenAPI v2/v3, and CustomResourceDefinitions becoming served."""

from __future__ import annotations

import asyncio
import json

import pytest
from kubernetes.aio import client as kclient
from kubernetes.aio.client.exceptions import ApiException

from .conftest import kubectl_minor

AGG = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
       "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")


async def test_legacy_discovery(http):
    api = (await http("GET", "/api")).json()
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    groups = (await http("GET", "/apis")).json()
    names = [g["name"] for g in groups["groups"]]
    assert names.index("networking.k8s.io") < names.index("crd.projectcalico.org")
    v1 = (await http("GET", "/api/v1")).json()
    by_name = {r["name"]: r for r in v1["resources"]}
    assert by_name["pods"]["shortNames"] == ["po"] and by_name["pods"]["namespaced"] is True
    assert by_name["pods/exec"]["verbs"] == ["create", "get"]
    assert by_name["serviceaccounts/token"]["group"] == "authentication.k8s.io"
    assert by_name["nodes"]["namespaced"] is False
    calico = (await http("GET", "/apis/crd.projectcalico.org/v1")).json()
    assert {"ippools", "ipamconfigs", "felixconfigurations", "blockaffinities"} <= {
        r["name"] for r in calico["resources"]}
    assert (await http("GET", "/apis/nope/v1")).status == 404
    # a 1.22 server has no aggregated discovery: the plain documents come back
    assert (await http("GET", "/apis", headers={"Accept": AGG})).json()["kind"] == "APIGroupList"


async def test_discovery_through_the_client(api):
    groups = await kclient.ApisApi(api).get_api_versions()
    assert "apps" in [g.name for g in groups.groups]
    resources = await kclient.CoreV1Api(api).get_api_resources()
    assert "configmaps" in [r.name for r in resources.resources]
    version = await kclient.VersionApi(api).get_code()
    assert version.git_version == "v1.22.6"


@pytest.mark.skipif(kubectl_minor() < 26, reason="kubectl < 1.26 does not ask for aggregated discovery")
async def test_aggregated_discovery_on_newer_versions(kube, http, kubectl):
    kube.set_version("v1.30.2")
    try:
        reply = await http("GET", "/apis", headers={"Accept": AGG})
        assert reply.headers["Content-Type"] == \
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        doc = reply.json()
        apps = next(i for i in doc["items"] if i["metadata"].get("name") == "apps")
        deploy = next(r for r in apps["versions"][0]["resources"] if r["resource"] == "deployments")
        assert deploy["responseKind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
        assert {s["subresource"] for s in deploy["subresources"]} == {"status", "scale"}
        core = (await http("GET", "/api", headers={"Accept": AGG})).json()
        assert core["items"][0]["versions"][0]["version"] == "v1"

        kube.requests.clear()
        r = await kubectl("get", "deployments", "-A", "--cache-dir", "/nonexistent-cache-dir-for-test")
        assert r.code == 0, r.err
        paths = [e.path.split("?")[0] for e in kube.requests.entries]
        assert "/apis/apps/v1" not in paths  # resolved from the aggregated document
        assert (await kubectl("version", "-o", "json")).out.count("v1.30.2") == 1
    finally:
        kube.set_version("v1.22.6")


async def test_openapi_v3_tells_kubectl_about_field_validation(http):
    index = (await http("GET", "/openapi/v3")).json()
    url = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    doc = (await http("GET", url)).json()
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]
    schemas = doc["components"]["schemas"]
    containers = schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["items"]["$ref"] == "#/components/schemas/io.k8s.api.core.v1.Container"
    calico = (await http("GET", index["paths"]["apis/crd.projectcalico.org/v1"]["serverRelativeURL"])).json()
    pool_patch = calico["paths"]["/apis/crd.projectcalico.org/v1/ippools/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" not in pool_patch["requestBody"]["content"]


async def test_openapi_v2(http):
    pb = await http("GET", "/openapi/v2",
                    headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
    assert pb.status == 200 and pb.body == b""
    doc = (await http("GET", "/openapi/v2", headers={"Accept": "application/json"})).json()
    assert doc["swagger"] == "2.0" and "io.k8s.api.core.v1.Pod" in doc["definitions"]


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "subresources": {"status": {}},
                           "additionalPrinterColumns": [{"name": "Size", "type": "integer",
                                                         "jsonPath": ".spec.size"}],
                           "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                               "spec": {"type": "object", "required": ["size"], "properties": {
                                   "size": {"type": "integer"}, "color": {"type": "string",
                                                                          "enum": ["red", "blue"]}}},
                               "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}]}}


async def test_crd_creation_serves_the_type(api, kubectl, ns, tmp_path):
    ext = kclient.ApiextensionsV1Api(api)
    crd = await ext.create_custom_resource_definition(CRD)
    assert {c.type: c.status for c in crd.status.conditions}["Established"] == "True"
    co = kclient.CustomObjectsApi(api)
    created = await co.create_namespaced_custom_object("example.com", "v1", ns, "widgets", {
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
        "spec": {"size": 3, "color": "red", "unknown": "pruned"}})
    assert created["spec"] == {"size": 3, "color": "red"}
    with pytest.raises(ApiException) as err:
        await co.create_namespaced_custom_object("example.com", "v1", ns, "widgets", {
            "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "bad"},
            "spec": {"color": "green", "size": "big"}})
    causes = {c["field"]: c["message"] for c in json.loads(err.value.body)["details"]["causes"]}
    assert err.value.status == 422
    assert causes["spec.color"].startswith('Unsupported value: "green"')
    assert "must be of type integer" in causes["spec.size"]
    # A fresh discovery cache: kubectl 1.20 does not refresh a cache that predates the CRD.
    r = await kubectl("get", "wd", "-n", ns, "--cache-dir", str(tmp_path))
    assert r.code == 0, r.err
    assert r.out.split() == ["NAME", "SIZE", "w", "3"]  # declared columns replace AGE, as on a real server
    await ext.delete_custom_resource_definition("widgets.example.com")
    with pytest.raises(ApiException) as err:
        await co.get_namespaced_custom_object("example.com", "v1", ns, "widgets", "w")
    assert err.value.status == 404


async def test_stop_ends_open_watches(tmp_path):
    from lab.clock import LabClock
    from lab.kube.cluster import KubeLab
    from lab.tls import LabCA

    import aiohttp

    lab = await KubeLab.start(scenario="default", state_dir=tmp_path, clock=LabClock(0.01), ca=LabCA(tmp_path),
                              seed=False, controllers=False)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=lab.ca.client_context()))
    try:
        resp = await session.get(f"{lab.url}/api/v1/namespaces?watch=1",
                                 headers={"Authorization": f"Bearer {lab.admin_token}"})
        first = await resp.content.readline()
        assert json.loads(first)["type"] == "ADDED"
        await asyncio.wait_for(lab.stop(), 10)
        rest = await asyncio.wait_for(resp.content.read(), 10)  # the stream ends instead of hanging
        assert all(json.loads(line)["type"] == "ADDED" for line in rest.splitlines())
    finally:
        await session.close()
        await lab.stop()
