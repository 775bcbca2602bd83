"""What installing Calico for Windows means for one cluster and host, as pure functions (no I/O): the checks that
must pass before installing, the config the installer must write, how an installed Calico differs from it, and
the installer's parameters. `tasks/install_calico_windows.py` reads the host and applies these decisions.

Installer facts: https://github.com/projectcalico/calico/blob/v3.22.5/node/windows-packaging/install-calico-windows.ps1
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect_windows_nodes.tasks._core.results import Check
from prefect_windows_nodes.tasks._kube.discovery import ClusterFacts

if TYPE_CHECKING:
    from prefect_windows_nodes.blocks import JoinSettings
    from prefect_windows_nodes.tasks._host.node_state import CalicoNodeState

INSTALLER_PATH = "c:\\install-calico-windows.ps1"
CALICO_ZIP = "c:\\calico-windows.zip"
GITHUB_RELEASES = "https://github.com/projectcalico/calico/releases/download"
BACKEND = "vxlan"


def version_tuple(v: str | None) -> tuple[int, ...]:
    """`"3.22.5"` → `(3, 22, 5)`; unparsable → `()`."""
    try:
        return tuple(int(p) for p in str(v or "").lstrip("v").split(".")[:3])
    except ValueError:
        return ()


def release_base_url(version: str, mirror: str | None = None) -> str:
    """Where the release's files are: the mirror, or the GitHub release of `v<version>` (no trailing slash)."""
    return (mirror or f"{GITHUB_RELEASES}/v{version}").rstrip("/")


def installer_url(version: str, mirror: str | None = None) -> str:
    """The URL of `install-calico-windows.ps1` for `version`."""
    return f"{release_base_url(version, mirror)}/install-calico-windows.ps1"


def cluster_checks(cf: ClusterFacts) -> list[Check]:
    """What must hold before installing: every installer parameter known, a Windows kubelet not newer than the
    API server, and an installer that can build its kubeconfig on this Kubernetes version."""
    checks: list[Check] = []
    missing = [name for name, value in (("calico_version", cf.calico_version),
                                        ("kubernetes_version", cf.kubernetes_version),
                                        ("service_cidr", cf.service_cidr),
                                        ("dns_server_ips", cf.dns_server_ips)) if not value]
    checks.append(Check(name="install-parameters", ok=not missing,
                        observed="all discovered" if not missing else f"not discovered: {', '.join(missing)}",
                        expected="Calico version, Kubernetes version, service CIDR and DNS IPs known",
                        fix="" if not missing else f"Set {', '.join(missing)} in the JoinSettings block."))
    kv, api_v = version_tuple(cf.kubernetes_version), version_tuple(cf.control_plane_version)
    if kv and api_v:
        ok = kv[:2] <= api_v[:2]
        checks.append(Check(name="kubelet-version-skew", ok=ok,
                            observed=f"node {cf.kubernetes_version}, API server {cf.control_plane_version}",
                            expected="the Windows kubelet is not newer than the API server",
                            fix="" if ok else f"Set kubernetes_version to {cf.control_plane_version} (or older "
                                              "within the supported skew) in JoinSettings."))
    cv = version_tuple(cf.calico_version)
    if cv and kv:
        ok = not (kv[:2] >= (1, 24) and cv[:2] < (3, 24))
        checks.append(Check(name="installer-kubernetes-compat", ok=ok,
                            observed=f"Calico {cf.calico_version} installer, Kubernetes {cf.kubernetes_version}",
                            expected="Calico ≥ 3.24 on Kubernetes ≥ 1.24 (no auto-created SA token secrets)",
                            fix="" if ok else "Use calico_version 3.24 or newer: older installers fail with "
                                              "'calico-node service account does not exist'."))
        ok322 = not (cv == (3, 22, 0) and kv[:2] >= (1, 23))
        checks.append(Check(name="kube-proxy-feature-gates", ok=ok322,
                            observed=f"Calico {cf.calico_version}, Kubernetes {cf.kubernetes_version}",
                            expected="not Calico 3.22.0 with kube-proxy ≥ 1.23 (IPv6DualStack gate crash loop)",
                            fix="" if ok322 else "Use Calico 3.22.1 or newer."))
    if cf.datastore == "etcdv3" and not cf.calico_node_env.get("ETCD_ENDPOINTS"):
        checks.append(Check(name="etcd-endpoints", ok=False, observed="etcd datastore, endpoints not found",
                            expected="ETCD_ENDPOINTS in the calico-node DaemonSet env",
                            fix="Check the calico-node DaemonSet (calico-etcd.yaml) for ETCD_ENDPOINTS."))
    return checks


def intended_config(cf: ClusterFacts) -> dict[str, str]:
    """The config.ps1 values the installer must have written for this cluster."""
    return {
        "CALICO_NETWORKING_BACKEND": BACKEND,
        "K8S_SERVICE_CIDR": cf.service_cidr or "",
        "DNS_NAME_SERVERS": ",".join(cf.dns_server_ips),
        "CALICO_DATASTORE_TYPE": cf.datastore,
    }


def calico_drift(state: CalicoNodeState, cf: ClusterFacts) -> list[str]:
    """How the node's Calico differs from the intended install ([] when it runs as intended)."""
    drift: list[str] = []
    if not state.services.get("caliconode"):
        return ["Calico for Windows is not installed"]
    if state.installed_version and cf.calico_version and state.installed_version != cf.calico_version:
        drift.append(f"installed Calico {state.installed_version}, intended {cf.calico_version}")
    for key, want in intended_config(cf).items():
        have = state.config.get(key, "")
        if have != want:
            drift.append(f"config.ps1 {key} is {have or '(unset)'}, intended {want}")
    if not state.calico_running:
        drift.append(state.describe_services("CalicoNode", "CalicoFelix"))
    if state.status("CalicoConfd") == "Running":
        drift.append("CalicoConfd (BGP) is running")
    if not state.initialised:
        drift.append("CalicoNode has not finished initialising after the last boot")
    return drift


def reinstall_reasons(state: CalicoNodeState, cf: ClusterFacts) -> list[str]:
    """The part of the drift only a (re)install fixes: not installed, another release, another config, BGP.
    (Services merely stopped or still initialising are started/waited for instead.)"""
    return [d for d in calico_drift(state, cf)
            if not (d == state.describe_services("CalicoNode", "CalicoFelix") or "initialising" in d)]


def installer_parameters(cf: ClusterFacts, settings: JoinSettings) -> dict[str, str]:
    """Named parameters for install-calico-windows.ps1 (only ones every supported release accepts)."""
    params = {
        "KubeVersion": cf.kubernetes_version or "",
        "ServiceCidr": cf.service_cidr or "",
        "DNSServerIPs": ",".join(cf.dns_server_ips),
        "CalicoBackend": BACKEND,
        "Datastore": cf.datastore,
    }
    if settings.release_base_url:
        params["ReleaseBaseURL"] = release_base_url(cf.calico_version or "", settings.release_base_url) + "/"
    if cf.datastore == "etcdv3":
        params["EtcdEndpoints"] = cf.calico_node_env.get("ETCD_ENDPOINTS", "")
    return params
