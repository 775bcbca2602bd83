"""Scenarios: the runbook's starting cluster as the real API serves it (schema-complete for kubernetes 37's
strict models), the other scenarios' distinguishing traits, and the operator reverting direct pool edits."""

from __future__ import annotations

import pytest
import yaml
from kubernetes import client as sync_client
from kubernetes.aio import client as kclient

from lab.kube import scenarios

from .conftest import api_client, rt, settle

CALICO = "crd.projectcalico.org"


def _validate(kind_model: str, objs: list[dict]) -> None:
    """Deserialize with the client's strict models: a missing required field raises."""
    ac = sync_client.ApiClient()
    for o in objs:
        ac._ApiClient__deserialize(o, kind_model)


async def test_default_scenario_is_the_runbook_start(lab):
    async with lab("default") as kube, api_client(kube) as api:
        core = kclient.CoreV1Api(api)
        nodes = {n.metadata.name: n for n in (await core.list_node()).items}
        assert set(nodes) == {"k8s-m", "k8s-lw"}
        for name, ip in (("k8s-m", "172.16.3.170"), ("k8s-lw", "172.16.3.171")):
            n = nodes[name]
            assert [c.status for c in n.status.conditions if c.type == "Ready"] == ["True"]
            assert n.status.node_info.kubelet_version == "v1.22.6"
            assert n.status.node_info.container_runtime_version == "docker://20.10.13"
            assert n.status.node_info.os_image == "Ubuntu 20.04.2 LTS"
            assert n.status.node_info.kernel_version == "5.4.0-77-generic"
            assert [a.address for a in n.status.addresses if a.type == "InternalIP"] == [ip]
        m = nodes["k8s-m"]
        assert {"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"} <= set(m.metadata.labels)
        assert [(t.key, t.effect) for t in m.spec.taints] == [("node-role.kubernetes.io/master", "NoSchedule")]

        custom = kclient.CustomObjectsApi(api)
        pool = await custom.get_cluster_custom_object(CALICO, "v1", "ippools", "default-ipv4-ippool")
        assert {k: pool["spec"][k] for k in ("cidr", "ipipMode", "vxlanMode", "natOutgoing", "blockSize",
                                             "nodeSelector")} == {
            "cidr": "192.168.0.0/16", "ipipMode": "Always", "vxlanMode": "Never", "natOutgoing": True,
            "blockSize": 26, "nodeSelector": "all()"}
        felix = await custom.get_cluster_custom_object(CALICO, "v1", "felixconfigurations", "default")
        assert felix["spec"]["ipipEnabled"] is True and "vxlanEnabled" not in felix["spec"]
        assert {"bpfLogLevel", "logSeverityScreen", "reportingInterval"} <= set(felix["spec"])
        info = await custom.get_cluster_custom_object(CALICO, "v1", "clusterinformations", "default")
        assert info["spec"]["calicoVersion"].startswith("v3.22.") and info["spec"]["datastoreReady"] is True
        assert (await custom.list_cluster_custom_object(CALICO, "v1", "ipamconfigs"))["items"] == []

        cm = await core.read_namespaced_config_map("kubeadm-config", "kube-system")
        cc = yaml.safe_load(cm.data["ClusterConfiguration"])
        assert cc["networking"] == {"dnsDomain": "cluster.local", "podSubnet": "192.168.0.0/16",
                                    "serviceSubnet": "10.96.0.0/12"}
        assert cc["controlPlaneEndpoint"] == "172.16.3.170:6443" and cc["kubernetesVersion"] == "v1.22.6"
        dns = await core.read_namespaced_service("kube-dns", "kube-system")
        assert dns.spec.cluster_ip == "10.96.0.10"
        assert sorted((p.port, p.protocol) for p in dns.spec.ports) == [(53, "TCP"), (53, "UDP"), (9153, "TCP")]
        ep = await core.read_namespaced_endpoints("kubernetes", "default")
        assert (ep.subsets[0].addresses[0].ip, ep.subsets[0].ports[0].port) == ("172.16.3.170", 6443)
        ds = await kclient.AppsV1Api(api).read_namespaced_daemon_set("calico-node", "kube-system")
        env = {e.name: e.value for e in ds.spec.template.spec.containers[0].env}
        assert env["CALICO_IPV4POOL_IPIP"] == "Always" and env["DATASTORE_TYPE"] == "kubernetes"
        sa = await core.read_namespaced_service_account("calico-node", "kube-system")
        assert sa.secrets and sa.secrets[0].name.startswith("calico-node-token-")
        pods = (await core.list_namespaced_pod("kube-system")).items
        assert all(p.status.phase == "Running" for p in pods) and len(pods) == 11
        info = await kclient.VersionApi(api).get_code()
        assert info.git_version == "v1.22.6"

        # every core object the API serves deserializes under the strict models
        st = kube.store
        for plural, model in (("nodes", "V1Node"), ("pods", "V1Pod"), ("services", "V1Service"),
                              ("endpoints", "V1Endpoints"), ("events", "CoreV1Event"),
                              ("namespaces", "V1Namespace"), ("configmaps", "V1ConfigMap")):
            _validate(model, st.list(rt(kube, "", plural)))
        for plural, model in (("deployments", "V1Deployment"), ("daemonsets", "V1DaemonSet"),
                              ("replicasets", "V1ReplicaSet")):
            _validate(model, st.list(rt(kube, "apps", plural)))


