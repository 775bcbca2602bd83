"""Pure decisions of install_calico_windows / wait_node_ready (no host or cluster needed)."""

from __future__ import annotations

from prefect_windows_nodes.blocks.settings import JoinSettings
from prefect_windows_nodes.tasks.install_calico_windows import (
    calico_drift,
    cluster_checks,
    installer_parameters,
    installer_url,
    resolve_cluster_facts,
)
from prefect_windows_nodes.tasks._kube.discovery import ClusterFacts
from prefect_windows_nodes.tasks.wait_node_ready import describe_conditions, node_ready
from prefect_windows_nodes.tasks._host.node_state import CalicoNodeState

CF = ClusterFacts(api_server="https://127.0.0.1:6443", kubernetes_version="1.22.6", service_cidr="10.96.0.0/12",
                  dns_server_ips=["10.96.0.10"], calico_version="3.22.5", datastore="kubernetes",
                  calico_api_group="crd.projectcalico.org")

RUNNING = {
    "Services": [{"Name": "CalicoNode", "Status": "Running", "StartType": "Automatic"},
                 {"Name": "CalicoFelix", "Status": "Running", "StartType": "Automatic"}],
    "Config": {"CALICO_NETWORKING_BACKEND": "vxlan", "K8S_SERVICE_CIDR": "10.96.0.0/12",
               "DNS_NAME_SERVERS": "10.96.0.10", "CALICO_DATASTORE_TYPE": "kubernetes", "VXLAN_VNI": "4096"},
    "InstalledVersion": "3.22.5", "StoredLastBootTime": "2024-01-01T00:00:00", "CurrentLastBootTime":
        "2024-01-01T00:00:00", "HnsNetworks": [{"Name": "External", "Type": "Overlay"}],
    "CalicoEndpointExists": True, "KubeconfigPresent": True,
}


def state(**changes) -> CalicoNodeState:
    return CalicoNodeState.from_output([{**RUNNING, **changes}])


def test_running_as_intended_has_no_drift():
    assert calico_drift(state(), CF) == []


def test_drift_names_each_difference():
    s = state(Config={**RUNNING["Config"], "CALICO_NETWORKING_BACKEND": "windows-bgp"},
              Services=RUNNING["Services"] + [{"Name": "CalicoConfd", "Status": "Running"}],
              InstalledVersion="3.21.6", StoredLastBootTime="")
    drift = calico_drift(s, CF)
    assert "config.ps1 CALICO_NETWORKING_BACKEND is windows-bgp, intended vxlan" in drift
    assert "installed Calico 3.21.6, intended 3.22.5" in drift
    assert "CalicoConfd (BGP) is running" in drift
    assert any("initialising" in d for d in drift)
    assert calico_drift(state(Services=[]), CF) == ["Calico for Windows is not installed"]
    assert "CalicoNode Running, CalicoFelix Stopped" in calico_drift(
        state(Services=[RUNNING["Services"][0], {"Name": "CalicoFelix", "Status": "Stopped"}]), CF)


def test_installer_parameters_come_from_the_cluster_and_force_vxlan():
    assert installer_parameters(CF, JoinSettings()) == {
        "KubeVersion": "1.22.6", "ServiceCidr": "10.96.0.0/12", "DNSServerIPs": "10.96.0.10",
        "CalicoBackend": "vxlan", "Datastore": "kubernetes"}
    mirrored = installer_parameters(CF, JoinSettings(release_base_url="https://mirror.example/calico/"))
    assert mirrored["ReleaseBaseURL"] == "https://mirror.example/calico/"
    assert installer_url("3.22.5") == \
        "https://github.com/projectcalico/calico/releases/download/v3.22.5/install-calico-windows.ps1"


def test_settings_override_discovery():
    cf = resolve_cluster_facts(CF, JoinSettings(service_cidr="10.100.0.0/16", dns_server_ips=["10.100.0.10"]))
    assert (cf.service_cidr, cf.dns_server_ips) == ("10.100.0.0/16", ["10.100.0.10"])
    assert cf.sources["service_cidr"] == "override"


def test_cluster_checks():
    assert all(c.ok for c in cluster_checks(CF, "1.22.6"))
    bad = {c.name: c for c in cluster_checks(CF.model_copy(update={"calico_version": None}), "1.22.6")}
    assert not bad["install-parameters"].ok and "calico_version" in bad["install-parameters"].fix
    skew = {c.name: c for c in cluster_checks(CF.model_copy(update={"kubernetes_version": "1.23.1"}), "1.22.6")}
    assert not skew["kubelet-version-skew"].ok
    old = {c.name: c for c in cluster_checks(CF.model_copy(update={"kubernetes_version": "1.24.3"}), "1.24.3")}
    assert not old["installer-kubernetes-compat"].ok and "3.24" in old["installer-kubernetes-compat"].fix
    gates = {c.name: c for c in cluster_checks(CF.model_copy(update={"calico_version": "3.22.0",
                                                                      "kubernetes_version": "1.23.5"}), "1.23.5")}
    assert not gates["kube-proxy-feature-gates"].ok


def test_node_readiness_helpers():
    not_ready = {"status": {"conditions": [{"type": "MemoryPressure", "status": "False"},
                                           {"type": "Ready", "status": "False", "reason": "KubeletNotReady",
                                            "message": "cni plugin not initialized"}]}}
    assert not node_ready(not_ready) and not node_ready(None)
    assert describe_conditions(not_ready) == \
        "MemoryPressure=False; Ready=False (KubeletNotReady: cni plugin not initialized)"
    assert node_ready({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    assert describe_conditions(None) == "node not registered"
