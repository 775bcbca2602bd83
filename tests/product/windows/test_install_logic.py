"""Pure decisions of install_calico_windows / wait_node_ready (no host or cluster needed)."""

from __future__ import annotations

from prefect_windows_nodes.blocks import JoinSettings
from prefect_windows_nodes.tasks._calico.install_plan import (calico_drift, cluster_checks, installer_parameters,
                                                              installer_url)
from prefect_windows_nodes.tasks._host.node_state import CalicoNodeState, interpret_state
from prefect_windows_nodes.tasks._kube.discovery import ClusterFacts
from prefect_windows_nodes.tasks._kube.nodes import describe_conditions, node_ready

CF = ClusterFacts(api_server="https://127.0.0.1:6443", control_plane_version="1.22.6", kubernetes_version="1.22.6",
                  service_cidr="10.96.0.0/12", dns_server_ips=["10.96.0.10"], calico_version="3.22.5",
                  datastore="kubernetes", calico_api_group="crd.projectcalico.org")

BOOT = "6/10/2021 9:36:12 AM"
CONFIG = ('$env:CALICO_NETWORKING_BACKEND="vxlan"\r\n$env:K8S_SERVICE_CIDR = "10.96.0.0/12"\r\n'
          '$env:DNS_NAME_SERVERS = "10.96.0.10"\r\n$env:CALICO_DATASTORE_TYPE = "kubernetes"\r\n'
          '$env:VXLAN_VNI = 4096\r\n')
RUNNING = {
    "services": [{"Name": "CalicoNode", "Status": "Running", "StartType": "Automatic"},
                 {"Name": "CalicoFelix", "Status": "Running", "StartType": "Automatic"}],
    "hostname": ["K8S-WW"], "containerd": [{"Name": "containerd", "State": "Running"}],
    "config": [CONFIG], "stored_boot": [{"LastBootTime": BOOT}], "boot_g": [BOOT],
    "boot_dmtf": ["20210610093612.500000+000"], "node_exe": [True], "node_kubeconfig": [True],
}


def state(installed: str = "3.22.5", **changes) -> CalicoNodeState:
    s = interpret_state({**RUNNING, **changes})
    s.installed_version = installed
    return s


def test_state_from_the_hosts_answers():
    s = state()
    assert s.calico_running and s.initialised and s.node_kubeconfig_present
    assert s.config["CALICO_NETWORKING_BACKEND"] == "vxlan" and s.config["VXLAN_VNI"] == "4096"
    assert s.status("kubelet") == "absent" and s.describe_services("CalicoNode") == "CalicoNode Running"
    assert s.describe_boot() == f"StoredLastBootTime {BOOT}, CurrentLastBootTime {BOOT}"
    # older releases stored WMI's DMTF string: it counts too; any other value does not
    assert state(stored_boot=[{"LastBootTime": "20210610093612.500000+000"}]).initialised
    assert not state(stored_boot=[{"LastBootTime": "6/9/2021 8:00:00 AM"}]).initialised
    assert not state(stored_boot=[]).initialised and not state(boot_g=[], boot_dmtf=[]).initialised
    empty = interpret_state({})
    assert empty.services == {} and empty.config == {} and not empty.node_kubeconfig_present


def test_running_as_intended_has_no_drift():
    assert calico_drift(state(), CF) == []


def test_drift_names_each_difference():
    s = state(config=[CONFIG.replace('"vxlan"', '"windows-bgp"')],
              services=RUNNING["services"] + [{"Name": "CalicoConfd", "Status": "Running"}],
              installed="3.21.6", stored_boot=[])
    drift = calico_drift(s, CF)
    assert "config.ps1 CALICO_NETWORKING_BACKEND is windows-bgp, intended vxlan" in drift
    assert "installed Calico 3.21.6, intended 3.22.5" in drift
    assert "CalicoConfd (BGP) is running" in drift
    assert any("initialising" in d for d in drift)
    assert calico_drift(state(services=[]), CF) == ["Calico for Windows is not installed"]
    assert "CalicoNode Running, CalicoFelix Stopped" in calico_drift(
        state(services=[RUNNING["services"][0], {"Name": "CalicoFelix", "Status": "Stopped"}]), CF)


def test_installer_parameters_come_from_the_cluster_and_force_vxlan():
    assert installer_parameters(CF, JoinSettings()) == {
        "KubeVersion": "1.22.6", "ServiceCidr": "10.96.0.0/12", "DNSServerIPs": "10.96.0.10",
        "CalicoBackend": "vxlan", "Datastore": "kubernetes"}
    mirrored = installer_parameters(CF, JoinSettings(release_base_url="https://mirror.example/calico/"))
    assert mirrored["ReleaseBaseURL"] == "https://mirror.example/calico/"
    assert installer_url("3.22.5") == \
        "https://github.com/projectcalico/calico/releases/download/v3.22.5/install-calico-windows.ps1"


def test_settings_override_discovery():
    cf = CF.with_settings(JoinSettings(service_cidr="10.100.0.0/16", dns_server_ips=["10.100.0.10"]))
    assert (cf.service_cidr, cf.dns_server_ips) == ("10.100.0.0/16", ["10.100.0.10"])
    assert cf.sources["service_cidr"] == "override"


def test_cluster_checks():
    def checks(**update):
        return {c.name: c for c in cluster_checks(CF.model_copy(update=update))}

    assert all(c.ok for c in cluster_checks(CF))
    bad = checks(calico_version=None)
    assert not bad["install-parameters"].ok and "calico_version" in bad["install-parameters"].fix
    skew = checks(kubernetes_version="1.23.1")
    assert not skew["kubelet-version-skew"].ok and "1.22.6" in skew["kubelet-version-skew"].fix
    old = checks(kubernetes_version="1.24.3", control_plane_version="1.24.3")
    assert not old["installer-kubernetes-compat"].ok and "3.24" in old["installer-kubernetes-compat"].fix
    gates = checks(calico_version="3.22.0", kubernetes_version="1.23.5", control_plane_version="1.23.5")
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
