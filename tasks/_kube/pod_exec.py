"""Run a command in a pod's container through the API server's exec websocket (`kubernetes.aio`'s WsApiClient).

`kubernetes.aio.stream.WsApiClient` offers the `v4.channel.k8s.io` protocol only: binary frames whose first byte is
the channel (1 stdout, 2 stderr, 3 error). The command's end is a `Status` on the error channel: `Success`, or
`NonZeroExitCode` with the exit code in `details.causes[ExitCode].message`; any other Failure (container not found,
cannot exec in a completed pod...) means the command did not run at all.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from kubernetes.aio import client as kclient
from kubernetes.aio.stream import WsApiClient

STDOUT, STDERR, ERROR = 1, 2, 3


@dataclass(frozen=True)
class ExecOutput:
    """What an exec'd command printed and how it ended (`exit_code` from the error channel's Status)."""

    stdout: str
    stderr: str
    exit_code: int
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.exit_code == 0


class ExecError(Exception):
    """The command could not be run: the websocket handshake was refused (pod or container missing, no RBAC for
    pods/exec), the API server reported a Failure that is not an exit code, or the exec outlived its timeout."""


def _ws_client(api: kclient.ApiClient) -> WsApiClient:
    """A WsApiClient that shares `api`'s configuration and HTTP session (so TLS, client certificates and tokens
    are the block's); it must not be closed on its own: `api` owns the session."""
    ws = WsApiClient(configuration=api.configuration)
    ws.rest_client = api.rest_client
    return ws


def exit_code_of(status: dict[str, Any]) -> int | None:
    """The exit code an error-channel Status reports: 0 for Success, the ExitCode cause for NonZeroExitCode, None
    when the Status is a failure to run the command at all."""
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message"))
                except (TypeError, ValueError):
                    return None
    return None


async def exec_in_pod(api: kclient.ApiClient, namespace: str, pod: str, argv: list[str], *,
                      container: str | None = None, timeout_s: float = 60.0) -> ExecOutput:
    """Run `argv` (no shell) in `pod` (its first container unless `container` is given) and return its stdout,
    stderr and exit code. A non-zero exit is a normal outcome, not an exception.

    Raises:
        ExecError: the command could not be run, or did not finish within `timeout_s`.
    """
    core = kclient.CoreV1Api(_ws_client(api))
    kwargs: dict[str, Any] = {"command": argv, "stderr": True, "stdin": False, "stdout": True, "tty": False}
    if container:
        kwargs["container"] = container
    out: list[bytes] = []
    err: list[bytes] = []
    status: dict[str, Any] | None = None
    try:
        async with asyncio.timeout(timeout_s):
            connect = await core.connect_get_namespaced_pod_exec_without_preload_content(pod, namespace, **kwargs)
            async with connect as ws:
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        data = msg.data
                    elif msg.type == aiohttp.WSMsgType.TEXT:
                        data = msg.data.encode()
                    else:  # CLOSE / ERROR
                        break
                    if not data:
                        continue
                    channel, payload = data[0], data[1:]
                    if channel == STDOUT:
                        out.append(payload)
                    elif channel == STDERR:
                        err.append(payload)
                    elif channel == ERROR and payload:
                        status = json.loads(payload)
    except TimeoutError:
        raise ExecError(f"exec {argv!r} in {namespace}/{pod} did not finish within {timeout_s:g}s") from None
    except aiohttp.WSServerHandshakeError as exc:
        raise ExecError(f"exec in {namespace}/{pod} was refused: HTTP {exc.status} {exc.message}") from None
    stdout = b"".join(out).decode(errors="replace")
    stderr = b"".join(err).decode(errors="replace")
    if status is None:
        raise ExecError(f"exec {argv!r} in {namespace}/{pod} ended without an exit status")
    code = exit_code_of(status)
    if code is None:
        raise ExecError(f"exec {argv!r} in {namespace}/{pod} failed: {status.get('message') or status}")
    return ExecOutput(stdout=stdout, stderr=stderr, exit_code=code, status=status)
