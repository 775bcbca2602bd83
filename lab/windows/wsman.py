"""The WinRM endpoint of one emulated Windows host: HTTP(S) on a free loopback port, Basic and NTLM/Negotiate
authentication, WinRM message encryption and wire faults; the decrypted SOAP goes to the WSMan shell service
(`lab/windows/wsman_shells.py`), which carries PowerShell Remoting to `lab/windows/psrp.py`.

It is a small HTTP/1.1 server on asyncio streams rather than a framework, because WinRM ties NTLM authentication
and message encryption to the TCP connection, and because the lab must be able to drop every open connection at
once (`drop_connections`, what creating the HNS network does to a real host's WinRM sessions).
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import itertools
import logging
import socket
import ssl
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from .auth import NegotiateAcceptor, UserTable, parse_basic
from .dispatch import Dispatcher
from .psrp import PSRPShell
from .wire_faults import WireFaults
from .wsman_shells import ShellService

log = logging.getLogger(__name__)

MAX_ENVELOPE_SIZE_KB = 500  # the default of Windows Server 2012 and later
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
            411: "Length Required", 413: "Request Entity Too Large", 500: "Internal Server Error",
            503: "Service Unavailable"}
_ids = itertools.count(1)


@dataclass
class ConnectionRecord:
    """One TCP connection the endpoint accepted."""

    id: int
    peer: str
    user: str | None = None  # the authenticated user, as the client named it
    auth: str | None = None  # "basic" | "ntlm" | "negotiate"
    requests: int = 0
    opened_at: float = field(default_factory=time.time)
    closed_at: float | None = None
    dropped: bool = False  # closed by the server (drop_connections / drop_on_next_request)


@dataclass
class WireRecords:
    """What the endpoint saw: connections, HTTP requests, WSMan actions, drops, injected failures, 401s."""

    connections: list[ConnectionRecord] = field(default_factory=list)
    requests: int = 0  # HTTP requests, including authentication legs
    actions: Counter = field(default_factory=Counter)  # WSMan actions answered: Create, Command, Receive, ...
    dropped: int = 0  # connections the server closed
    injected_failures: int = 0
    auth_failures: int = 0
    encrypted_messages: int = 0  # requests that arrived as WinRM-encrypted multipart bodies
    faults: Counter = field(default_factory=Counter)  # WSMan fault codes answered (2150858793 = operation timeout)

    def clear(self) -> None:
        """Forget everything recorded so far (open connections stay listed)."""
        self.connections = [c for c in self.connections if c.closed_at is None]
        self.requests = self.dropped = self.injected_failures = self.auth_failures = self.encrypted_messages = 0
        self.actions.clear()
        self.faults.clear()

    def users(self) -> set[str]:
        """Every user that authenticated."""
        return {c.user for c in self.connections if c.user}


@dataclass
class _HttpRequest:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class _Connection:
    def __init__(self, record: ConnectionRecord, writer: asyncio.StreamWriter) -> None:
        self.record = record
        self.writer = writer
        self.task = asyncio.current_task()
        self.acceptor: NegotiateAcceptor | None = None  # NTLM/Negotiate context bound to this connection
        self.busy = False  # a request is being answered on this connection


class WinRMServer:
    """A WinRM listener for one emulated host; several can run in one process, each on its own port.

    `users` maps local account names to passwords; `domain` is the host's NetBIOS name/domain (NTLM clients may
    send it, or nothing). `tls=None` serves plain HTTP (NTLM then encrypts every message, as pypsrp requires).
    """

    def __init__(self, dispatcher: Dispatcher, *, users: dict[str, str], domain: str,
                 tls: ssl.SSLContext | None, host: str = "127.0.0.1", auth: tuple[str, ...] = ("ntlm", "basic"),
                 faults: WireFaults | None = None, port: int = 0, machine: str | None = None,
                 max_envelope_size_kb: int = MAX_ENVELOPE_SIZE_KB) -> None:
        self.dispatcher = dispatcher
        self.users = UserTable(users, domain)
        self.domain = domain
        self.tls = tls
        self.host = host
        self.auth = tuple(a.lower() for a in auth)
        self.faults = faults or WireFaults()
        self.port = port
        self.records = WireRecords()
        self.service = ShellService(dispatcher, records=self.records, address=lambda: self.url,
                                    machine=machine or domain, max_envelope_size=max_envelope_size_kb * 1024,
                                    on_change=self._notify)
        self._server: asyncio.base_events.Server | None = None
        self._connections: dict[int, _Connection] = {}
        self._changed = asyncio.Event()

    @property
    def shells(self) -> dict[str, PSRPShell]:
        """Open shells (runspace pools) by ShellId."""
        return self.service.shells

    @property
    def waiting_receives(self) -> int:
        """Receives parked until their pipeline has output (pypsrp's long poll)."""
        return self.service.waiting_receives

    @property
    def url(self) -> str:
        """The endpoint URL, e.g. `https://127.0.0.1:PORT/wsman`."""
        scheme = "https" if self.tls else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}/wsman"

    async def start(self) -> None:
        """Listen on `host` (port 0 = a free port; `url` tells which)."""
        self._server = await asyncio.start_server(self._on_connection, self.host, self.port, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close the listener, every connection and every shell."""
        if self._server is not None:
            self._server.close()
        self._abort_all(dropped=False)
        self.service.close_all()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def drop_connections(self) -> int:
        """Close every open TCP connection now, as creating an HNS network does to a real host; shells and running
        pipelines survive. The client sees a connection error on its next request either way: a request in flight
        (pypsrp's Receive long poll) fails at once; if none was in flight, the next request is dropped too instead
        of silently reconnecting. Returns how many connections were closed."""
        in_flight = any(c.busy for c in self._connections.values())
        closed = self._abort_all(dropped=True)
        if not in_flight:
            self.faults.drop_on_next_request = True
        return closed

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until `predicate()` holds; it is re-checked whenever the endpoint's state or records change
        (requests, Receives parking, faults, drops). Raises TimeoutError after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()

    def _abort_all(self, dropped: bool) -> int:
        conns = list(self._connections.values())
        for conn in conns:
            self._abort(conn, dropped)
        return len(conns)

    def _abort(self, conn: _Connection, dropped: bool) -> None:
        if dropped:
            conn.record.dropped = True
            self.records.dropped += 1
        conn.writer.transport.abort()
        if conn.task is not None and conn.task is not asyncio.current_task():
            conn.task.cancel()
        self._forget(conn)

    def _forget(self, conn: _Connection) -> None:
        if self._connections.pop(conn.record.id, None) is not None:
            conn.record.closed_at = time.time()
            self._notify()

    # --- HTTP ------------------------------------------------------------------------------------------------

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # headers and body leave in one segment
        peer = writer.get_extra_info("peername")
        record = ConnectionRecord(id=next(_ids), peer=f"{peer[0]}:{peer[1]}" if peer else "?")
        self.records.connections.append(record)
        conn = _Connection(record, writer)
        self._connections[record.id] = conn
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    break
                conn.busy = True
                try:
                    keep_alive = await self._handle(conn, request)
                finally:
                    conn.busy = False
                    self._notify()
                if not keep_alive:
                    break
        except asyncio.CancelledError:
            pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ssl.SSLError, ValueError):
            pass
        finally:
            self._forget(conn)
            if record.dropped:
                writer.transport.abort()
            else:
                writer.close()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> _HttpRequest | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                key = name.strip().lower()
                headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
        else:
            body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
        return _HttpRequest(method.upper(), target, headers, body)

    async def _respond(self, conn: _Connection, status: int, body: bytes = b"",
                       headers: list[tuple[str, str]] | None = None) -> None:
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}", "Server: Microsoft-HTTPAPI/2.0",
                 f"Date: {email.utils.formatdate(usegmt=True)}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in headers or []]
        conn.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await conn.writer.drain()

    def _challenges(self) -> list[tuple[str, str]]:
        out = []
        if "ntlm" in self.auth or "negotiate" in self.auth:
            out.append(("WWW-Authenticate", "Negotiate"))
        if "basic" in self.auth:
            out.append(("WWW-Authenticate", 'Basic realm="WSMAN"'))
        return out

    async def _unauthorized(self, conn: _Connection, header: str | None = None, failed: bool = False) -> bool:
        if failed:
            self.records.auth_failures += 1
        headers = [("WWW-Authenticate", header)] if header else self._challenges()
        await self._respond(conn, 401, b"", headers)
        return True

    async def _handle(self, conn: _Connection, request: _HttpRequest) -> bool:
        """Answer one HTTP request; return whether to keep the connection open."""
        self.records.requests += 1
        conn.record.requests += 1
        if self.faults.take_drop():
            self._abort(conn, dropped=True)
            return False
        if self.faults.slow_ms:
            await asyncio.sleep(self.faults.slow_ms / 1000)
        keep_alive = request.headers.get("connection", "").lower() != "close"
        if request.target.split("?")[0].rstrip("/").lower() != "/wsman":
            await self._respond(conn, 404)
            return keep_alive
        if request.method != "POST":
            await self._respond(conn, 405, headers=[("Allow", "POST")])
            return keep_alive

        final_header: str | None = None
        authorization = request.headers.get("authorization", "")
        scheme, _, value = authorization.partition(" ")
        scheme_l = scheme.lower()
        if scheme_l == "basic" and "basic" in self.auth:
            creds = parse_basic(value)
            if creds is None or not self.users.check(*creds):
                return await self._unauthorized(conn, failed=True)
            conn.record.user, conn.record.auth = creds[0], "basic"
        elif scheme_l in ("negotiate", "ntlm") and ({"ntlm", "negotiate"} & set(self.auth)):
            try:
                token = base64.b64decode(value.strip())
            except ValueError:
                return await self._unauthorized(conn, failed=True)
            if conn.acceptor is None or conn.acceptor.complete or _is_initial_token(token):
                conn.acceptor = NegotiateAcceptor(self.users, scheme)
            result = conn.acceptor.step(token)
            if result.status != 200:
                if result.header is None:
                    conn.acceptor = None
                    return await self._unauthorized(conn, failed=True)
                return await self._unauthorized(conn, result.header)
            final_header = result.header
            conn.record.user = result.user
            conn.record.auth = "ntlm" if token.startswith(b"NTLMSSP\x00") else "negotiate"
        elif conn.acceptor is not None and conn.acceptor.complete:
            pass  # NTLM authenticates the connection, not each request
        else:
            return await self._unauthorized(conn)

        extra = [("WWW-Authenticate", final_header)] if final_header else []
        content_type = request.headers.get("content-type", "")
        encrypted = content_type.lower().startswith(("multipart/encrypted", "multipart/x-multi-encrypted"))
        if encrypted:
            if conn.acceptor is None or not conn.acceptor.complete:
                await self._respond(conn, 400, headers=extra)
                return keep_alive
            self.records.encrypted_messages += 1
            try:
                message = conn.acceptor.unwrap(request.body, content_type)
            except Exception:  # a corrupted or mis-keyed message: WinRM answers 400 and the client re-authenticates
                log.debug("could not decrypt a WinRM message", exc_info=True)
                await self._respond(conn, 400, headers=extra)
                return keep_alive
        else:
            message = request.body
        if not message:  # pypsrp's empty POST that only sets up the encryption context
            await self._respond(conn, 200, b"", extra)
            return keep_alive

        injected = self.faults.take_failure()
        if injected is not None:
            self.records.injected_failures += 1
            await self._respond(conn, injected, b"", extra)
            return keep_alive

        status, reply = await self.service.handle(message, conn.record.user or "", conn.record.peer)
        if encrypted:
            reply_type, reply = conn.acceptor.wrap(reply)
        else:
            reply_type = "application/soap+xml;charset=UTF-8"
        await self._respond(conn, status, reply, extra + [("Content-Type", reply_type)])
        return keep_alive

def _is_initial_token(token: bytes) -> bool:
    """An NTLM NEGOTIATE message or a SPNEGO NegTokenInit: the first leg of a new handshake."""
    return token.startswith(b"NTLMSSP\x00\x01\x00\x00\x00") or token[:1] == b"\x60"
