"""Pure parts of cluster discovery: where the service CIDR, versions and API group come from."""

from __future__ import annotations

from prefect_windows_nodes.tasks._kube.discovery import (ClusterFacts, choose_calico_group, container_env, service_cidr_from_apiserver,
                             service_cidr_from_kubeadm, strip_version)

KUBEADM = """apiServer:
  extraArgs:
    authorization-mode: Node,RBAC
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: v1.22.6
networking:
  dnsDomain: cluster.local
  podSubnet: 192.168.0.0/16
  serviceSubnet: 10.96.0.0/12
"""


def test_service_cidr_from_kubeadm_config():
    assert service_cidr_from_kubeadm(KUBEADM) == "10.96.0.0/12"
    assert service_cidr_from_kubeadm(KUBEADM.replace("10.96.0.0/12", "fd00:10::/108,10.96.0.0/12")) == "10.96.0.0/12"
    assert service_cidr_from_kubeadm("networking: {}") is None
    assert service_cidr_from_kubeadm(": not yaml [") is None


def test_service_cidr_from_apiserver_flags():
    cmd = ["kube-apiserver", "--advertise-address=172.16.3.170", "--service-cluster-ip-range=10.96.0.0/12"]
    assert service_cidr_from_apiserver(cmd) == "10.96.0.0/12"
    assert service_cidr_from_apiserver(["kube-apiserver", "--service-cluster-ip-range", "10.0.0.0/16"]) == "10.0.0.0/16"
    assert service_cidr_from_apiserver(["kube-apiserver --service-cluster-ip-range=10.1.0.0/16 --v=2"]) == "10.1.0.0/16"
    assert service_cidr_from_apiserver(["kube-apiserver"]) is None


def test_versions_without_v():
    assert strip_version("v1.22.6") == "1.22.6"
    assert strip_version("v1.30.2+k3s1") == "1.30.2"
    assert strip_version("v3.26.4") == "3.26.4"
    assert strip_version("") is None


def test_calico_group_rule():
    assert choose_calico_group({"crd.projectcalico.org", "projectcalico.org"}) == "crd.projectcalico.org"
    assert choose_calico_group({"projectcalico.org"}) == "projectcalico.org"
    assert choose_calico_group({"crd.projectcalico.org"}) == "crd.projectcalico.org"
    assert choose_calico_group({"apps"}) is None


def test_container_env_resolves_configmap_refs():
    ds = {"spec": {"template": {"spec": {"containers": [
        {"name": "calico-node", "env": [
            {"name": "DATASTORE_TYPE", "value": "kubernetes"},
            {"name": "FELIX_VXLANVNI", "valueFrom": {"configMapKeyRef": {"name": "calico-config", "key": "vni"}}},
            {"name": "NODENAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        ]},
        {"name": "other", "env": [{"name": "X", "value": "1"}]},
    ]}}}}
    env = container_env(ds, configmaps={"calico-config": {"vni": "4095"}})
    assert env == {"DATASTORE_TYPE": "kubernetes", "FELIX_VXLANVNI": "4095"}


def test_overrides_replace_values_and_mark_source():
    facts = ClusterFacts(api_server="https://x:6443", service_cidr="10.96.0.0/12",
                         sources={"service_cidr": "kubeadm-config"})
    new = facts.with_overrides(service_cidr="10.0.0.0/16", dns_server_ips=None)
    assert new.service_cidr == "10.0.0.0/16" and new.sources["service_cidr"] == "override"
    assert facts.service_cidr == "10.96.0.0/12"
    assert new.as_facts()["service_cidr"] == "10.0.0.0/16"


def test_join_settings_overrides_only_what_is_set():
    from prefect_windows_nodes.blocks import JoinSettings

    facts = ClusterFacts(api_server="https://x:6443", service_cidr="10.96.0.0/12", dns_server_ips=["10.96.0.10"],
                         kubernetes_version="1.22.6", calico_version="3.22.1")
    new = facts.with_settings(JoinSettings(dns_server_ips="10.96.0.53", calico_version="3.26.4"))
    assert (new.service_cidr, new.dns_server_ips, new.kubernetes_version, new.calico_version) == \
        ("10.96.0.0/12", ["10.96.0.53"], "1.22.6", "3.26.4")
    assert new.sources == {"dns_server_ips": "override", "calico_version": "override"}
