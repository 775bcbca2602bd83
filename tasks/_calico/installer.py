"""Running Calico for Windows' own installer on a host: staging it, running it with named parameters, surviving
the WinRM drop while CalicoNode creates the HNS network, starting stopped services, and verifying the result.

The installer is Calico's script, invoked by path with named parameters (its behaviour per release:
https://github.com/projectcalico/calico/tree/v3.22.5/node/windows-packaging). Decisions about *whether* to install
live in `tasks/_calico/install_plan.py`; this module does it.
"""

from __future__ import annotations

import asyncio

from prefect import get_run_logger

from prefect_windows_nodes.blocks import (CommandResult, JoinSettings, PowerShellSession, RemoteCommandError,
                                          WinRMTransientError)
from prefect_windows_nodes.tasks._calico.install_plan import (BACKEND, CALICO_ZIP, INSTALLER_PATH, installer_url)
from prefect_windows_nodes.tasks._core.results import StepRecorder
from prefect_windows_nodes.tasks._host.node_state import (CALICO_ROOT, CalicoNodeState, read_calico_state,
                                                          record_log_tail, wait_for_state)

UNINSTALLER = f"{CALICO_ROOT}\\uninstall-calico.ps1"


async def uninstall(ps: PowerShellSession, state: CalicoNodeState, drift: list[str], rec: StepRecorder) -> None:
    """Remove an installed Calico that is not the intended one: a running one makes the installer exit early
    ("Calico services are still running"), a stopped one would be installed over."""
    installed = [n for n in state.services if n.startswith("calico") and n != "calicoupgrade"]
    if installed:
        rec.change(f"uninstall the installed Calico ({'; '.join(drift)}): {UNINSTALLER}")
        if not rec.plan:
            await ps.run(UNINSTALLER)


async def stage_installer(ps: PowerShellSession, settings: JoinSettings, version: str, rec: StepRecorder) -> None:
    """Put the installer (and, pre-staged, the release zip) where the installer expects them."""
    plan = rec.plan
    if settings.install_source == "prestaged":
        src = settings.release_file or CALICO_ZIP
        if src.lower() != CALICO_ZIP:
            rec.change(f"copy the pre-staged release {src} to {CALICO_ZIP}")
            if not plan:
                await ps.run("Copy-Item", LiteralPath=src, Destination=CALICO_ZIP, Force=True)
        if not settings.release_base_url:  # windows_prereqs checked that the installer is staged
            rec.fact("install_source", f"prestaged {src}")
            return
    elif await ps.run("Test-Path", LiteralPath=CALICO_ZIP) == [True]:
        # The installer only downloads the release zip when c:\calico-windows.zip is absent: a stale zip from
        # another release would be installed instead of the intended one.
        rec.change(f"remove the stale {CALICO_ZIP} so the intended release is downloaded")
        if not plan:
            await ps.run("Remove-Item", LiteralPath=CALICO_ZIP, Force=True)
    url = installer_url(version, settings.release_base_url)
    rec.fact("installer_url", url)
    rec.change(f"download {url} to {INSTALLER_PATH}")
    if not plan:
        await ps.run("Invoke-WebRequest", Uri=url, OutFile=INSTALLER_PATH, UseBasicParsing=True)


