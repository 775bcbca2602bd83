"""Pod exec over WebSocket, as the kubelet streams it through the API server.

Channel protocols `v5.channel.k8s.io` and `v4.channel.k8s.io`: every binary frame starts with a channel byte
(0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize); the command's end is a `Status` on the error channel (exit code 0
is `Success`, anything else `NonZeroExitCode` with the code in `details.causes[0].message`). v5 adds the close
frame `[255, channel]` with which a client ends its stdin.

What a command does is not decided here: an `ExecRuntime` (set by the controllers / network model) gets the pod,
the container, argv and stdin and returns an `ExecResult`.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from aiohttp import WSMsgType, web

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE_SIGNAL = 255
PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
V4_STDIN_IDLE = 0.3  # v4 clients cannot say "stdin ended"; this much silence counts as the end


@dataclass
class ExecResult:
    """What a command printed and how it ended."""

    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: int = 0


ExecRuntime = Callable[[dict, str, list[str], "bytes | None"], Awaitable[ExecResult]]


async def command_not_found(pod: dict, container: str, argv: list[str], stdin: bytes | None) -> ExecResult:
    """The default runtime: every command is missing from the container (as in an image without it)."""
    name = argv[0] if argv else ""
    return ExecResult(b"", f'exec: "{name}": executable file not found in $PATH\n'.encode(), 127)


def exit_status(argv: list[str], code: int) -> dict[str, Any]:
    """The Status a real API server writes on the error channel when a command exits with `code`."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {}, "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command [{' '.join(argv)}], "
                   f"exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def offered_protocols(request: web.Request) -> list[str]:
    header = request.headers.get("Sec-WebSocket-Protocol", "")
    return [p.strip() for p in header.split(",") if p.strip()]


def negotiate(request: web.Request) -> str | None:
    """The channel protocol to speak: the client's first one that we support, or None."""
    for p in offered_protocols(request):
        if p in PROTOCOLS:
            return p
    return None


async def serve(request: web.Request, run: Callable[[bytes | None], Awaitable[ExecResult]], argv: list[str], *,
                want_stdin: bool, want_stdout: bool, want_stderr: bool, tty: bool) -> web.WebSocketResponse:
    """Upgrade `request`, feed stdin (when asked) to `run`, stream its output and exit status, close."""
    protocol = negotiate(request)
    ws = web.WebSocketResponse(protocols=(protocol,) if protocol else (), autoping=True)
    await ws.prepare(request)
    v5 = protocol == PROTOCOLS[0]
    stdin: bytes | None = None
    if want_stdin:
        stdin = await _read_stdin(ws, v5)
    try:
        result = await run(stdin)
    except Exception as exc:  # a runtime bug must not hang the client: report it as the real server would
        status = {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {exc}",
                  "reason": "InternalError", "code": 500}
        await _send(ws, ERROR, json.dumps(status).encode())
        await ws.close()
        return ws
    if want_stdout and result.stdout:
        await _send(ws, STDOUT, result.stdout)
    if result.stderr:
        if tty and want_stdout:
            await _send(ws, STDOUT, result.stderr)
        elif want_stderr:
            await _send(ws, STDERR, result.stderr)
    await _send(ws, ERROR, json.dumps(exit_status(argv, result.exit_code)).encode())
    await ws.close()
    return ws


async def _send(ws: web.WebSocketResponse, channel: int, data: bytes) -> None:
    if ws.closed:
        return
    try:
        await ws.send_bytes(bytes([channel]) + data)
    except ConnectionError:
        pass


async def _read_stdin(ws: web.WebSocketResponse, v5: bool) -> bytes:
    chunks: list[bytes] = []
    while True:
        try:
            msg = await (ws.receive() if v5 else ws.receive(timeout=V4_STDIN_IDLE))
        except asyncio.TimeoutError:
            break
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            break
        data = msg.data if msg.type == WSMsgType.BINARY else str(msg.data).encode()
        if not data:
            continue
        if data[0] == STDIN:
            chunks.append(data[1:])
        elif v5 and data[0] == CLOSE_SIGNAL and data[1:2] == bytes([STDIN]):
            break
    return b"".join(chunks)
