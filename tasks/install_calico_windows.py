"""`install_calico_windows`: Calico for Windows (manual installer) on a prepared host, VXLAN backend, verified.

What it does (the runbook's step ④, with its known mistakes fixed):
1. Takes the cluster's facts from the join (or discovers them) and re-checks what must hold before installing.
2. Reads the node's state and `c:\\k\\config`; if Calico already runs the intended release and config and the node
   credential is the intended one, it returns "unchanged" without a mutating command.
3. Otherwise: uninstalls a Calico that runs with a different config (the installer's re-run guard would silently
   exit), creates `c:\\k`, puts a kubeconfig at `c:\\k\\config` (admin copy, or a short-lived installer token in
   least-privilege mode), stages `c:\\install-calico-windows.ps1` (download, or pre-staged release for air-gapped
   hosts), runs it with named parameters and `-CalicoBackend vxlan`, survives the WinRM drop while CalicoNode
   creates the HNS network, and verifies CalicoNode and CalicoFelix Running with the vxlan backend.
4. In least-privilege mode, replaces `c:\\k\\config` with kubelet's CSR-issued node certificate and binds the
   node's user to `system:node-proxier` (kube-proxy reads the same file).
"""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from prefect_windows_nodes.blocks import JoinSettings, KubernetesCluster, PowerShellSession, WindowsHost
from prefect_windows_nodes.tasks._calico import installer, node_credentials
from prefect_windows_nodes.tasks._calico.install_plan import (BACKEND, calico_drift, cluster_checks,
                                                              installer_parameters, reinstall_reasons, version_tuple)
from prefect_windows_nodes.tasks._core.results import StepRecorder, StepResult
from prefect_windows_nodes.tasks._core.retry import retry_on_transient
from prefect_windows_nodes.tasks._host.facts import HostFacts, gather_host_facts
from prefect_windows_nodes.tasks._host.node_state import CalicoNodeState, read_calico_state
from prefect_windows_nodes.tasks._kube.discovery import ClusterFacts, read_cluster_facts

STEP = "install_calico_windows"
KUBE_DIR = "c:\\k"


# NO_CACHE: every run must really look at the host and cluster (and the inputs hold secrets).
@task(name=STEP, retries=2, retry_delay_seconds=[5, 15], retry_condition_fn=retry_on_transient,
      cache_policy=NO_CACHE)
