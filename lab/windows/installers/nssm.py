"""nssm 2.24 (the Non-Sucking Service Manager) as the Calico scripts use it: install, set, remove, stop.

Each call returns the lines nssm prints: its success messages go to stdout (the output stream), its failures to
stderr (NativeCommandError records). Services it installs are auto-start, LocalSystem, Stopped until started.
"""

from __future__ import annotations

from typing import Any

from lab.windows.host import Service

NSSM_REL_PATH = "nssm-2.24\\win64\\nssm.exe"

_START_TYPES = {"SERVICE_AUTO_START": "Automatic", "SERVICE_DELAYED_AUTO_START": "Automatic",
                "SERVICE_DEMAND_START": "Manual", "SERVICE_DISABLED": "Disabled"}


class Nssm:
    """nssm.exe at `path` on one host. `params[name]` keeps each service's nssm parameters."""

    def __init__(self, runtime: Any, path: str) -> None:
        self.rt = runtime
        self.path = path
        self.params: dict[str, dict[str, str]] = runtime.__dict__.setdefault("nssm_params", {})

    @property
    def present(self) -> bool:
        """True if nssm.exe is on the host's disk."""
        return self.rt.host.fs.is_file(self.path)

    def install(self, name: str, program: str) -> tuple[list[str], list[str]]:
        """`nssm install NAME PROGRAM` → (stdout lines, stderr lines)."""
        host = self.rt.host
        if host.service(name) is not None:
            return [], ["Error creating service!", "CreateService(): The specified service already exists."]
        host.add_service(Service(name, name, "Stopped", "Automatic", binary_path=self.path, account="LocalSystem"))
        self.params[name.lower()] = {"Application": program}
        return [f'Service "{name}" installed successfully!'], []

    def set(self, name: str, parameter: str, *values: str) -> tuple[list[str], list[str]]:
        """`nssm set NAME PARAMETER VALUE...`."""
        host = self.rt.host
        svc = host.service(name)
        if svc is None:
            return [], ["Can't open service!", "OpenService(): The specified service does not exist as an "
                                                "installed service."]
        value = " ".join(values)
        self.params.setdefault(svc.name.lower(), {})[parameter] = value
        p = parameter.lower()
        if p == "displayname":
            svc.display_name = value
        elif p == "description":
            svc.description = value
        elif p == "dependonservice":
            svc.depends_on = [v for v in values if v]
        elif p == "start":
            svc.start_type = _START_TYPES.get(value.upper(), svc.start_type)
        elif p == "objectname":
            svc.account = value
        host.note_change(f"nssm set {svc.name} {parameter}")
        return [f'Set parameter "{parameter}" for service "{svc.name}".'], []

    async def remove(self, name: str) -> tuple[list[str], list[str]]:
        """`nssm remove NAME confirm`: the service is deleted (a running one is stopped first by the scripts)."""
        host = self.rt.host
        svc = host.service(name)
        if svc is None:
            return [], ["Can't open service!", "OpenService(): The specified service does not exist as an "
                                                "installed service."]
        if svc.status != "Stopped":
            await host.stop_service(svc.name, force=True)
        self.rt.stop_service_task(svc.name)
        host.remove_service(svc.name)
        self.params.pop(svc.name.lower(), None)
        return [f'Service "{svc.name}" removed successfully!'], []

    async def stop(self, name: str) -> tuple[list[str], list[str]]:
        """`nssm stop NAME confirm`."""
        host = self.rt.host
        svc = host.service(name)
        if svc is None:
            return [], ["Can't open service!", "OpenService(): The specified service does not exist as an "
                                                "installed service."]
        await host.stop_service(svc.name, force=True)
        return [f"{svc.name}: STOP: The operation completed successfully."], []


def emit(io: Any, result: tuple[list[str], list[str]]) -> None:
    """Write an nssm call's stdout lines as output objects and its stderr as NativeCommandError records."""
    out, err = result
    for line in out:
        io.output(line)
    if err:
        io.native_stderr("\n".join(err))
