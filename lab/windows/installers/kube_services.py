"""C:\\CalicoWindows\\kubernetes\\install-kube-services.ps1 and uninstall-kube-services.ps1.

`install-kube-services.ps1 [-service kubelet|kube-proxy]` creates the nssm services `kubelet` and `kube-proxy`
(auto-start, LocalSystem, logs in c:\\k) and does not start them; `uninstall-kube-services.ps1` stops and removes
them. Any other `-service` value prints the script's own message and exits.
"""

from __future__ import annotations

from typing import Any

from .calico import POWERSHELL, ps_str
from .nssm import NSSM_REL_PATH, Nssm, emit
from .runtime import CALICO_ROOT, KUBE_DIR, HostRuntime, ScriptExit, ScriptIO

_SERVICES = {
    "kubelet": ("kubelet-service.ps1", "kubelet service", "Kubenetes kubelet node agent."),
    "kube-proxy": ("kube-proxy-service.ps1", "kube-proxy service", "Kubenetes kube-proxy network proxy."),
}


def _install(rt: HostRuntime, io: ScriptIO, name: str) -> None:
    script, display, description = _SERVICES[name]
    io.host(f"Installing {name} service...")
    nssm = Nssm(rt, f"{CALICO_ROOT}\\{NSSM_REL_PATH}")
    emit(io, nssm.install(name, POWERSHELL))
    emit(io, nssm.set(name, "AppParameters", f"{CALICO_ROOT}\\kubernetes\\{script}"))
    emit(io, nssm.set(name, "AppDirectory", CALICO_ROOT))
    emit(io, nssm.set(name, "DisplayName", display))
    emit(io, nssm.set(name, "Description", description))
    for param, value in (("Start", "SERVICE_AUTO_START"), ("ObjectName", "LocalSystem"),
                         ("Type", "SERVICE_WIN32_OWN_PROCESS"), ("AppThrottle", "1500"),
                         ("AppStdout", f"{KUBE_DIR.lower()}\\{name}.out.log"),
                         ("AppStderr", f"{KUBE_DIR.lower()}\\{name}.err.log"),
                         ("AppRotateFiles", "1"), ("AppRotateOnline", "1"), ("AppRotateSeconds", "86400"),
                         ("AppRotateBytes", "10485760")):
        emit(io, nssm.set(name, param, value))
    io.host(f"Done installing {name} service.")


def _check_service_param(io: ScriptIO, service: str) -> None:
    if service and service.lower() not in _SERVICES:
        io.host("Invalid -service value. Valid values are: 'kubelet' or 'kube-proxy'")
        raise ScriptExit(0)


def run_install_kube_services(rt: HostRuntime, io: ScriptIO, service: Any = None) -> None:
    """install-kube-services.ps1: create kubelet and/or kube-proxy (Stopped)."""
    svc = ps_str(service)
    _check_service_param(io, svc)
    if not rt.host.fs.is_file(f"{CALICO_ROOT}\\{NSSM_REL_PATH}"):
        from .calico import _not_recognized

        io.error(_not_recognized(f"{CALICO_ROOT}\\kubernetes\\..\\{NSSM_REL_PATH}"))
        return
    rt.host.drop_point("install-kube-services")
    if svc == "":
        _install(rt, io, "kubelet")
        _install(rt, io, "kube-proxy")
    else:
        _install(rt, io, svc.lower())


async def run_uninstall_kube_services(rt: HostRuntime, io: ScriptIO, service: Any = None) -> None:
    """uninstall-kube-services.ps1: stop and remove kubelet and/or kube-proxy ($ErrorActionPreference is
    SilentlyContinue there: missing services are not errors)."""
    svc = ps_str(service)
    _check_service_param(io, svc)
    nssm = Nssm(rt, f"{CALICO_ROOT}\\{NSSM_REL_PATH}")
    names = ["kube-proxy", "kubelet"] if svc == "" else [svc.lower()]
    if svc == "":
        io.host("Stopping kubelet kube-proxy services if they are running...")
    else:
        io.host(f"Stopping {svc} service if it is running...")
    for name in ("kubelet", "kube-proxy") if svc == "" else (svc.lower(),):
        s = rt.host.service(name)
        if s is not None and s.status != "Stopped":
            await rt.host.stop_service(name, force=True)
    if nssm.present:
        for name in names:
            out, _err = await nssm.remove(name)
            emit(io, (out, []))
    io.host("Done")
