"""The prerequisite rules for a Windows Server host that is to become a Calico VXLAN node: pure functions from
`HostFacts` to checks (no I/O), so every rule is tested directly.

Hotfix decision (KB4489899, needed for overlay networking on Windows Server 2019): Windows cumulative updates are
cumulative, and KB4489899 is the March 2019 update that brought build 10.0.17763.379. So the hotfix counts as
present when `KB4489899` is in the host's hotfix list, or when the host's update build revision (UBR) on 17763 is
≥ 379 (a later cumulative update, which includes it). Windows Server 2022 (20348) and newer include it.
Minimum builds are Calico's: https://docs.tigera.io/calico/3.26/getting-started/kubernetes/windows-calico/requirements
"""

from __future__ import annotations

import re

from prefect_windows_nodes.tasks._core.results import Check
from prefect_windows_nodes.tasks._host.facts import HostFacts

#: Minimum builds Calico for Windows supports: Windows Server 2019 17763.1432, Windows Server 2022 20348.169.
MIN_UBR = {17763: 1432, 20348: 169}
#: KB4489899 is the cumulative update that made 17763.379; later cumulative updates include it.
OVERLAY_HOTFIX = "KB4489899"
OVERLAY_HOTFIX_UBR_17763 = 379
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_HOSTNAME = 15  # NetBIOS limit for Windows computer names


def check_os_build(facts: HostFacts) -> Check:
    """OS build ≥ 17763.1432 (Windows Server 2019) or ≥ 20348.169 (Windows Server 2022), or a newer LTSC."""
    build, ubr = facts.build_number, facts.ubr
    expected = "≥ 10.0.17763.1432 (Windows Server 2019) or ≥ 10.0.20348.169 (Windows Server 2022)"
    if build is None or ubr is None:
        return Check(name="os-build", ok=False, observed="not reported by the host", expected=expected,
                     fix="Check that the WinRM user is a local administrator (the build is read from "
                         "HKLM:\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion).")
    if build in MIN_UBR:
        ok = ubr >= MIN_UBR[build]
        fix = ("" if ok else f"Install the latest cumulative update (Windows Update or sconfig option 6) to reach "
                             f"10.0.{build}.{MIN_UBR[build]} or later, reboot, then re-run the join.")
    elif build > 20348:
        ok, fix = True, ""
    else:
        ok = False
        fix = ("Calico for Windows supports Windows Server 2019 (1809, build 17763) and Windows Server 2022 (build "
               "20348): reinstall the host with one of them.")
    return Check(name="os-build", ok=ok, observed=facts.os_build, expected=expected, fix=fix)


def check_overlay_hotfix(facts: HostFacts) -> Check:
    """KB4489899 (overlay networking) installed, or a later cumulative update (UBR ≥ 379 on build 17763)."""
    build, ubr = facts.build_number, facts.ubr
    expected = f"{OVERLAY_HOTFIX} or a later cumulative update (≥ 10.0.17763.{OVERLAY_HOTFIX_UBR_17763})"
    if build is not None and build > 17763:
        return Check(name="overlay-hotfix", ok=True, observed=f"build {build} includes overlay support",
                     expected=expected)
    if OVERLAY_HOTFIX in facts.hotfixes:
        return Check(name="overlay-hotfix", ok=True, observed=f"{OVERLAY_HOTFIX} installed", expected=expected)
    if build == 17763 and ubr is not None and ubr >= OVERLAY_HOTFIX_UBR_17763:
        return Check(name="overlay-hotfix", ok=True,
                     observed=f"cumulative update 10.0.17763.{ubr} (includes {OVERLAY_HOTFIX})", expected=expected)
    seen = ", ".join(facts.hotfixes) if facts.hotfixes else "none"
    return Check(name="overlay-hotfix", ok=False, observed=f"build 10.0.{build}.{ubr}; hotfixes: {seen}",
                 expected=expected,
                 fix=f"Install {OVERLAY_HOTFIX} or (better) the latest cumulative update for Windows Server 2019, "
                     "reboot, then re-run the join.")


