"""`install_calico_windows`: Calico for Windows (manual installer) on a prepared host, VXLAN backend, verified.

What it does (calico-windows.md §2, runbook step ④):
1. Discovers the cluster's parameters (`tasks.discovery.discover_cluster`; JoinSettings overrides win).
2. Reads the node's state (`Get-CalicoNodeState`) and `c:\\k\\config`; if Calico already runs the intended release
   and config and the node credential is the intended one, it returns "unchanged" without a mutating command.
3. Otherwise: uninstalls a Calico that runs with a different config (the installer's re-run guard would silently
   exit), puts a kubeconfig at `c:\\k\\config` (admin copy, or a short-lived installer token in least-privilege
   mode), stages `c:\\install-calico-windows.ps1` (download, or pre-staged release for air-gapped hosts), runs it
   with named parameters and `-CalicoBackend vxlan`, survives the WinRM drop while CalicoNode creates the HNS
   network (reconnect, then wait for LastBootTime and the services with a deadline), and verifies CalicoNode and
   CalicoFelix Running with the vxlan backend.
4. In least-privilege mode, replaces `c:\\k\\config` with kubelet's CSR-issued node certificate and binds the
   node's user to `system:node-proxier` (kube-proxy reads the same file).
"""

from __future__ import annotations

import asyncio
from typing import Any, Mapping

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from prefect_windows_nodes.blocks.kubernetes import KubernetesCluster
from prefect_windows_nodes.blocks.settings import JoinSettings
from prefect_windows_nodes.blocks.windows import PowerShellSession, RemoteCommandError, WindowsHost, WinRMTransientError

from prefect_windows_nodes.tasks._kube import credentials as creds
from prefect_windows_nodes.tasks._kube.discovery import ClusterFacts, discover_cluster
from prefect_windows_nodes.tasks._host.node_state import CALICO_ROOT, CalicoNodeState, read_calico_state, record_log_tail, wait_for_state
from prefect_windows_nodes.tasks._core.results import Check, StepRecorder, StepResult
from prefect_windows_nodes.tasks._core.retry import retry_on_transient
from prefect_windows_nodes.tasks.windows_prereqs import api_server_endpoint, gather_node_facts, node_name_for

INSTALLER_PATH = "c:\\install-calico-windows.ps1"
CALICO_ZIP = "c:\\calico-windows.zip"
GITHUB_RELEASES = "https://github.com/projectcalico/calico/releases/download"
BACKEND = "vxlan"


# ------------------------------------------------------------------------------------------------ pure parts
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


def resolve_cluster_facts(cf: ClusterFacts, settings: JoinSettings) -> ClusterFacts:
    """Discovered facts with the JoinSettings overrides applied."""
    return cf.with_settings(settings)


