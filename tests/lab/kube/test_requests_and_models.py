"""The request log (per verb, resource, user, connection) and schema completeness of every served kind as seen
through the typed kubernetes 37 models."""

from __future__ import annotations

from kubernetes.aio import client as kclient

from .conftest import client_for


async def test_request_log_counts(api, kube, ns, tmp_path):
    v1 = kclient.CoreV1Api(api)
    kube.requests.clear()
    await v1.create_namespaced_config_map(ns, {"metadata": {"name": "a"}})
    await v1.read_namespaced_config_map("a", ns)
    await v1.list_namespaced_config_map(ns)
    await v1.patch_namespaced_config_map("a", ns, {"data": {"x": "1"}})
    await v1.delete_namespaced_config_map("a", ns)
    log = kube.requests
    assert [e.verb for e in log.entries] == ["create", "get", "list", "patch", "delete"]
    assert log.count(resource="configmaps") == 5
    assert log.count(verb="get", resource="configmaps", namespace=ns, name="a") == 1
    assert log.count(mutating=True) == 3
    assert [e.verb for e in log.mutations()] == ["create", "patch", "delete"]
    assert log.find(verb="patch")[0].patch_type == "application/strategic-merge-patch+json"
    assert all(e.user == "kubernetes-admin" and e.code < 300 for e in log.entries)
    assert len(log.connections()) == 1

    other = await client_for(kube, kube.kubeconfig_path.read_text(), tmp_path)
    try:
        await kclient.CoreV1Api(other).list_node()
    finally:
        await other.close()
    assert len(log.connections()) == 2
    kube.requests.clear()
    assert log.count() == 0


async def test_every_builtin_list_parses_into_the_typed_models(api, kube):
    """Lists of each served built-in kind deserialize into kubernetes 37's pydantic models (strict about
    required fields): the lab's objects are schema-complete."""
    core, apps = kclient.CoreV1Api(api), kclient.AppsV1Api(api)
    rbac, net = kclient.RbacAuthorizationV1Api(api), kclient.NetworkingV1Api(api)
    calls = [core.list_namespace(), core.list_node(), core.list_pod_for_all_namespaces(),
             core.list_service_for_all_namespaces(), core.list_endpoints_for_all_namespaces(),
             core.list_config_map_for_all_namespaces(), core.list_secret_for_all_namespaces(),
             core.list_service_account_for_all_namespaces(), core.list_event_for_all_namespaces(),
             apps.list_deployment_for_all_namespaces(), apps.list_daemon_set_for_all_namespaces(),
             apps.list_replica_set_for_all_namespaces(), net.list_network_policy_for_all_namespaces(),
             rbac.list_cluster_role(), rbac.list_cluster_role_binding(), rbac.list_role_for_all_namespaces(),
             rbac.list_role_binding_for_all_namespaces(),
             kclient.CertificatesV1Api(api).list_certificate_signing_request(),
             kclient.CoordinationV1Api(api).list_lease_for_all_namespaces(),
             kclient.ApiextensionsV1Api(api).list_custom_resource_definition()]
    for call in calls:
        result = await call
        assert result.items is not None
    crds = await kclient.ApiextensionsV1Api(api).list_custom_resource_definition()
    assert "ippools.crd.projectcalico.org" in {c.metadata.name for c in crds.items}