@pytest.mark.parametrize("name", sorted(scenarios.SCENARIOS))
def test_versions(name):
    v = scenarios.version_for(name)
    assert v["gitVersion"] == scenarios.SCENARIOS[name].kube_version
    assert v["minor"] == v["gitVersion"].split(".")[1]


async def test_k8s_130_scenario(lab):
    async with lab("k8s-1.30") as kube:
        nodes = kube.store.list(rt(kube, "", "nodes"))
        assert {n["status"]["nodeInfo"]["containerRuntimeVersion"] for n in nodes} == {"containerd://1.7.19"}
        m = kube.store.get(rt(kube, "", "nodes"), None, "k8s-m")
        assert "node-role.kubernetes.io/master" not in m["metadata"]["labels"]
        assert m["spec"]["taints"] == [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
        sa = kube.store.get(rt(kube, "", "serviceaccounts"), "kube-system", "calico-node")
        assert not sa.get("secrets")  # no legacy token Secrets from 1.24 on
        pods = kube.store.list(rt(kube, "", "pods"), "kube-system")
        assert all(p["status"]["phase"] == "Running" for p in pods)
        assert all(cs["imageID"].startswith(("registry.k8s.io/", "docker.io/"))
                   for p in pods for cs in p["status"]["containerStatuses"])


async def test_operator_reconciles_and_reverts_pools(lab):
    async with lab("operator") as kube:
        pools, inst_rt = rt(kube, CALICO, "ippools"), rt(kube, "operator.tigera.io", "installations")
        assert kube.store.try_get(rt(kube, "", "namespaces"), None, "calico-system") is not None
        pool = kube.store.get(pools, None, "default-ipv4-ippool")
        assert pool["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "tigera-operator"
        assert (pool["spec"]["ipipMode"], pool["spec"]["vxlanMode"]) == ("Always", "Never")
        assert kube.store.list(rt(kube, "", "pods"), "calico-system")

        # a direct edit (as the manual runbook does) is reverted
        kube.store.mutate(pools, None, "default-ipv4-ippool",
                          lambda p: p["spec"].update(ipipMode="Never", vxlanMode="Always"))
        await settle(kube)
        pool = kube.store.get(pools, None, "default-ipv4-ippool")
        assert (pool["spec"]["ipipMode"], pool["spec"]["vxlanMode"]) == ("Always", "Never")

        # the Installation is the way
        def vxlan(inst: dict) -> None:
            inst["spec"]["calicoNetwork"]["ipPools"][0]["encapsulation"] = "VXLAN"
            inst["spec"]["calicoNetwork"]["bgp"] = "Disabled"
        kube.store.mutate(inst_rt, None, "default", vxlan)
        await settle(kube)
        pool = kube.store.get(pools, None, "default-ipv4-ippool")
        assert (pool["spec"]["ipipMode"], pool["spec"]["vxlanMode"]) == ("Never", "Always")
        # Calico ≥ 3.23 Felix auto-detects VXLAN from the pools
        assert kube.controllers.ctx.felix()["vxlanEnabled"] is True
