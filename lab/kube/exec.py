"""Pod exec over WebSocket, as the kubelet streams it through the API server.

Channel protocols: every binary frame starts with a channel byte (0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize);
the command's end is a `Status` on the error channel (exit code 0 is `Success`, anything else `NonZeroExitCode` with
the code in `details.causes[0].message`). Which protocols a server offers depends on its release
(`protocols_for`): `v4.channel.k8s.io` and older everywhere; `v5.channel.k8s.io` — which adds the close frame
`[255, channel]` with which a client ends its stdin — only from 1.30, where websocket streaming became the default
(kubectl ≥ 1.30 offers only v5 over websockets, and against an older server falls back to SPDY, which the lab does
not serve).

What a command does is not decided here. An `ExecRuntime` (set by the controllers / network model) gets the pod,
the container, argv and all of stdin and returns an `ExecResult`. A runtime that has a `stream` attribute (an
`ExecStream`) runs the process while the streams are open instead: it reads stdin as frames arrive and its output
goes out as it is written, so an interactive shell answers line by line.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from aiohttp import WSMsgType, web

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE_SIGNAL = 255
V5 = "v5.channel.k8s.io"
PROTOCOLS = (V5, "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io")
V5_SINCE_MINOR = 30
V4_STDIN_IDLE = 0.3  # collected mode only: v4 clients cannot say "stdin ended"; this much silence counts as the end


@dataclass
class ExecResult:
    """What a command printed and how it ended."""

    stdout: bytes = b""
    stderr: bytes = b""
    exit_code: int = 0


ExecRuntime = Callable[[dict, str, list[str], "bytes | None"], Awaitable[ExecResult]]


class ExecIO:
    """The streams of a running exec: stdin as the client sends it, stdout/stderr sent as they are written."""

    def __init__(self, ws: web.WebSocketResponse, *, want_stdout: bool, want_stderr: bool, tty: bool) -> None:
        self._ws = ws
        self._stdout, self._stderr, self._tty = want_stdout, want_stderr, tty
        self.stdin = asyncio.StreamReader()

    async def readline(self) -> bytes:
        """The next line of stdin (b"" at its end)."""
        return await self.stdin.readline()

    async def read_all(self) -> bytes:
        """The rest of stdin, once the client has ended it."""
        return await self.stdin.read()

    async def write_stdout(self, data: bytes) -> None:
        if data and self._stdout:
            await _send(self._ws, STDOUT, data)

    async def write_stderr(self, data: bytes) -> None:
        if not data:
            return
        if self._tty and self._stdout:  # a terminal merges stderr into stdout
            await _send(self._ws, STDOUT, data)
        elif self._stderr:
            await _send(self._ws, STDERR, data)


# A streaming runtime: (pod, container, argv, streams) → exit code.
ExecStream = Callable[[dict, str, list[str], ExecIO], Awaitable[int]]


def protocols_for(minor: int) -> tuple[str, ...]:
    """The channel protocols a server of Kubernetes 1.<minor> offers, preferred first."""
    return PROTOCOLS if minor >= V5_SINCE_MINOR else PROTOCOLS[1:]


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


def negotiate(request: web.Request, minor: int = V5_SINCE_MINOR) -> str | None:
    """The channel protocol to speak: the client's first one that a 1.<minor> server supports, or None."""
    supported = protocols_for(minor)
    for p in offered_protocols(request):
        if p in supported:
            return p
    return None


async def serve_streaming(request: web.Request, protocol: str, start: Callable[[ExecIO], Awaitable[int]],
                          argv: list[str], *, want_stdin: bool, want_stdout: bool, want_stderr: bool,
                          tty: bool) -> web.WebSocketResponse:
    """Upgrade `request` and run `start(io)` while stdin frames are fed to it and its output goes out as written;
    then the exit status, and close. Stdin ends with the v5 close frame or when the client closes."""
    ws = web.WebSocketResponse(protocols=(protocol,), autoping=True)
    await ws.prepare(request)
    io = ExecIO(ws, want_stdout=want_stdout, want_stderr=want_stderr, tty=tty)
    if not want_stdin:
        io.stdin.feed_eof()
    pump = asyncio.ensure_future(_pump_stdin(ws, io.stdin, protocol == V5)) if want_stdin else None
    try:
        code = await start(io)
        status = exit_status(argv, code)
    except Exception as exc:  # a runtime bug must not hang the client: report it as the real server would
        status = {"metadata": {}, "status": "Failure", "message": f"Internal error occurred: {exc}",
                  "reason": "InternalError", "code": 500}
    finally:
        if pump is not None:
            pump.cancel()
    await _send(ws, ERROR, json.dumps(status).encode())
    await ws.close()
    return ws


async def _pump_stdin(ws: web.WebSocketResponse, stdin: asyncio.StreamReader, v5: bool) -> None:
    try:
        async for msg in ws:
            if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                break
            data = msg.data if msg.type == WSMsgType.BINARY else str(msg.data).encode()
            if not data:
                continue
            if data[0] == STDIN:
                stdin.feed_data(data[1:])
            elif v5 and data[0] == CLOSE_SIGNAL and data[1:2] == bytes([STDIN]):
                break
    finally:
        if not stdin.at_eof():
            stdin.feed_eof()


async def serve(request: web.Request, run: Callable[[bytes | None], Awaitable[ExecResult]], argv: list[str], *,
                want_stdin: bool, want_stdout: bool, want_stderr: bool, tty: bool,
                protocol: str | None = None) -> web.WebSocketResponse:
    """Upgrade `request`, collect stdin (when asked) and give it to `run`, send its output and exit status, close."""
    protocol = protocol or negotiate(request)
    ws = web.WebSocketResponse(protocols=(protocol,) if protocol else (), autoping=True)
    await ws.prepare(request)
    v5 = protocol == V5
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
