"""Registers the installer scripts with the emulated host's command table, by what the script file contains.

A `.ps1` invoked by path whose text carries `lab-script: install-calico-windows v3.22.5` runs that release's
installer with exactly that release's parameters (an unknown one gets PowerShell's "A parameter cannot be found
that matches parameter name" error). The zip's scripts (`install-calico`, `uninstall-calico`,
`install-kube-services`, `uninstall-kube-services`) are registered the same way. Each script runs as a host task
shielded from the pipeline: when the client's connection drops, the script still finishes on the host.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from lab.windows.handlers import DEFAULT_TABLE, Invocation

from .calico import Installer, run_install_calico, run_uninstall_calico, start_calico
from .catalog import identify
from .kube_services import run_install_kube_services, run_uninstall_kube_services
from .releases import CALICO_VERSIONS, release
from .runtime import ScriptExit, ScriptIO, ScriptRun, runtime_for


async def _run_shielded(inv: Invocation, body: Callable[[ScriptIO], Awaitable[Any]], *,
                        stop_on_error: bool = False) -> None:
    """Run a script body as host work; record its exit code. A terminating error fails the pipeline."""
    rt = runtime_for(inv.host)
    io = ScriptIO(inv.streams, stop_on_error=stop_on_error)

    run: ScriptRun | None = None

    async def script() -> int:
        try:
            result = await body(io)
        except ScriptExit as exc:
            result = exc.code
        code = result if isinstance(result, int) else 0
        if run is not None:
            run.exit_code = code
        rt.last_exit_code = code
        return code

    task = inv.host.spawn(script(), name=f"{inv.host.computer_name}:{inv.spec.name}")
    run = ScriptRun(inv.spec.name, io, task)
    rt.script_runs.append(run)
    code = await asyncio.shield(task)
    inv.context.extra["LASTEXITCODE"] = code


def _installer_handler(version: str) -> Callable[[Invocation], Awaitable[None]]:
    rel = release(version)

    async def handler(inv: Invocation) -> None:
        rt = runtime_for(inv.host)

        async def body(io: ScriptIO) -> int:
            return await Installer(rt, rel, inv.params, io).run()

        await _run_shielded(inv, body, stop_on_error=rel.stops_on_errors)
    return handler


def _matcher(version: str) -> Callable[[str], bool]:
    return lambda text: identify(text) == ("install-calico-windows", version)


def register_all(table: Any = DEFAULT_TABLE) -> None:
    """Register every installer script kind in `table` (idempotent)."""
    for v in CALICO_VERSIONS:
        rel = release(v)
        names = tuple(n for n, _ in rel.installer_parameters())
        kind = f"install-calico-windows-{v}"
        table.register_script_kind(kind, _installer_handler(v), matcher=_matcher(v), parameters=names,
                                   name="install-calico-windows.ps1")
        table.script_kinds[kind].positional = names  # script parameters bind by position too

    async def install_calico(inv: Invocation) -> None:
        rt = runtime_for(inv.host)
        await _run_shielded(inv, lambda io: run_install_calico(rt, io))

    async def uninstall_calico(inv: Invocation) -> None:
        rt = runtime_for(inv.host)
        except_upgrade = inv.get("ExceptUpgradeService", False)
        await _run_shielded(inv, lambda io: run_uninstall_calico(rt, io, bool(except_upgrade) and
                                                                 str(except_upgrade).lower() not in ("false", "0")))

    async def start(inv: Invocation) -> None:
        rt = runtime_for(inv.host)
        await _run_shielded(inv, lambda io: start_calico(rt, io))

    async def install_kube(inv: Invocation) -> None:
        rt = runtime_for(inv.host)

        async def body(io: ScriptIO) -> None:
            run_install_kube_services(rt, io, inv.get("service"))
        await _run_shielded(inv, body)

    async def uninstall_kube(inv: Invocation) -> None:
        rt = runtime_for(inv.host)
        await _run_shielded(inv, lambda io: run_uninstall_kube_services(rt, io, inv.get("service")))

    table.register_script_kind("install-calico", install_calico, name="install-calico.ps1")
    table.register_script_kind("start-calico", start, name="start-calico.ps1")
    table.register_script_kind("uninstall-calico", uninstall_calico, parameters=("ExceptUpgradeService",),
                               name="uninstall-calico.ps1")
    table.script_kinds["uninstall-calico"].positional = ("ExceptUpgradeService",)
    for kind, fn in (("install-kube-services", install_kube), ("uninstall-kube-services", uninstall_kube)):
        table.register_script_kind(kind, fn, parameters=("service",), name=f"{kind}.ps1")
        table.script_kinds[kind].positional = ("service",)


register_all()
