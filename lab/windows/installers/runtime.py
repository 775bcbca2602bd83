"""Per-host state of the installers part, and the PowerShell script semantics the installers run under.

`attach(host, kube=..., catalog=...)` connects one emulated host to the Kubernetes lab and the download catalog and
installs the service behaviours (CalicoNode/CalicoFelix/CalicoConfd, kubelet, kube-proxy). `ScriptIO` gives the
installers PowerShell's stream semantics: Write-Host → information, native stderr → NativeCommandError records,
`throw` → a failed pipeline, `exit N` → the end of one script with an exit code, `$ErrorActionPreference = "Stop"`
turning error records into terminating errors. Writes after the client's connection dropped are ignored (the
script keeps running on the host, as it does under wsmprovhost).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from lab.windows.dispatch import ErrorRecord, PipelineFailed, PSObj

from .catalog import DEFAULT_CATALOG, Catalog, DownloadError

if TYPE_CHECKING:
    from lab.windows.host import WindowsHost

log = logging.getLogger(__name__)

KUBE_DIR = "C:\\k"
CALICO_ROOT = "C:\\CalicoWindows"
CALICO_ZIP = "C:\\calico-windows.zip"
CALICO_REG_KEY = "HKLM:\\Software\\Tigera\\Calico"
DOWNLOAD_BYTES_PER_SECOND = 25 * 1024 * 1024


class ScriptExit(Exception):
    """`exit N` in a script: ends that script (not its caller) with exit code N."""

    def __init__(self, code: int = 0) -> None:
        super().__init__(code)
        self.code = code


def throw(message: str) -> PipelineFailed:
    """What `throw "message"` becomes: a RuntimeException record whose FQID is the message."""
    return PipelineFailed(ErrorRecord(message=message, category="OperationStopped", fqid=message,
                                      exception_type="System.Management.Automation.RuntimeException",
                                      target=message))


def method_exception(method: str, nargs: int, inner: str, fqid: str = "WebException") -> PipelineFailed:
    """A .NET method's exception surfacing in PowerShell: `Exception calling "M" with "N" argument(s): "..."`."""
    return PipelineFailed(ErrorRecord(
        message=f'Exception calling "{method}" with "{nargs}" argument(s): "{inner}"', category="NotSpecified",
        fqid=fqid, exception_type="System.Management.Automation.MethodInvocationException"))


class ScriptIO:
    """One running script's view of the pipeline streams, with its $ErrorActionPreference."""

    def __init__(self, streams: Any, *, stop_on_error: bool = False) -> None:
        self._streams = streams
        self.stop_on_error = stop_on_error
        self.lines: list[str] = []   # every Write-Host line (the console transcript), for tests and logs
        self.errors: list[str] = []  # every error record's message, terminating or not

    def _safe(self, fn: str, *args: Any) -> None:
        if self._streams is None:
            return
        try:
            getattr(self._streams, fn)(*args)
        except Exception:  # noqa: BLE001 - the client went away; the script still runs on the host
            log.debug("stream write after disconnect ignored", exc_info=True)

    def host(self, text: str) -> None:
        """Write-Host."""
        self.lines.append(text)
        self._safe("information", text)

    def output(self, obj: Any) -> None:
        """An object on the output stream (native stdout lines, Get-Service rows...)."""
        self._safe("output", obj)

    def verbose(self, text: str) -> None:
        """A verbose record (only written by commands given -Verbose)."""
        self._safe("verbose", text)

    def error(self, rec: ErrorRecord) -> None:
        """A non-terminating error; terminating under `$ErrorActionPreference = "Stop"`."""
        self.errors.append(rec.message)
        if self.stop_on_error:
            raise PipelineFailed(rec)
        self._safe("error", rec)

    def native_stderr(self, text: str, *, stop: bool | None = None) -> None:
        """A native program's stderr: one NativeCommandError record per line (Windows PowerShell 5.1 in a
        remote session). Under EAP Stop the first line ends the script."""
        stop = self.stop_on_error if stop is None else stop
        for i, line in enumerate(ln for ln in text.splitlines() if ln.strip()):
            # PowerShell 5.1 tags the first stderr line NativeCommandError, the following ones ...ErrorMessage.
            rec = ErrorRecord(message=line, category="NotSpecified",
                              fqid="NativeCommandError" if i == 0 else "NativeCommandErrorMessage",
                              exception_type="System.Management.Automation.RemoteException", target=line)
            self.errors.append(line)
            if stop:
                raise PipelineFailed(rec)
            self._safe("error", rec)


@dataclass
class ScriptRun:
    """One installer script run on the host: what it printed (Write-Host lines, also after the client's connection
    dropped — the console transcript a real operator would see), its task and its exit code."""

    name: str
    io: ScriptIO
    task: asyncio.Task
    exit_code: int | None = None

    @property
    def lines(self) -> list[str]:
        """Every Write-Host line so far."""
        return self.io.lines


