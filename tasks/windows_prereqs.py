"""`windows_prereqs`: check that a Windows Server host can become a Calico VXLAN node, before changing anything.

One round trip (`Get-WindowsNodeFacts`) gathers everything; the checks are pure functions of those facts
(`evaluate_prereqs`). The only change this step ever makes is creating `c:\\k` (not in plan mode), and only after
every check passed.

Hotfix decision (KB4489899, needed for overlay networking on Windows Server 2019): Windows cumulative updates are
cumulative, and KB4489899 is the March 2019 update that brought build 10.0.17763.379. So the hotfix counts as
present when `KB4489899` is in the host's hotfix list, or when the host's update build revision (UBR) on 17763 is
≥ 379 (a later cumulative update, which includes it). Windows Server 2022 (20348) and newer include it.
"""

from __future__ import annotations

import re
from typing import Any, Mapping
from urllib.parse import urlsplit

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from prefect_windows_nodes.blocks.windows import WindowsHost

from prefect_windows_nodes.tasks._core.results import Check, StepRecorder, StepResult
from prefect_windows_nodes.tasks._core.retry import retry_on_transient

KUBE_DIR = "c:\\k"
#: Minimum builds Calico for Windows supports: Windows Server 2019 17763.1432, Windows Server 2022 20348.169.
MIN_UBR = {17763: 1432, 20348: 169}
#: KB4489899 is the cumulative update that made 17763.379; later cumulative updates include it.
OVERLAY_HOTFIX = "KB4489899"
OVERLAY_HOTFIX_UBR_17763 = 379
DEFAULT_MIN_FREE_GB = 20.0
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_HOSTNAME = 15  # NetBIOS limit for Windows computer names


def node_name_for(computer_name: str) -> str:
    """The Kubernetes node name Calico and kubelet use for a host: its hostname, lowercased."""
    return computer_name.strip().lower()


def _int(facts: Mapping[str, Any], key: str) -> int | None:
    v = facts.get(key)
    try:
        return int(v) if v is not None and v != "" else None
    except (TypeError, ValueError):
        return None


def check_os_build(facts: Mapping[str, Any]) -> Check:
    """OS build ≥ 17763.1432 (Windows Server 2019) or ≥ 20348.169 (Windows Server 2022), or a newer LTSC."""
    build, ubr = _int(facts, "BuildNumber"), _int(facts, "UBR")
    observed = str(facts.get("OsBuild") or f"10.0.{build}.{ubr}")
    expected = "≥ 10.0.17763.1432 (Windows Server 2019) or ≥ 10.0.20348.169 (Windows Server 2022)"
    if build is None or ubr is None:
        return Check(name="os-build", ok=False, observed="not reported by the host", expected=expected,
                     fix="Check that Get-WindowsNodeFacts.ps1 runs on the host (PowerShell 5.1, administrator).")
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
    return Check(name="os-build", ok=ok, observed=observed, expected=expected, fix=fix)


def check_overlay_hotfix(facts: Mapping[str, Any]) -> Check:
    """KB4489899 (overlay networking) installed, or a later cumulative update (UBR ≥ 379 on build 17763)."""
    build, ubr = _int(facts, "BuildNumber"), _int(facts, "UBR")
    hotfixes = [str(h).upper() for h in (facts.get("HotFixIds") or [])]
    expected = f"{OVERLAY_HOTFIX} or a later cumulative update (≥ 10.0.17763.{OVERLAY_HOTFIX_UBR_17763})"
    if build is not None and build > 17763:
        return Check(name="overlay-hotfix", ok=True, observed=f"build {build} includes overlay support",
                     expected=expected)
    if OVERLAY_HOTFIX in hotfixes:
        return Check(name="overlay-hotfix", ok=True, observed=f"{OVERLAY_HOTFIX} installed", expected=expected)
    if build == 17763 and ubr is not None and ubr >= OVERLAY_HOTFIX_UBR_17763:
        return Check(name="overlay-hotfix", ok=True,
                     observed=f"cumulative update 10.0.17763.{ubr} (includes {OVERLAY_HOTFIX})", expected=expected)
    seen = ", ".join(hotfixes) if hotfixes else "none"
    return Check(name="overlay-hotfix", ok=False, observed=f"build 10.0.{build}.{ubr}; hotfixes: {seen}",
                 expected=expected,
                 fix=f"Install {OVERLAY_HOTFIX} or (better) the latest cumulative update for Windows Server 2019, "
                     "reboot, then re-run the join.")


