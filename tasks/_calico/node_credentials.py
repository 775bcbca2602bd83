"""The credential a Windows node holds in `c:\\k\\config`: is the intended one in place, and putting it there.

Two modes (`JoinSettings.least_privilege`): the admin kubeconfig's selected context (the runbook's way), or a
kubelet client certificate for `system:node:<name>` plus kube-proxy's rights for that user (see
`tasks/_kube/credentials.py`). Files are read back only to compare them or to parse their identity; no content
ever goes into a check, a log or a report.
"""

from __future__ import annotations

from typing import Any

from prefect_windows_nodes.blocks import (JoinSettings, KubernetesCluster, PowerShellSession, RemoteCommandError,
                                          kubeconfig_identity)
from prefect_windows_nodes.tasks._core.results import Check, StepRecorder
from prefect_windows_nodes.tasks._kube import credentials as creds


async def read_node_kubeconfig(ps: PowerShellSession) -> bytes | None:
    """The bytes of `c:\\k\\config` on the host, or None when it cannot be read (absent)."""
    try:
        return await ps.fetch_bytes(creds.NODE_KUBECONFIG)
    except RemoteCommandError:
        return None


async def credential_checks(ps: PowerShellSession, api: Any, cluster: KubernetesCluster, settings: JoinSettings,
                            node_name: str, *, present: bool) -> list[Check]:
    """The node-kubeconfig (and, with least privilege, kube-proxy-rbac) checks: is the intended credential in
    place? `present`: whether `c:\\k\\config` exists (it is only fetched then)."""
    current = await read_node_kubeconfig(ps) if present else None
    if not settings.least_privilege:
        ok = current is not None and current == cluster.flattened_kubeconfig()
        observed = "absent" if current is None else ("the admin kubeconfig" if ok else "a different kubeconfig")
        return [Check(name="node-kubeconfig", ok=ok, observed=observed, expected="the admin kubeconfig (runbook)",
                      fix="" if ok else "rewritten by this step")]
    user = f"system:node:{node_name}"
    ident = kubeconfig_identity(current) if current is not None else None
    ok = (ident is not None and ident.kind == "certificate" and ident.common_name == user
          and "system:nodes" in ident.organizations and ident.server == cluster.server_url()
          and ident.valid_for(creds.CERT_RENEW_BEFORE))
    observed = "absent" if ident is None else (
        f"{ident.kind} {ident.common_name}".strip() if ident.kind == "certificate" else ident.kind)
    checks = [Check(name="node-kubeconfig", ok=ok, observed=observed,
                    expected=f"client certificate {user} (O=system:nodes), valid ≥ 30 days",
                    fix="" if ok else "rewritten by this step")]
    bound = await creds.node_proxier_bound(api, node_name)
    checks.append(Check(name="kube-proxy-rbac", ok=bound, observed="bound" if bound else "not bound",
                        expected=f"{user} bound to {creds.NODE_PROXIER_ROLE} (kube-proxy runs with c:\\k\\config)",
                        fix="" if bound else "bound by this step"))
    return checks


async def write_admin_kubeconfig(ps: PowerShellSession, cluster: KubernetesCluster, rec: StepRecorder) -> None:
    """The runbook's way: the admin kubeconfig's selected context, self-contained, at `c:\\k\\config`."""
    rec.change(f"write {creds.NODE_KUBECONFIG}: the admin kubeconfig (runbook)")
    if not rec.plan:
        await ps.copy_bytes(cluster.flattened_kubeconfig(), creds.NODE_KUBECONFIG)


async def write_installer_kubeconfig(ps: PowerShellSession, api: Any, cluster: KubernetesCluster,
                                     rec: StepRecorder, *, calico_namespace: str, creates_token_secret: bool) -> None:
    """Least privilege: a short-lived installer token at `c:\\k\\config`, for the installer's own reads."""
    rec.change(f"write {creds.NODE_KUBECONFIG}: short-lived installer token "
               f"({creds.INSTALLER_SA_NAMESPACE}/{creds.INSTALLER_SA}, {creds.INSTALLER_TOKEN_TTL_S}s)")
    if not rec.plan:
        text = await creds.installer_kubeconfig(api, server=cluster.server_url(), ca_pem=cluster.ca_pem(),
                                                calico_namespace=calico_namespace,
                                                creates_token_secret=creates_token_secret)
        await ps.copy_bytes(text.encode(), creds.NODE_KUBECONFIG)


async def write_node_credentials(ps: PowerShellSession, api: Any, cluster: KubernetesCluster, node_name: str,
                                 rec: StepRecorder, *, node_ok: bool, proxy_ok: bool) -> None:
    """Least privilege: kubelet's node certificate in `c:\\k\\config` (replacing the installer token), and
    kube-proxy's rights for the node's user (kube-proxy reads the same file)."""
    if not node_ok:
        rec.change(f"write {creds.NODE_KUBECONFIG}: kubelet client certificate system:node:{node_name} (CSR)")
        if not rec.plan:
            text = await creds.kubelet_kubeconfig(api, node_name, server=cluster.server_url(), ca_pem=cluster.ca_pem())
            await ps.copy_bytes(text.encode(), creds.NODE_KUBECONFIG)
    if not proxy_ok:
        rec.change(f"bind system:node:{node_name} to ClusterRole {creds.NODE_PROXIER_ROLE} (kube-proxy runs with "
                   f"{creds.NODE_KUBECONFIG})")
        if not rec.plan:
            await creds.bind_node_proxier(api, node_name)
    rec.fact("node_credential", f"client certificate system:node:{node_name}")