async def install_calico_windows(host: WindowsHost, cluster: KubernetesCluster, settings: JoinSettings | None = None,
                                 *, cluster_facts: ClusterFacts | None = None, host_facts: HostFacts | None = None,
                                 plan: bool = False) -> StepResult:
    """Install Calico for Windows (VXLAN) on `host` for `cluster`, or confirm it already runs as intended.

    Args:
        host: the Windows host (prerequisites checked by `windows_prereqs`).
        cluster: the cluster (admin credential: in least-privilege mode it issues the token and certificate).
        settings: JoinSettings (Calico version/source, overrides, least_privilege, timeouts).
        cluster_facts: the cluster's facts as the join discovered them; discovered here when omitted.
        host_facts: the host's facts from `windows_prereqs` (for the node name); read here when omitted.
        plan: report what would change and change nothing.

    Returns:
        StepResult "changed", "unchanged" or "planned"; facts: node name, Calico version, backend, service CIDR,
        DNS IPs, Kubernetes version, credential mode, whether a WinRM drop was survived.

    Raises:
        StepFailed: a precondition failed (nothing changed), the installer failed, or Calico did not come up
            with the vxlan backend before the deadline (the result carries the services and log tails).

    Example:
        ```python
        from prefect_windows_nodes.blocks import JoinSettings, KubernetesCluster, WindowsHost
        from prefect_windows_nodes.tasks import install_calico_windows

        result = await install_calico_windows(WindowsHost.load("BLOCK_NAME"), KubernetesCluster.load("BLOCK_NAME"),
                                              JoinSettings.load("BLOCK_NAME"))
        ```
    """
    settings = settings or JoinSettings()
    rec = StepRecorder(STEP, target=host.address, plan=plan)
    cf = cluster_facts or await read_cluster_facts(cluster, settings)
    for key, value in cf.as_facts().items():
        rec.fact(key, value)
    rec.fact("backend", BACKEND)
    rec.fact("credential_mode", "least-privilege" if settings.least_privilege else "admin kubeconfig")
    failed = [c for c in cluster_checks(cf) if not c.ok]  # windows_prereqs passed them in a join; re-checked alone
    if failed:
        rec.checks.extend(failed)
        rec.raise_if_failed()

    async with cluster.get_client() as api, host.open_session() as ps:
        node_name = (host_facts or await gather_host_facts(ps)).node_name
        rec.fact("node_name", node_name)
        state = await read_calico_state(ps)
        drift = calico_drift(state, cf)
        cred_checks = await node_credentials.credential_checks(ps, api, cluster, settings, node_name,
                                                               present=state.node_kubeconfig_present)
        if not drift and all(c.ok for c in cred_checks):
            get_run_logger().info("Calico %s already runs on %s as intended (vxlan); nothing to do",
                                  state.installed_version or cf.calico_version, node_name)
            rec.check("calico", True, observed=f"Calico {state.installed_version or cf.calico_version} running, "
                      f"backend {state.config.get('CALICO_NETWORKING_BACKEND')}", expected="as intended")
            rec.checks.extend(cred_checks)
            return rec.result()

        rec.checks.extend(c for c in cred_checks if c.ok)  # the failed ones are what this step fixes
        cred_ok = {c.name: c.ok for c in cred_checks}
        reinstall = reinstall_reasons(state, cf)
        await _ensure_kube_dir(ps, state, rec)
        if reinstall:
            await _install(ps, api, cluster, settings, cf, state, drift, rec,
                           admin_in_place=cred_ok.get("node-kubeconfig", False))
        elif drift:
            get_run_logger().info("Calico %s is installed as intended on %s, but: %s", cf.calico_version, node_name,
                                  "; ".join(drift))
            await installer.start_calico(ps, settings, state, rec)
        if settings.least_privilege:
            # After an install c:\k\config holds the installer token: always replace it.
            await node_credentials.write_node_credentials(
                ps, api, cluster, node_name, rec, node_ok=cred_ok["node-kubeconfig"] and not reinstall,
                proxy_ok=cred_ok["kube-proxy-rbac"])
        elif not reinstall and not cred_ok["node-kubeconfig"]:
            await node_credentials.write_admin_kubeconfig(ps, cluster, rec)
    return rec.result()


async def _ensure_kube_dir(ps: PowerShellSession, state: CalicoNodeState, rec: StepRecorder) -> None:
    if state.node_kubeconfig_present or await ps.run("Test-Path", LiteralPath=KUBE_DIR, PathType="Container") == [True]:
        return
    rec.change(f"create directory {KUBE_DIR}")
    if not rec.plan:
        await ps.run("New-Item", Path=KUBE_DIR, ItemType="Directory", Force=True)


async def _install(ps: PowerShellSession, api, cluster: KubernetesCluster, settings: JoinSettings, cf: ClusterFacts,
                   state: CalicoNodeState, drift: list[str], rec: StepRecorder, *, admin_in_place: bool) -> None:
    """Uninstall a mis-configured Calico, put the installer's kubeconfig in place, stage and run the installer,
    wait for Calico, verify the backend."""
    version = cf.calico_version or ""
    get_run_logger().info("%s Calico %s (vxlan): %s", "Would install" if rec.plan else "Installing", version,
                          "; ".join(drift))
    rec.fact("calico_drift", "; ".join(drift))
    await installer.uninstall(ps, state, drift, rec)
    # The kubeconfig the installer reads (its server: line and, for the calico-node token, its credential).
    if settings.least_privilege:
        calico_ns = (cf.calico_node_daemonset or "kube-system/").split("/")[0] or "kube-system"
        await node_credentials.write_installer_kubeconfig(
            ps, api, cluster, rec, calico_namespace=calico_ns,
            creates_token_secret=version_tuple(version)[:2] >= (3, 24))
    elif not admin_in_place:
        await node_credentials.write_admin_kubeconfig(ps, cluster, rec)
    await installer.stage_installer(ps, settings, version, rec)
    await installer.run_installer(ps, installer_parameters(cf, settings), settings, rec)