async def run_installer(ps: PowerShellSession, params: dict[str, str], settings: JoinSettings,
                        rec: StepRecorder) -> None:
    """Run the installer and wait for Calico to come up; fail with the installer's output when it installed
    nothing, or with the services and log tails when Calico did not come up in time."""
    rec.change("run " + INSTALLER_PATH + " " + " ".join(f"-{k} {v}" for k, v in params.items()))
    if rec.plan:
        return
    dropped = False
    tolerated: list[str] = []
    result: CommandResult | None = None
    try:
        # invoke, not run: the installer deliberately ignores some kubectl failures (e.g. `get ns calico-system`
        # on a manifest install), which a remote session reports as error records. Its outcome is judged below.
        result = await ps.invoke(INSTALLER_PATH, **params)
        tolerated = [e.message for e in result.errors]
    except WinRMTransientError as exc:
        dropped = True  # CalicoNode's HNS network creation cuts WinRM; the installer keeps running on the host
        get_run_logger().warning("WinRM connection lost while the installer ran (%s); reconnecting and waiting "
                                 "for Calico to finish initialising", exc)
        await reconnect_until(ps, settings.calico_start_timeout_s)
    except RemoteCommandError as exc:
        rec.check("calico-installer", False, observed="; ".join(e.message for e in exc.errors)[:2000],
                  expected="the installer completes",
                  fix="See the installer error and the Calico logs in this report; fix the cause and re-run.")
        await record_log_tail(ps, rec)
        rec.raise_if_failed()
    rec.fact("winrm_drop_survived", "yes" if dropped else "no drop")
    if tolerated:
        rec.fact("installer_errors", " | ".join(tolerated)[:2000])
    if result is not None:
        await _fail_if_nothing_installed(ps, result, tolerated, settings, rec)
    await verify_calico(ps, settings, rec)


async def _fail_if_nothing_installed(ps: PowerShellSession, result: CommandResult, tolerated: list[str],
                                     settings: JoinSettings, rec: StepRecorder) -> None:
    """The installer returned: if it installed nothing (it exits early, e.g. on "VNI < 4096"), say so now rather
    than after the start deadline. PSRP has no exit code; its host output tells what happened."""
    printed = result.host_output or []
    try:
        after: CalicoNodeState | None = await read_calico_state(ps, with_version=False)
    except WinRMTransientError:  # the drop came right after the installer returned
        await reconnect_until(ps, settings.calico_start_timeout_s)
        return
    if after is not None and after.status("CalicoNode") == "absent":
        rec.check("calico-installer", False, observed="the installer ended without installing CalicoNode; "
                  "last output: " + " | ".join([line for line in printed[-12:] if line.strip()]
                                               + tolerated[-5:])[:2000],
                  expected="CalicoNode and CalicoFelix services installed",
                  fix="See the installer output; fix the cause (e.g. calico_reconfigure for VNI/IPIP) and re-run.")
        rec.raise_if_failed()


async def start_calico(ps: PowerShellSession, settings: JoinSettings, state: CalicoNodeState,
                       rec: StepRecorder) -> None:
    """Calico is installed as intended but not running (or still initialising): start what is stopped, in
    start-calico.ps1's order (CalicoNode, then CalicoFelix once CalicoNode finished initialising), and verify."""
    if state.status("CalicoNode") == "Stopped":
        rec.change("Start-Service CalicoNode")
        if not rec.plan:
            await start_service(ps, "CalicoNode", settings.calico_start_timeout_s)
    if state.status("CalicoFelix") == "Stopped":
        rec.change("Start-Service CalicoFelix (after CalicoNode initialised)")
        if not rec.plan:
            ok, _ = await wait_for_state(ps, lambda s: s.initialised, timeout_s=settings.calico_start_timeout_s)
            if ok:
                await start_service(ps, "CalicoFelix", settings.calico_start_timeout_s)
    if not rec.plan:
        await verify_calico(ps, settings, rec)


async def start_service(ps: PowerShellSession, name: str, timeout_s: float) -> None:
    """Start-Service that survives the WinRM drop CalicoNode's first run after a boot causes (it recreates the
    HNS network): the start request was delivered; reconnect and let the caller verify."""
    try:
        await ps.run("Start-Service", Name=name)
    except WinRMTransientError:
        await reconnect_until(ps, timeout_s)


async def verify_calico(ps: PowerShellSession, settings: JoinSettings, rec: StepRecorder) -> None:
    """Wait (deadline) for CalicoNode initialised and both services Running; check the vxlan backend."""
    reached, final = await wait_for_state(ps, lambda s: s.initialised and s.calico_running,
                                          timeout_s=settings.calico_start_timeout_s)
    final = final or CalicoNodeState()
    rec.check("calico-initialised", final.initialised, observed=final.describe_boot(),
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
    installed = (await read_calico_state(ps)).installed_version
    if installed:
        rec.fact("installed_version", installed)


async def reconnect_until(ps: PowerShellSession, timeout_s: float) -> None:
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
