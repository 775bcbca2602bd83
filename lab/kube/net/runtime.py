"""The ExecRuntime and LogProvider the API server calls for `pods/exec` and `pods/log`.

Exec goes to the pod's node runtime first (a Windows host may answer itself); otherwise the lab's command
interpreters run it over the network model. Logs come from what the containers' images print at start-up plus,
for web servers, an access-log line per request served.
"""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable

from ..errors import BadRequest
from ..controllers import images
from ..controllers.podutil import meta
from . import commands

try:  # the kube-api engineer's module; same shape if it is not there yet
    from ..exec import ExecResult  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - only while lab/kube/exec.py does not exist
    from dataclasses import dataclass

    @dataclass
    class ExecResult:  # type: ignore[no-redef]
        stdout: bytes
        stderr: bytes
        exit_code: int


def container_state(pod: dict, container: str | None) -> tuple[str | None, dict | None]:
    """(container name, its status) for `container` (the first container when None)."""
    spec = pod.get("spec") or {}
    names = [c["name"] for c in spec.get("containers") or []]
    name = container or (names[0] if names else None)
    status = next((cs for cs in (pod.get("status") or {}).get("containerStatuses") or []
                   if cs.get("name") == name), None)
    return name, status


def exec_precondition(pod: dict, container: str | None) -> str | None:
    """The API server's error for an exec that cannot start (unknown or not-running container), else None."""
    spec = pod.get("spec") or {}
    names = [c["name"] for c in spec.get("containers") or []]
    name = container or (names[0] if names else "")
    if name not in names:
        return f'container {name} is not valid for pod {meta(pod).get("name")}'
    _, status = container_state(pod, name)
    if not status or not (status.get("state") or {}).get("running"):
        return f'unable to upgrade connection: container not found ("{name}")'
    return None


def log_precondition(pod: dict, container: str | None) -> str | None:
    """The API server's error for logs of a container that has not started, else None."""
    name, status = container_state(pod, container)
    spec_names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    if container and container not in spec_names:
        return f'container {container} is not valid for pod {meta(pod).get("name")}'
    if status is None or (status.get("state") or {}).get("waiting"):
        reason = ((status or {}).get("state") or {}).get("waiting", {}).get("reason", "ContainerCreating")
        return f'container "{name}" in pod "{meta(pod).get("name")}" is waiting to start: {reason}'
    return None


def make_exec_runtime(ctx: Any, net: Any) -> Callable[..., Awaitable[ExecResult]]:
    """The cluster's ExecRuntime: (pod, container, argv, stdin) → ExecResult."""

    async def exec_runtime(pod: dict, container: str, argv: list[str], stdin: bytes | None = None) -> ExecResult:
        err = exec_precondition(pod, container)
        if err:
            raise BadRequest(err)
        node_name = (pod.get("spec") or {}).get("nodeName") or ""
        rt = ctx.runtimes.get(node_name)
        if rt is not None:
            own = await rt.exec(pod, container, list(argv))
            if own is not None:
                return own
        p = await commands.run(net, pod, container or "", list(argv), stdin)
        return ExecResult(p.stdout.encode(), p.stderr.encode(), p.code)

    async def exec_stream(pod: dict, container: str, argv: list[str], io: Any) -> int:
        err = exec_precondition(pod, container)
        if err:
            raise BadRequest(err)
        rt = ctx.runtimes.get((pod.get("spec") or {}).get("nodeName") or "")
        if rt is not None:
            own = await rt.exec(pod, container, list(argv))
            if own is not None:
                await io.write_stdout(own.stdout)
                await io.write_stderr(own.stderr)
                return own.exit_code
        return await commands.run_stream(net, pod, container or "", list(argv), io)

    exec_runtime.stream = exec_stream  # type: ignore[attr-defined]  # the API server streams through this
    return exec_runtime


def make_log_provider(ctx: Any, net: Any) -> Callable[[dict, str], str]:
    """The cluster's LogProvider: (pod, container) → the container's log text."""

    def logs(pod: dict, container: str) -> str:
        name, status = container_state(pod, container or None)
        if name is None:
            return ""
        c = next((c for c in (pod.get("spec") or {}).get("containers") or [] if c["name"] == name), {})
        started = ((status or {}).get("state") or {}).get("running", {}).get("startedAt") or ""
        lines = startup_lines(c.get("image") or "", started)
        lines += net.access_log.get((meta(pod).get("uid"), name), [])
        fn = getattr(ctx.runtimes.get((pod.get("spec") or {}).get("nodeName") or ""), "pod_logs", None)
        if callable(fn):
            extra = fn(pod, name)
            if extra:
                lines.append(extra.rstrip("\n"))
        return "".join(line + "\n" for line in lines)

    return logs


def startup_lines(image: str, started: str) -> list[str]:
    """What a container of `image` prints when it starts."""
    short = images.short_name(image)
    stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime())
    if "nginx" in short:
        return ["/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration",
                "/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/",
                "/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh",
                "10-listen-on-ipv6-by-default.sh: info: Getting the checksum of /etc/nginx/conf.d/default.conf",
                "10-listen-on-ipv6-by-default.sh: info: Enabled listen on IPv6 in /etc/nginx/conf.d/default.conf",
                "/docker-entrypoint.sh: Launching /docker-entrypoint.d/20-envsubst-on-templates.sh",
                "/docker-entrypoint.sh: Launching /docker-entrypoint.d/30-tune-worker-processes.sh",
                "/docker-entrypoint.sh: Configuration complete; ready for start up",
                f'{stamp} [notice] 1#1: using the "epoll" event method',
                f"{stamp} [notice] 1#1: nginx/1.21.6", f"{stamp} [notice] 1#1: start worker processes"]
    if short == "coredns":
        return [".:53", "[INFO] plugin/reload: Running configuration MD5 = db32ca3650231d74073ff4cf814959a7",
                "CoreDNS-1.8.4", "linux/amd64, go1.16.4, 053c4d5"]
    if short == "node" and "calico" in image:
        return ["2022-03-10 08:00:01.123 [INFO][9] startup/startup.go 425: Early log level set to info",
                "2022-03-10 08:00:01.456 [INFO][9] startup/startup.go 711: Calico node started successfully"]
    if short == "kube-proxy":
        return ['I0310 08:00:02.000000       1 server_others.go:140] Detected node IP', 
                'I0310 08:00:02.100000       1 server_others.go:206] "Using iptables Proxier"']
    return []
