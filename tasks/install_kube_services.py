"""`install_kube_services`: kubelet and kube-proxy as Windows services (Calico's install-kube-services.ps1), started.

The script creates the nssm services and does not start them (runbook step ④); this step then runs
`Start-Service kubelet` and `Start-Service kube-proxy`. Services already installed are not reinstalled (the script
would fail on them); services already Running are left alone, so a second run sends no mutating command.
"""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from prefect_windows_nodes.blocks import JoinSettings, WindowsHost
from prefect_windows_nodes.tasks._core.results import StepRecorder, StepResult
from prefect_windows_nodes.tasks._core.retry import retry_on_transient
from prefect_windows_nodes.tasks._host.node_state import (CALICO_ROOT, read_calico_state, record_log_tail,
                                                          wait_for_state)

INSTALL_KUBE_SERVICES = f"{CALICO_ROOT}\\kubernetes\\install-kube-services.ps1"
SERVICES = ("kubelet", "kube-proxy")


# NO_CACHE: every run must really look at the host and cluster (and the inputs hold secrets).
@task(name="install_kube_services", retries=3, retry_delay_seconds=[2, 5, 10], retry_condition_fn=retry_on_transient,
      cache_policy=NO_CACHE)
async def install_kube_services(host: WindowsHost, settings: JoinSettings | None = None, *,
                                plan: bool = False) -> StepResult:
    """Install (if missing) and start the kubelet and kube-proxy services on `host`.

    Args:
        host: the Windows host, with Calico for Windows installed (`install_calico_windows`).
        settings: JoinSettings; `service_start_timeout_s` bounds the wait for both services to report Running.
        plan: report what would change and change nothing.

    Returns:
        StepResult "changed", "unchanged" (both already Running) or "planned".

    In plan mode on a host without Calico yet (the join's plan), the changes are reported as they will happen
    once install_calico_windows has run.

    Raises:
        StepFailed: Calico is not installed (nothing changed), or the services did not reach Running (the result
            carries the kubelet and kube-proxy log tails).

    Example:
        ```python
        from prefect_windows_nodes.blocks import WindowsHost
        from prefect_windows_nodes.tasks import install_kube_services

        result = await install_kube_services(WindowsHost.load("BLOCK_NAME"))
        ```
    """
    settings = settings or JoinSettings()
    rec = StepRecorder("install_kube_services", target=host.address, plan=plan)
    async with host.open_session() as ps:
        state = await read_calico_state(ps, with_version=False)
        for svc in SERVICES:
            rec.fact(f"{svc}_before", state.status(svc))
        if state.running(*SERVICES):
            get_run_logger().info("kubelet and kube-proxy already Running on %s", host.address)
            rec.check("kube-services", True, observed=state.describe_services(*SERVICES), expected="both Running")
            return rec.result()
        if state.status("CalicoNode") == "absent" and not plan:
            rec.check("calico-installed", False, observed="CalicoNode service absent",
                      expected="Calico for Windows installed (it ships install-kube-services.ps1)",
                      fix="Run install_calico_windows first.")
            rec.raise_if_failed()

        missing = [s for s in SERVICES if state.status(s) == "absent"]
        if missing:
            # The script installs both by default; `-service NAME` installs one (it fails on an existing one).
            params = {} if len(missing) == len(SERVICES) else {"service": missing[0]}
            rec.change(f"install service(s) {', '.join(missing)}: {INSTALL_KUBE_SERVICES}"
                       + (f" -service {params['service']}" if params else ""))
            if not plan:
                await ps.run(INSTALL_KUBE_SERVICES, **params)
        for svc in SERVICES:
            if state.status(svc) != "Running":
                rec.change(f"Start-Service {svc}")
                if not plan:
                    await ps.run("Start-Service", Name=svc)
        if plan:
            return rec.result()

        reached, final = await wait_for_state(ps, lambda s: s.running(*SERVICES), timeout_s=settings.service_start_timeout_s)
        observed = final.describe_services(*SERVICES) if final else "unknown"
        rec.check("kube-services", reached, observed=observed, expected="both Running",
                  fix="See the kubelet/kube-proxy logs in this report (c:\\k\\*.log); fix and re-run.")
        if not reached:
            await record_log_tail(ps, rec)
        rec.raise_if_failed()
    return rec.result()