@dataclass
class HostRuntime:
    """The installers' per-host state: the cluster, the download catalog, exit codes, running service loops."""

    host: "WindowsHost"
    kube: Any = None                      # lab.kube.cluster.KubeLab
    catalog: Catalog = field(default_factory=lambda: DEFAULT_CATALOG)
    last_exit_code: int = 0
    service_tasks: dict[str, asyncio.Task] = field(default_factory=dict)
    script_runs: list[ScriptRun] = field(default_factory=list)    # installer scripts started, newest last
    kubelet: Any = None                   # lab.windows.kubelet.WindowsKubelet, once attached
    node_runtime: Any = None              # lab.windows.kubelet.WindowsNodeRuntime
    calico: Any = None                    # lab.windows.installers.calico_services.CalicoServices

    # ---- downloads ---------------------------------------------------------------------------------------------
    async def download(self, url: str, destination: str) -> bytes:
        """Fetch `url` from the catalog into `destination` on the host, taking the (scaled, `slow`-faulted) time a
        real download of that size takes. Raises DownloadError (no such URL, or the disk is full)."""
        data = self.catalog.download(url)
        size = max(self.catalog.nominal_bytes(url), len(data))
        self.host.drop_point("download")
        await self.host.delay("download", size / DOWNLOAD_BYTES_PER_SECOND)
        try:
            self.host.fs.write_bytes(destination, data, logical_size=size, create_parents=False)
        except Exception as exc:  # noqa: BLE001 - a failed write is WebClient's generic failure
            raise DownloadError(url, "An exception occurred during a WebClient request.") from exc
        return data

    # ---- service loops -----------------------------------------------------------------------------------------
    def run_service(self, name: str, coro: Any) -> None:
        """Run a service's process body in the background (replacing a previous run)."""
        self.stop_service_task(name)
        self.service_tasks[name.lower()] = self.host.spawn(coro, name=f"{self.host.computer_name}:{name}")

    def stop_service_task(self, name: str) -> None:
        """End a service's process body (service stopped or removed)."""
        task = self.service_tasks.pop(name.lower(), None)
        if task is not None and not task.done():
            task.cancel()

    def service_running(self, name: str) -> bool:
        """True if the service exists and is Running."""
        svc = self.host.service(name)
        return svc is not None and svc.status == "Running"

    # ---- logs --------------------------------------------------------------------------------------------------
    def append_log(self, path: str, line: str) -> None:
        """Append one line to a log file on the host (creating its directory), as a service's stdout/stderr
        redirection does."""
        fs = self.host.fs
        parent = path.rsplit("\\", 1)[0]
        if not fs.is_dir(parent):
            fs.mkdir(parent)
        fs.append_text(path, line.rstrip("\n") + "\r\n")


_RUNTIMES: "weakref.WeakKeyDictionary[Any, HostRuntime]" = weakref.WeakKeyDictionary()


def runtime_for(host: "WindowsHost") -> HostRuntime:
    """The host's installer runtime (a detached one — no cluster — if `attach` was never called)."""
    rt = _RUNTIMES.get(host)
    if rt is None:
        rt = HostRuntime(host)
        _RUNTIMES[host] = rt
    return rt


def attach(host: "WindowsHost", *, kube: Any = None, catalog: Catalog | None = None) -> HostRuntime:
    """Connect `host` to the Kubernetes lab `kube` and the download `catalog`, and install the behaviours of the
    Calico services, kubelet and kube-proxy on it. Registers the host's `NodeRuntime` with `kube`. Idempotent."""
    rt = runtime_for(host)
    rt.kube = kube if kube is not None else rt.kube
    if catalog is not None:
        rt.catalog = catalog
    from . import handlers  # noqa: F401 - registers the installer scripts in the handler table
    from .calico_services import CalicoServices

    if rt.calico is None:
        rt.calico = CalicoServices(rt)
        rt.calico.install_hooks()
    if rt.kubelet is None:
        from lab.windows.kubelet import attach_kubelet

        attach_kubelet(rt)
    return rt


def klog_time(now: datetime | None = None) -> str:
    """klog's `MMDD HH:MM:SS.uuuuuu` prefix time."""
    now = now or datetime.now(timezone.utc)
    return now.strftime("%m%d %H:%M:%S.%f")


def service_object(svc: Any) -> PSObj:
    """A Get-Service row (ServiceController) as it reaches a PSRP client."""
    from lab.windows.handlers.objects import service_start_mode, service_status

    return PSObj(
        ["System.ServiceProcess.ServiceController", "System.ComponentModel.Component",
         "System.MarshalByRefObject", "System.Object"],
        {"Name": svc.name, "ServiceName": svc.name, "DisplayName": svc.display_name,
         "Status": service_status(svc.status), "StartType": service_start_mode(svc.start_type),
         "CanStop": svc.status == "Running" and svc.can_stop, "MachineName": ".", "ServiceType": "Win32OwnProcess",
         "ServicesDependedOn": list(svc.depends_on), "RequiredServices": list(svc.depends_on)},
        "System.ServiceProcess.ServiceController")
