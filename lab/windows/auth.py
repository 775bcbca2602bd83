"""WinRM authentication for the emulated hosts: Basic, and NTLM/Negotiate through pyspnego's acceptor, plus WinRM
message encryption (`multipart/encrypted`, what pypsrp sends over plain HTTP with NTLM).

pyspnego's NTLM acceptor looks users up in the file named by the process-global `NTLM_USER_FILE`. Every
`UserTable` appends its users (`DOMAIN:user:password` and `:user:password`) to one lab file and points the variable
at it once per process. Because one process can run several hosts whose users share a name (every host has an
`Administrator`) but not a password, the acceptor's lookup is also scoped to the host being authenticated against:
`UserTable.scope()` makes pyspnego resolve users from that host's table only (a context variable, so concurrent
hosts and threads do not interfere).
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import os
import re
import struct
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import spnego
import spnego._ntlm as _spnego_ntlm
from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1
from spnego.exceptions import ErrorCode, SpnegoError

ENCRYPTED_BOUNDARY = "Encrypted Boundary"
SPNEGO_ENCRYPTED = "application/HTTP-SPNEGO-session-encrypted"

_file_lock = threading.Lock()
_user_file: Path | None = None
_scope: contextvars.ContextVar["UserTable | None"] = contextvars.ContextVar("winrm_ntlm_users", default=None)


def lab_user_file() -> Path:
    """The process's NTLM user file (created empty, mode 0600, on first use) and `NTLM_USER_FILE` pointing at it."""
    global _user_file
    with _file_lock:
        if _user_file is None:
            fd, name = tempfile.mkstemp(prefix="lab-ntlm-users-", suffix=".txt")
            os.close(fd)
            _user_file = Path(name)
            _install_scoped_lookup()
        if os.environ.get("NTLM_USER_FILE") != str(_user_file):
            os.environ["NTLM_USER_FILE"] = str(_user_file)
        return _user_file


def _install_scoped_lookup() -> None:
    original = getattr(_spnego_ntlm, "_get_credential", None)
    if original is None or getattr(original, "_lab_scoped", False):
        return  # another pyspnego layout: the shared file alone still serves domain-qualified users

    def scoped(store, domain=None, username=None):
        table = _scope.get()
        if table is None or not username:
            return original(store, domain, username)
        password = table.password_for(domain or "", username)
        if password is None:
            raise SpnegoError(ErrorCode.failure,
                              context_msg="Failed to find any matching credential in NTLM_USER_FILE credential store.")
        return domain, username, lmowfv1(password), ntowfv1(password)

    scoped._lab_scoped = True  # type: ignore[attr-defined]
    _spnego_ntlm._get_credential = scoped


class UserTable:
    """The local accounts of one emulated host; names match case-insensitively, the domain may be empty, `.`, the
    host's domain, or given as `DOMAIN\\user` / `user@DOMAIN`."""

    def __init__(self, users: dict[str, str], domain: str) -> None:
        self.users = dict(users)
        self.domain = domain
        path = lab_user_file()
        with _file_lock, path.open("a", encoding="utf-8") as fh:
            for user, password in self.users.items():
                fh.write(f"{domain}:{user}:{password}\n:{user}:{password}\n")

    def password_for(self, domain: str, username: str) -> str | None:
        """The password of `username` if it is one of this host's users under `domain`, else None."""
        if "\\" in username:
            domain, username = username.split("\\", 1)
        elif "@" in username and not domain:
            username, domain = username.split("@", 1)
        if domain and domain not in (".",) and domain.upper() != self.domain.upper() \
                and domain.split(".")[0].upper() != self.domain.upper():
            return None
        for user, password in self.users.items():
            if user.upper() == username.upper():
                return password
        return None

    def check(self, username: str, password: str) -> bool:
        """Basic auth: whether `username` (optionally domain-qualified) has `password` on this host."""
        expected = self.password_for("", username)
        return expected is not None and expected == password

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """While active, pyspnego's NTLM acceptor resolves users from this table only."""
        token = _scope.set(self)
        try:
            yield
        finally:
            _scope.reset(token)


@dataclass
class AuthResult:
    """Outcome of one authentication step: `status` 200 (authenticated) or 401; `header` is a WWW-Authenticate
    value to send (a continuation or final token), `user` the authenticated name."""

    status: int
    header: str | None = None
    user: str | None = None


class NegotiateAcceptor:
    """One NTLM/Negotiate handshake on one TCP connection; once complete it also encrypts and decrypts messages."""

    def __init__(self, users: UserTable, scheme: str) -> None:
        self.users = users
        self.scheme = scheme  # "Negotiate" or "NTLM", echoed in the WWW-Authenticate answers
        self.context = spnego.server(protocol="negotiate")
        self.user: str | None = None

    @property
    def complete(self) -> bool:
        return self.context.complete and self.user is not None

    def step(self, token: bytes) -> AuthResult:
        """Feed a client token; a failed check (unknown user, wrong password) answers 401 without a token."""
        try:
            with self.users.scope():
                out = self.context.step(token)
        except SpnegoError:
            return AuthResult(401)
        header = f"{self.scheme} {base64.b64encode(out).decode()}" if out else None
        if not self.context.complete:
            return AuthResult(401, header)
        self.user = self.context.client_principal or ""
        return AuthResult(200, header, self.user)

    # --- WinRM message encryption ([MS-WSMV] 2.2.9.1) --------------------------------------------------------

    def unwrap(self, body: bytes, content_type: str) -> bytes:
        """Decrypt a `multipart/encrypted` request body."""
        match = re.search(r'boundary="?([^";]+)"?', content_type)
        boundary = match.group(1) if match else ENCRYPTED_BOUNDARY
        parts = [p for p in re.split(rb"--\s*" + re.escape(boundary.encode()) + rb"(?:--)?\r\n", body) if p]
        message = b""
        for i in range(0, len(parts) - 1, 2):
            header_part, payload = parts[i], parts[i + 1]
            length = int(re.search(rb"Length=(\d+)", header_part).group(1))
            payload = payload.replace(b"\tContent-Type: application/octet-stream\r\n", b"", 1)
            sig_len = struct.unpack("<i", payload[:4])[0]
            signature, encrypted = payload[4:4 + sig_len], payload[4 + sig_len:]
            plain = self.context.unwrap_winrm(signature, encrypted)
            if len(plain) != length:
                raise ValueError(f"decrypted length {len(plain)} != declared {length}")
            message += plain
        return message

    def wrap(self, message: bytes) -> tuple[str, bytes]:
        """Encrypt a response body; returns (Content-Type, body)."""
        result = self.context.wrap_winrm(message)
        wrapped = struct.pack("<i", len(result.header)) + result.header + result.data
        head = "\r\n".join([
            f"--{ENCRYPTED_BOUNDARY}",
            f"\tContent-Type: {SPNEGO_ENCRYPTED}",
            f"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={len(message) + result.padding_length}",
            f"--{ENCRYPTED_BOUNDARY}",
            "\tContent-Type: application/octet-stream",
            "",
        ]).encode()
        body = head + wrapped + f"--{ENCRYPTED_BOUNDARY}--\r\n".encode()
        content_type = f'multipart/encrypted;protocol="{SPNEGO_ENCRYPTED}";boundary="{ENCRYPTED_BOUNDARY}"'
        return content_type, body


def parse_basic(value: str) -> tuple[str, str] | None:
    """(user, password) from a `Basic` Authorization value, or None if malformed."""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    if ":" not in decoded:
        return None
    user, password = decoded.split(":", 1)
    return user, password