def check_containers_feature(facts: Mapping[str, Any]) -> Check:
    """The Containers Windows feature is installed."""
    state = str(facts.get("ContainersFeature") or "not reported")
    return Check(name="containers-feature", ok=state == "Installed", observed=state, expected="Installed",
                 fix="Install-WindowsFeature -Name Containers, then Restart-Computer, then re-run the join.")


def check_pending_reboot(facts: Mapping[str, Any]) -> Check:
    """No reboot is pending (a feature or update install waits for one)."""
    pending = facts.get("PendingReboot")
    ok = pending is False
    observed = "reboot pending" if pending else ("no reboot pending" if pending is False else "not reported")
    return Check(name="pending-reboot", ok=ok, observed=observed, expected="no reboot pending",
                 fix="Restart-Computer (a feature or update install is waiting for a reboot), then re-run the join.")


def check_container_runtime(facts: Mapping[str, Any]) -> Check:
    """A container runtime (containerd or Docker) is installed and running."""
    runtime = str(facts.get("ContainerRuntime") or "")
    version = str(facts.get("ContainerRuntimeVersion") or "")
    running = facts.get("ContainerRuntimeRunning") is True
    expected = "containerd (recommended) or docker, running"
    if not runtime:
        return Check(name="container-runtime", ok=False, observed="no container runtime", expected=expected,
                     fix="Install containerd (e.g. sig-windows-tools Install-Containerd.ps1) and start it, then "
                         "re-run the join.")
    observed = f"{runtime} {version}".strip() + (" running" if running else " not running")
    service = "containerd" if runtime == "containerd" else "docker"
    return Check(name="container-runtime", ok=running, observed=observed, expected=expected,
                 fix=f"Start-Service {service} (and set it to start automatically), then re-run the join.")


def check_hostname(facts: Mapping[str, Any]) -> Check:
    """The hostname works as a node name: ≤ 15 characters, a DNS-1123 label once lowercased."""
    name = str(facts.get("ComputerName") or "")
    node = node_name_for(name)
    ok = bool(name) and len(name) <= MAX_HOSTNAME and bool(_DNS1123_LABEL.match(node))
    suggestion = re.sub(r"[^a-z0-9-]", "-", node).strip("-")[:MAX_HOSTNAME].strip("-") or "win-node-1"
    return Check(name="hostname", ok=ok, observed=f"{name!r} (node name {node!r})" if name else "not reported",
                 expected=f"≤ {MAX_HOSTNAME} characters; lowercase letters, digits and '-' (DNS-1123 label)",
                 fix=f"Rename-Computer -NewName {suggestion} -Restart, then re-run the join.")