def cluster_checks(cf: ClusterFacts, discovered_kube_version: str | None) -> list[Check]:
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
    kv, api_v = version_tuple(cf.kubernetes_version), version_tuple(discovered_kube_version)
    if kv and api_v:
        ok = kv[:2] <= api_v[:2]
        checks.append(Check(name="kubelet-version-skew", ok=ok,
                            observed=f"node {cf.kubernetes_version}, API server {discovered_kube_version}",
                            expected="the Windows kubelet is not newer than the API server",
                            fix="" if ok else f"Set kubernetes_version to {discovered_kube_version} (or older "
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


def _node_name(facts: StepResult | Mapping[str, Any] | None) -> str | None:
    if facts is None:
        return None
    data = facts.facts if isinstance(facts, StepResult) else facts
    name = data.get("node_name") or node_name_for(str(data.get("ComputerName") or ""))
    return name or None


# ------------------------------------------------------------------------------------------ credentials
async def _current_file(ps: PowerShellSession, path: str) -> bytes | None:
    try:
        return await ps.fetch_bytes(path)
    except RemoteCommandError:
        return None


async def credential_checks(ps: PowerShellSession, api: Any, cluster: KubernetesCluster, settings: JoinSettings,
                            node_name: str, server: str, *, kubeconfig_present: bool = True) -> list[Check]:
    """The node-kubeconfig (and, with least privilege, kube-proxy-rbac) checks: is the intended credential in
    place? The files are read to compare them or to parse their identity; no content goes into a check."""
    current = await _current_file(ps, creds.NODE_KUBECONFIG) if kubeconfig_present else None
    if not settings.least_privilege:
        want = _admin_kubeconfig(cluster) if cluster.kubeconfig is not None else None
        ok = current is not None and current == want
        observed = "absent" if current is None else ("the admin kubeconfig" if ok else "a different kubeconfig")
        return [Check(name="node-kubeconfig", ok=ok, observed=observed, expected="the admin kubeconfig (runbook)",
                      fix="" if ok else "rewritten by this step")]
    user = f"system:node:{node_name}"
    ident = creds.kubeconfig_identity(current) if current is not None else None
    ok = (ident is not None and ident.kind == "certificate" and ident.common_name == user
          and "system:nodes" in ident.organizations and ident.server == server
          and ident.valid_for(creds.CERT_RENEW_BEFORE))
    observed = "absent" if ident is None else (
        f"{ident.kind} {ident.common_name}".strip() if ident.kind == "certificate" else ident.kind)
    checks = [Check(name="node-kubeconfig", ok=ok, observed=observed,
                    expected=f"client certificate {user} (O=system:nodes), valid ≥ 30 days",
                    fix="" if ok else "rewritten by this step")]
    bound = await creds.node_proxier_bound(api, node_name)
    checks.append(Check(name="kube-proxy-rbac", ok=bound,
                        observed="bound" if bound else "not bound",
                        expected=f"{user} bound to {creds.NODE_PROXIER_ROLE} (kube-proxy runs with c:\\k\\config)",
                        fix="" if bound else "bound by this step"))
    return checks


# ----------------------------------------------------------------------------------------------- the task
# NO_CACHE: every run must really look at the host and cluster (and the inputs hold secrets).
@task(name="install_calico_windows", retries=2, retry_delay_seconds=[5, 15], retry_condition_fn=retry_on_transient,
      cache_policy=NO_CACHE)
async def install_calico_windows(host: WindowsHost, cluster: KubernetesCluster, settings: JoinSettings | None = None,
                                 facts: StepResult | Mapping[str, Any] | None = None, *,
                                 plan: bool = False) -> StepResult:
    """Install Calico for Windows (VXLAN) on `host` for `cluster`, or confirm it already runs as intended.

    Args:
        host: the Windows host (prerequisites already checked by `windows_prereqs`).
        cluster: the cluster (admin credential: discovery, and in least-privilege mode token/CSR issuing).
        settings: JoinSettings (Calico version/source, overrides, least_privilege, timeouts).
        facts: the `windows_prereqs` result (or its facts) for the node name; gathered when omitted.
        plan: report what would change and change nothing.

    Returns:
        StepResult "changed", "unchanged" or "planned"; facts: node name, Calico version, backend, service CIDR,
        DNS IPs, Kubernetes version, credential mode, whether a WinRM drop was survived.

    Raises:
        StepFailed: a precondition failed (nothing changed), the installer failed, or Calico did not come up
            with the vxlan backend before the deadline (the result carries the services and log tails).

    Example:
        ```python
        from prefect_windows_nodes.blocks import JoinSettings, KubernetesCluster
        from prefect_windows_nodes.blocks.windows import WindowsHost
        from prefect_windows_nodes.tasks.install_calico_windows import install_calico_windows

        result = await install_calico_windows(WindowsHost.load("BLOCK_NAME"), KubernetesCluster.load("BLOCK_NAME"),
                                              JoinSettings.load("BLOCK_NAME"))
        ```
    """
    settings = settings or JoinSettings()
    logger = get_run_logger()
    rec = StepRecorder("install_calico_windows", target=host.address, plan=plan)
    async with cluster.get_client() as api:
        discovered = await discover_cluster(api)
        cf = resolve_cluster_facts(discovered, settings)
        server = cluster.server_url()
        for key, value in cf.as_facts().items():
            rec.fact(key, value)
        rec.fact("backend", BACKEND)
        rec.fact("credential_mode", "least-privilege" if settings.least_privilege else "admin kubeconfig")
        rec.checks.extend(cluster_checks(cf, discovered.kubernetes_version))
        if not settings.least_privilege and cluster.kubeconfig is None:
            rec.check("admin-kubeconfig", False, observed="in-cluster credentials (no kubeconfig to copy)",
                      expected="a kubeconfig to copy, or least_privilege", fix="Set least_privilege in JoinSettings.")
        rec.raise_if_failed()

        async with host.open_session() as ps:
            node_name = _node_name(facts)
            if node_name is None:
                host_facts = await gather_node_facts(ps, *api_server_endpoint(server))
                node_name = node_name_for(str(host_facts.get("ComputerName") or ""))
            rec.fact("node_name", node_name)

            state = await read_calico_state(ps)
            drift = calico_drift(state, cf)
            cred_checks = await credential_checks(ps, api, cluster, settings, node_name, server,
                                                 kubeconfig_present=state.kubeconfig_present)
            if not drift and all(c.ok for c in cred_checks):
                logger.info("Calico %s already runs on %s as intended (vxlan); nothing to do",
                            state.installed_version or cf.calico_version, node_name)
                rec.check("calico", True, observed=f"Calico {state.installed_version or cf.calico_version} "
                          f"running, backend {state.config.get('CALICO_NETWORKING_BACKEND')}", expected="as intended")
                rec.checks.extend(cred_checks)
                return rec.result()

            rec.checks.extend(c for c in cred_checks if c.ok)  # failed ones are what this step fixes
            cred_ok = {c.name: c.ok for c in cred_checks}
            reinstall = reinstall_reasons(state, cf)
            if reinstall:
                logger.info("%s Calico %s (vxlan) on %s: %s", "Would install" if plan else "Installing",
                            cf.calico_version, node_name, "; ".join(drift))
                await _install(ps, api, cluster, settings, cf, state, drift, server, rec,
                               admin_in_place=cred_ok.get("node-kubeconfig", False))
            elif drift:
                logger.info("Calico %s is installed as intended on %s, but: %s", cf.calico_version, node_name,
                            "; ".join(drift))
                await _start_calico(ps, settings, state, rec)
            if settings.least_privilege:
                # After an install c:\k\config holds the installer token: always replace it.
                await _write_node_credentials(ps, api, node_name, server, cluster, rec,
                                              node_ok=cred_ok["node-kubeconfig"] and not reinstall,
                                              proxy_ok=cred_ok["kube-proxy-rbac"])
            elif not reinstall and not cred_ok["node-kubeconfig"]:
                rec.change(f"write {creds.NODE_KUBECONFIG}: the admin kubeconfig (runbook)")
                if not plan:
                    await ps.copy_bytes(_admin_kubeconfig(cluster), creds.NODE_KUBECONFIG)
    return rec.result()


def _admin_kubeconfig(cluster: KubernetesCluster) -> bytes:
    """The admin kubeconfig's selected context, self-contained, as the bytes copied to the host."""
    assert cluster.kubeconfig is not None
    return creds.flatten_kubeconfig(cluster.kubeconfig.get_secret_value(), cluster.context).encode()


async def _install(ps: PowerShellSession, api: Any, cluster: KubernetesCluster, settings: JoinSettings,
                   cf: ClusterFacts, state: CalicoNodeState, drift: list[str], server: str,
                   rec: StepRecorder, *, admin_in_place: bool) -> None:
    """Uninstall a mis-configured Calico, stage and run the installer, wait for Calico, verify the backend."""
    plan = rec.plan
    version = cf.calico_version or ""
    rec.fact("calico_drift", "; ".join(drift))
    # Existing Calico services go first: a running one makes the installer exit early ("Calico services are still
    # running"), a stopped one would be installed over.
    installed = [n for n in state.services if n.startswith("calico") and n != "calicoupgrade"]
    if installed:
        rec.change(f"uninstall the installed Calico ({'; '.join(drift)}): {CALICO_ROOT}\\uninstall-calico.ps1")
        if not plan:
            await ps.run(f"{CALICO_ROOT}\\uninstall-calico.ps1")

    # The kubeconfig the installer reads (its server: line and, for the calico-node token, its credential).
    if settings.least_privilege:
        rec.change(f"write {creds.NODE_KUBECONFIG}: short-lived installer token "
                   f"({creds.INSTALLER_SA_NAMESPACE}/{creds.INSTALLER_SA}, {creds.INSTALLER_TOKEN_TTL_S}s)")
        if not plan:
            calico_ns = (cf.calico_node_daemonset or "kube-system/").split("/")[0] or "kube-system"
            text = await creds.installer_kubeconfig(
                api, server=server, ca_pem=_ca(cluster), calico_namespace=calico_ns,
                creates_token_secret=version_tuple(version)[:2] >= (3, 24))
            await ps.copy_bytes(text.encode(), creds.NODE_KUBECONFIG)
    elif not admin_in_place:
        rec.change(f"write {creds.NODE_KUBECONFIG}: the admin kubeconfig (runbook)")
        if not plan:
            await ps.copy_bytes(_admin_kubeconfig(cluster), creds.NODE_KUBECONFIG)

    await _stage_installer(ps, settings, version, rec)
    params = installer_parameters(cf, settings)
    rec.change("run " + INSTALLER_PATH + " " + " ".join(f"-{k} {v}" for k, v in params.items()))
    if plan:
        return

    dropped = False
    tolerated: list[str] = []
    try:
        # invoke, not run: the installer deliberately ignores some kubectl failures (e.g. `get ns calico-system`
        # on a manifest install), which a remote session reports as error records. Its outcome is judged below.
        result = await ps.invoke(INSTALLER_PATH, **params)
        tolerated = [e.message for e in result.errors]
    except WinRMTransientError as exc:
        dropped = True  # CalicoNode's HNS network creation cuts WinRM; the installer keeps running on the host
        get_run_logger().warning("WinRM connection lost while the installer ran (%s); reconnecting and waiting "
                                 "for Calico to finish initialising", exc)
        await _reconnect_until(ps, settings.calico_start_timeout_s)
    except RemoteCommandError as exc:
        rec.check("calico-installer", False, observed="; ".join(e.message for e in exc.errors)[:2000],
                  expected="the installer completes",
                  fix="See the installer error and the Calico logs in this report; fix the cause and re-run.")
        await record_log_tail(ps, rec)
        rec.raise_if_failed()
    rec.fact("winrm_drop_survived", "yes" if dropped else "no drop")
    if tolerated:
        rec.fact("installer_errors", " | ".join(tolerated)[:2000])
    if not dropped:
        # The installer returned: if it installed nothing (it exits early, e.g. on "VNI < 4096"), say so now
        # rather than after the start deadline. PSRP has no exit code; its host output tells what happened.
        printed = result.host_output or []
        try:
            after: CalicoNodeState | None = await read_calico_state(ps)
        except WinRMTransientError:  # the drop came right after the installer returned
            await _reconnect_until(ps, settings.calico_start_timeout_s)
            after = None
        if after is not None and after.status("CalicoNode") == "absent":
            rec.check("calico-installer", False, observed="the installer ended without installing CalicoNode; "
                      "last output: " + " | ".join([line for line in printed[-12:] if line.strip()]
                                                   + tolerated[-5:])[:2000],
                      expected="CalicoNode and CalicoFelix services installed",
                      fix="See the installer output; fix the cause (e.g. calico_reconfigure for VNI/IPIP) and "
                          "re-run.")
            rec.raise_if_failed()

    await _verify_calico(ps, settings, rec)


async def _start_calico(ps: PowerShellSession, settings: JoinSettings, state: CalicoNodeState,
                        rec: StepRecorder) -> None:
    """Calico is installed as intended but not running (or still initialising): start what is stopped, in
    start-calico.ps1's order (CalicoNode, then CalicoFelix once CalicoNode finished initialising), and verify."""
    if state.status("CalicoNode") == "Stopped":
        rec.change("Start-Service CalicoNode")
        if not rec.plan:
            await _start_service(ps, "CalicoNode", settings.calico_start_timeout_s)
    if state.status("CalicoFelix") == "Stopped":
        rec.change("Start-Service CalicoFelix (after CalicoNode initialised)")
        if not rec.plan:
            ok, _ = await wait_for_state(ps, lambda s: s.initialised, timeout_s=settings.calico_start_timeout_s)
            if ok:
                await _start_service(ps, "CalicoFelix", settings.calico_start_timeout_s)
    if not rec.plan:
        await _verify_calico(ps, settings, rec)


async def _start_service(ps: PowerShellSession, name: str, timeout_s: float) -> None:
    """Start-Service that survives the WinRM drop CalicoNode's first run after a boot causes (it recreates the
    HNS network): the start request was delivered; reconnect and let the caller verify."""
    try:
        await ps.run("Start-Service", Name=name)
    except WinRMTransientError:
        await _reconnect_until(ps, timeout_s)


async def _verify_calico(ps: PowerShellSession, settings: JoinSettings, rec: StepRecorder) -> None:
    """Wait (deadline) for CalicoNode initialised and both services Running; check the vxlan backend."""
    reached, final = await wait_for_state(ps, lambda s: s.initialised and s.calico_running,
                                          timeout_s=settings.calico_start_timeout_s)
    final = final or CalicoNodeState()
    rec.check("calico-initialised", final.initialised,
              observed=f"StoredLastBootTime {final.stored_last_boot or '(none)'}, CurrentLastBootTime "
                       f"{final.current_last_boot or '(unknown)'}",
              expected="equal (CalicoNode finished its first run after boot)",
              fix=f"Check {CALICO_ROOT}\\logs\\calico-node.log (HNS network creation, node IP); then re-run.")
    rec.check("calico-services", final.calico_running,
              observed=final.describe_services("CalicoNode", "CalicoFelix"), expected="both Running",
              fix=f"Get-Service Calico*; see {CALICO_ROOT}\\logs; Start-Service CalicoNode, CalicoFelix.")
    backend = final.config.get("CALICO_NETWORKING_BACKEND", "")
    rec.check("calico-backend", backend == BACKEND and final.status("CalicoConfd") != "Running",
              observed=f"CALICO_NETWORKING_BACKEND={backend or '(unset)'}, CalicoConfd {final.status('CalicoConfd')}",
              expected="vxlan, no CalicoConfd (BGP)",
              fix="Run calico_reconfigure (vxlanEnabled true), then re-run this step.")
    if not reached or any(not c.ok for c in rec.checks):
        await record_log_tail(ps, rec)
    rec.raise_if_failed()
    if final.installed_version:
        rec.fact("installed_version", final.installed_version)


async def _stage_installer(ps: PowerShellSession, settings: JoinSettings, version: str, rec: StepRecorder) -> None:
    plan = rec.plan
    if settings.install_source == "prestaged":
        src = settings.release_file or CALICO_ZIP
        if src.lower() != CALICO_ZIP:
            rec.change(f"copy the pre-staged release {src} to {CALICO_ZIP}")
            if not plan:
                await ps.run("Copy-Item", Path=src, Destination=CALICO_ZIP, Force=True)
        if not settings.release_base_url:
            present = await ps.run("Test-Path", Path=INSTALLER_PATH)
            if present != [True]:
                rec.check("installer-staged", False, observed=f"{INSTALLER_PATH} absent",
                          expected="the installer script pre-staged next to the release",
                          fix=f"Copy install-calico-windows.ps1 of v{version} to {INSTALLER_PATH}, or set "
                              "release_base_url to a mirror the host can reach.")
                rec.raise_if_failed()
            rec.fact("install_source", f"prestaged {src}")
            return
    else:
        # The installer only downloads the release zip when c:\calico-windows.zip is absent: a stale zip from
        # another release would be installed instead of the intended one.
        if await ps.run("Test-Path", Path=CALICO_ZIP) == [True]:
            rec.change(f"remove the stale {CALICO_ZIP} so the intended release is downloaded")
            if not plan:
                await ps.run("Remove-Item", Path=CALICO_ZIP, Force=True)
    url = installer_url(version, settings.release_base_url)
    rec.fact("installer_url", url)
    rec.change(f"download {url} to {INSTALLER_PATH}")
    if not plan:
        await ps.run("Invoke-WebRequest", Uri=url, OutFile=INSTALLER_PATH, UseBasicParsing=True)


async def _reconnect_until(ps: PowerShellSession, timeout_s: float) -> None:
    """Reconnect after a drop, retrying with a backoff (0.2 s doubling to 5 s) until `timeout_s`: the host may
    need a moment before WinRM answers again, and a refused connection gives nothing to wait on."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    delay = 0.2
    while True:
        try:
            await ps.reconnect()
            return
        except WinRMTransientError:
            if loop.time() + delay > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def _ca(cluster: KubernetesCluster) -> bytes | None:
    if cluster.kubeconfig is None:
        return None
    return creds.cluster_ca_pem(cluster.kubeconfig.get_secret_value(), cluster.context)


async def _write_node_credentials(ps: PowerShellSession, api: Any, node_name: str, server: str,
                                  cluster: KubernetesCluster, rec: StepRecorder, *, node_ok: bool,
                                  proxy_ok: bool) -> None:
    """Least privilege: kubelet's node certificate in c:\\k\\config (replacing the installer token), and kube-proxy's
    rights for the node's user (kube-proxy reads the same file; see tasks/credentials.py)."""
    ca = _ca(cluster)
    if not node_ok:
        rec.change(f"write {creds.NODE_KUBECONFIG}: kubelet client certificate system:node:{node_name} (CSR)")
        if not rec.plan:
            text = await creds.kubelet_kubeconfig(api, node_name, server=server, ca_pem=ca)
            await ps.copy_bytes(text.encode(), creds.NODE_KUBECONFIG)
    if not proxy_ok:
        rec.change(f"bind system:node:{node_name} to ClusterRole {creds.NODE_PROXIER_ROLE} (kube-proxy runs with "
                   f"{creds.NODE_KUBECONFIG})")
        if not rec.plan:
            await creds.bind_node_proxier(api, node_name)
    rec.fact("node_credential", f"client certificate system:node:{node_name}")