def check_containers_feature(facts: HostFacts) -> Check:
    """The Containers Windows feature is installed."""
    state = facts.containers_feature or "not reported"
    return Check(name="containers-feature", ok=state == "Installed", observed=state, expected="Installed",
                 fix="Install-WindowsFeature -Name Containers, then Restart-Computer, then re-run the join.")


def check_pending_reboot(facts: HostFacts) -> Check:
    """No reboot is pending (a feature or update install waits for one)."""
    pending = facts.pending_reboot
    observed = "reboot pending" if pending else ("no reboot pending" if pending is False else "not reported")
    return Check(name="pending-reboot", ok=pending is False, observed=observed, expected="no reboot pending",
                 fix="Restart-Computer (a feature or update install is waiting for a reboot), then re-run the join.")


def check_container_runtime(facts: HostFacts) -> Check:
    """A container runtime (containerd or Docker) is installed and running."""
    expected = "containerd (recommended) or docker, running"
    if not facts.runtime:
        return Check(name="container-runtime", ok=False, observed="no container runtime", expected=expected,
                     fix="Install containerd (e.g. sig-windows-tools Install-Containerd.ps1) and start it, then "
                         "re-run the join.")
    observed = f"{facts.runtime} {facts.runtime_version}".strip() + (
        " running" if facts.runtime_running else " not running")
    return Check(name="container-runtime", ok=facts.runtime_running, observed=observed, expected=expected,
                 fix=f"Start-Service {facts.runtime} (and set it to start automatically), then re-run the join.")


def check_hostname(facts: HostFacts) -> Check:
    """The hostname works as a node name: ≤ 15 characters, a DNS-1123 label once lowercased."""
    name, node = facts.computer_name, facts.node_name
    ok = bool(name) and len(name) <= MAX_HOSTNAME and bool(_DNS1123_LABEL.match(node))
    suggestion = re.sub(r"[^a-z0-9-]", "-", node).strip("-")[:MAX_HOSTNAME].strip("-") or "win-node-1"
    return Check(name="hostname", ok=ok, observed=f"{name!r} (node name {node!r})" if name else "not reported",
                 expected=f"≤ {MAX_HOSTNAME} characters; lowercase letters, digits and '-' (DNS-1123 label)",
                 fix=f"Rename-Computer -NewName {suggestion} -Restart, then re-run the join.")


def check_free_disk(facts: HostFacts, min_free_gb: float) -> Check:
    """At least `min_free_gb` GB free on the system drive (Windows images are large)."""
    free = facts.free_disk_gb
    return Check(name="free-disk", ok=free is not None and free >= min_free_gb,
                 observed=f"{free:.1f} GB free" if free is not None else "not reported",
                 expected=f"≥ {min_free_gb:g} GB free on the system drive",
                 fix="Free space on the system drive (e.g. remove unused container images, Disk Cleanup) or "
                     "extend the volume, then re-run the join.")


def check_api_server(facts: HostFacts, api_server_host: str, api_server_port: int) -> Check:
    """The host reaches the Kubernetes API server over TCP."""
    ok = facts.api_server_reachable is True
    return Check(name="api-server-reachable", ok=ok,
                 observed=f"{api_server_host}:{api_server_port} " + ("reachable" if ok else "not reachable"),
                 expected="TCP connection from the host succeeds",
                 fix=f"From the host, Test-NetConnection {api_server_host} -Port {api_server_port}: open the "
                     "firewall / route between the host and the control plane, then re-run the join.")


def evaluate_prereqs(facts: HostFacts, *, api_server_host: str, api_server_port: int,
                     min_free_gb: float) -> list[Check]:
    """Every host prerequisite check, in report order (pure: no I/O)."""
    return [
        check_os_build(facts),
        check_overlay_hotfix(facts),
        check_containers_feature(facts),
        check_pending_reboot(facts),
        check_container_runtime(facts),
        check_hostname(facts),
        check_free_disk(facts, min_free_gb),
        check_api_server(facts, api_server_host, api_server_port),
    ]