def check_free_disk(facts: Mapping[str, Any], min_free_gb: float) -> Check:
    """At least `min_free_gb` GB free on the system drive (Windows images are large)."""
    try:
        free = float(facts.get("FreeDiskGB"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        free = None
    return Check(name="free-disk", ok=free is not None and free >= min_free_gb,
                 observed=f"{free:.1f} GB free" if free is not None else "not reported",
                 expected=f"≥ {min_free_gb:g} GB free on the system drive",
                 fix="Free space on the system drive (e.g. remove unused container images, Disk Cleanup) or "
                     "extend the volume, then re-run the join.")


def check_api_server(facts: Mapping[str, Any], api_server_host: str, api_server_port: int) -> Check:
    """The host reaches the Kubernetes API server over TCP."""
    ok = facts.get("ApiServerReachable") is True
    return Check(name="api-server-reachable", ok=ok,
                 observed=f"{api_server_host}:{api_server_port} " + ("reachable" if ok else "not reachable"),
                 expected="TCP connection from the host succeeds",
                 fix=f"From the host, Test-NetConnection {api_server_host} -Port {api_server_port}: open the "
                     "firewall / route between the host and the control plane, then re-run the join.")


def evaluate_prereqs(facts: Mapping[str, Any], *, api_server_host: str, api_server_port: int,
                     min_free_gb: float = DEFAULT_MIN_FREE_GB) -> list[Check]:
    """Every prerequisite check, in report order, from a `Get-WindowsNodeFacts` result (pure: no I/O)."""
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


def summarize_facts(facts: Mapping[str, Any]) -> dict[str, str]:
    """The host facts a report (and the later join steps) needs, as text."""
    name = str(facts.get("ComputerName") or "")
    return {
        "computer_name": name,
        "node_name": node_name_for(name),
        "os": str(facts.get("OsCaption") or ""),
        "os_build": str(facts.get("OsBuild") or ""),
        "container_runtime": f"{facts.get('ContainerRuntime') or ''} {facts.get('ContainerRuntimeVersion') or ''}"
                             .strip(),
        "free_disk_gb": f"{float(facts.get('FreeDiskGB') or 0):.1f}",
        "ipv4": ",".join(str(a) for a in facts.get("IPv4Addresses") or []),
        "last_boot_time": str(facts.get("LastBootTime") or ""),
    }


def api_server_endpoint(server_url: str) -> tuple[str, int]:
    """(host, port) of an API server URL such as `KubernetesCluster.server_url()` (port defaulting by scheme)."""
    parts = urlsplit(server_url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


async def gather_node_facts(session: Any, api_server_host: str, api_server_port: int) -> dict[str, Any]:
    """Run Get-WindowsNodeFacts once and return its single object as a dict."""
    out = await session.run_script("Get-WindowsNodeFacts", ApiServerHost=api_server_host,
                                   ApiServerPort=int(api_server_port), KubeDir=KUBE_DIR)
    facts = next((o for o in out if isinstance(o, dict)), None)
    if facts is None:
        raise RuntimeError(f"Get-WindowsNodeFacts returned no object (got {len(out)} output item(s))")
    return facts


# NO_CACHE: every run must really look at the host and cluster (and the inputs hold secrets).
@task(name="windows_prereqs", retries=3, retry_delay_seconds=[2, 5, 10], retry_condition_fn=retry_on_transient,
      cache_policy=NO_CACHE)
async def windows_prereqs(host: WindowsHost, api_server_host: str, api_server_port: int = 6443, *,
                          min_free_gb: float = DEFAULT_MIN_FREE_GB, plan: bool = False) -> StepResult:
    """Check that `host` can join as a Calico VXLAN Windows node; create `c:\\k` if missing.

    Checks (see `evaluate_prereqs`): OS build, overlay hotfix, Containers feature, no pending reboot, a running
    container runtime, a hostname valid as a node name, free disk, the API server reachable from the host.

    Args:
        host: the Windows host block.
        api_server_host, api_server_port: the API server endpoint as the host must reach it.
        min_free_gb: free space required on the system drive.
        plan: report what would change (creating `c:\\k`) and change nothing.

    Returns:
        StepResult: "changed" (created c:\\k), "unchanged", or "planned"; facts include `node_name`.

    Raises:
        StepFailed: a check failed; nothing was changed on the host. The result names each failed check, what
            was seen, and how to fix it. (Raised in plan mode too: the join could not proceed.)

    Example:
        ```python
        from prefect_windows_nodes.blocks.windows import WindowsHost
        from prefect_windows_nodes.tasks.windows_prereqs import windows_prereqs

        result = await windows_prereqs(WindowsHost.load("BLOCK_NAME"), "10.0.0.1", 6443)
        ```
    """
    logger = get_run_logger()
    rec = StepRecorder("windows_prereqs", target=host.address, plan=plan)
    async with host.open_session() as ps:
        facts = await gather_node_facts(ps, api_server_host, api_server_port)
        for key, value in summarize_facts(facts).items():
            rec.fact(key, value)
        rec.checks.extend(evaluate_prereqs(facts, api_server_host=api_server_host,
                                           api_server_port=api_server_port, min_free_gb=min_free_gb))
        for c in rec.checks:
            (logger.info if c.ok else logger.error)("%s", c.describe())
        rec.raise_if_failed()  # before anything changes on the host

        if facts.get("KubeDirExists") is True:
            rec.check("kube-dir", True, observed=f"{KUBE_DIR} present", expected="present")
        else:
            rec.change(f"create directory {KUBE_DIR}")
            if not plan:
                await ps.run("New-Item", Path=KUBE_DIR, ItemType="Directory", Force=True)
    return rec.result()
