"""Real HTTPS calls to the emulated cluster's API, made with the credential a host has on its disk.

What the installers run as `c:\\k\\kubectl.exe --kubeconfig=...` and what kubelet does with `--kubeconfig=c:\\k\\config`
goes through the Kubernetes lab's real API server here (aiohttp, TLS verified against the kubeconfig's CA), so
the credential placed on the host decides what works: an admin kubeconfig can do anything, a scoped token only
what RBAC allows, an expired token nothing. Failures are worded as kubectl words them.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import ssl
import tempfile
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import yaml


class KubeconfigInvalid(Exception):
    """The kubeconfig cannot be used; `message` is kubectl's wording."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Credential:
    """Where the API is and how to authenticate, as one kubeconfig context says."""

    server: str
    ca_pem: bytes | None = None
    token: str | None = None
    client_cert_pem: bytes | None = None
    client_key_pem: bytes | None = None
    insecure: bool = False
    user_name: str = ""

    @property
    def host_port(self) -> tuple[str, int]:
        """The API server's host and port."""
        parts = urlsplit(self.server)
        return (parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))


@functools.lru_cache(maxsize=256)
def _load_yaml(text: str) -> Any:
    """The parsed kubeconfig (read-only; cached: every kubelet heartbeat re-reads its unchanged file)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}


def parse_kubeconfig(text: str, read_file: Any = None) -> Credential:
    """The current context's cluster and user. `read_file(path) -> bytes` resolves `certificate-authority`,
    `client-certificate`, `client-key` and `tokenFile` paths (on the host). Raises KubeconfigInvalid."""
    try:
        doc = _load_yaml(text)
    except yaml.YAMLError as exc:
        raise KubeconfigInvalid(f"error loading config file: {exc}") from None
    if not isinstance(doc, dict):
        raise KubeconfigInvalid("error loading config file: couldn't get version/kind; json parse error")
    ctx_name = doc.get("current-context") or ""
    contexts = {c.get("name"): c.get("context") or {} for c in doc.get("contexts") or [] if isinstance(c, dict)}
    clusters = {c.get("name"): c.get("cluster") or {} for c in doc.get("clusters") or [] if isinstance(c, dict)}
    users = {u.get("name"): u.get("user") or {} for u in doc.get("users") or [] if isinstance(u, dict)}
    if not ctx_name:
        if len(contexts) == 1:
            ctx_name = next(iter(contexts))
        else:
            raise KubeconfigInvalid("The connection to the server localhost:8080 was refused - did you specify "
                                    "the right host or port?")
    ctx = contexts.get(ctx_name)
    if ctx is None:
        raise KubeconfigInvalid(f'error: context "{ctx_name}" does not exist')
    cluster = clusters.get(ctx.get("cluster"))
    if cluster is None or not cluster.get("server"):
        raise KubeconfigInvalid(f'error: no server found for cluster "{ctx.get("cluster")}"')
    user = users.get(ctx.get("user"), {})

    def data(inline: str, path_key: str, obj: dict) -> bytes | None:
        if obj.get(inline):
            try:
                return base64.b64decode(obj[inline])
            except ValueError:
                raise KubeconfigInvalid(f"error: illegal base64 data in {inline}") from None
        if obj.get(path_key):
            if read_file is None:
                return None
            try:
                return read_file(obj[path_key])
            except Exception:  # noqa: BLE001 - any unreadable path is the same kubectl error
                raise KubeconfigInvalid(f"error: unable to read {path_key} {obj[path_key]}: The system cannot "
                                        f"find the file specified.") from None
        return None

    token = user.get("token")
    if not token and user.get("tokenFile") and read_file is not None:
        try:
            token = read_file(user["tokenFile"]).decode().strip()
        except Exception:  # noqa: BLE001
            token = None
    return Credential(
        server=str(cluster["server"]).rstrip("/"),
        ca_pem=data("certificate-authority-data", "certificate-authority", cluster),
        token=token or None,
        client_cert_pem=data("client-certificate-data", "client-certificate", user),
        client_key_pem=data("client-key-data", "client-key", user),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        user_name=str(ctx.get("user") or ""),
    )


class ApiFailure(Exception):
    """A request that failed; `kubectl_message` is what kubectl prints on stderr, `status` the HTTP code
    (0 when the server could not be reached)."""

    def __init__(self, status: int, kubectl_message: str, reason: str = "", body: dict | None = None) -> None:
        super().__init__(kubectl_message)
        self.status = status
        self.kubectl_message = kubectl_message
        self.reason = reason
        self.body = body or {}


class HostApiClient:
    """An API client for one credential. `reachable(host, port)` says whether the host can open TCP to the API
    (the lab's network model); unreachable servers fail like kubectl's dial errors."""

    def __init__(self, cred: Credential, *, reachable: Any = None, timeout: float = 15.0,
                 user_agent: str = "kubectl.exe/v1.22.6 (windows/amd64) kubernetes/f59f5c2") -> None:
        self.cred = cred
        self._reachable = reachable
        self._timeout = timeout
        self._user_agent = user_agent

    def _ssl(self) -> tuple[ssl.SSLContext | bool, list[str]]:
        if not self.cred.server.startswith("https"):
            return False, []
        if self.cred.insecure:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        else:
            ctx = ssl.create_default_context(cadata=self.cred.ca_pem.decode() if self.cred.ca_pem else None)
            if not self.cred.ca_pem:
                ctx.load_default_certs()
        tmp: list[str] = []
        if self.cred.client_cert_pem and self.cred.client_key_pem:
            for content in (self.cred.client_cert_pem, self.cred.client_key_pem):
                fd, path = tempfile.mkstemp(prefix="lab-kubeclient-", suffix=".pem")
                with os.fdopen(fd, "wb") as f:
                    f.write(content)
                tmp.append(path)
            try:
                ctx.load_cert_chain(tmp[0], tmp[1])
            except ssl.SSLError:
                for p in tmp:
                    os.unlink(p)
                raise ApiFailure(0, "error: tls: private key does not match public key") from None
        return ctx, tmp

    async def request(self, method: str, path: str, *, params: dict[str, str] | None = None,
                      body: Any = None, content_type: str = "application/json") -> dict:
        """Send one request; the decoded JSON body on 2xx, else ApiFailure."""
        host, port = self.cred.host_port
        if self._reachable is not None and not self._reachable(host, port):
            raise ApiFailure(0, f"Unable to connect to the server: dial tcp {host}:{port}: connectex: A connection "
                                f"attempt failed because the connected party did not properly respond after a period "
                                f"of time, or established connection failed because connected host has failed to "
                                f"respond.")
        sslctx, tmp = self._ssl()
        headers = {"Accept": "application/json", "User-Agent": self._user_agent}
        if self.cred.token:
            headers["Authorization"] = f"Bearer {self.cred.token}"
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = content_type
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout),
                                             trust_env=False) as session:
                async with session.request(method, self.cred.server + path, params=params, data=data,
                                           headers=headers, ssl=sslctx) as resp:
                    text = await resp.text()
                    status = resp.status
        except aiohttp.ClientConnectorCertificateError:
            raise ApiFailure(0, "Unable to connect to the server: x509: certificate signed by unknown "
                                "authority") from None
        except aiohttp.ClientConnectorError:
            raise ApiFailure(0, f"Unable to connect to the server: dial tcp {host}:{port}: connectex: No "
                                f"connection could be made because the target machine actively refused it.") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiFailure(0, f"Unable to connect to the server: {exc or type(exc).__name__}") from None
        finally:
            for p in tmp:
                try:
                    os.unlink(p)
                except OSError:
                    pass
        try:
            doc = json.loads(text) if text else {}
        except ValueError:
            doc = {}
        if 200 <= status < 300:
            return doc
        raise _failure(status, doc)


def _failure(status: int, doc: dict) -> ApiFailure:
    reason = doc.get("reason", "") if isinstance(doc, dict) else ""
    message = doc.get("message", "") if isinstance(doc, dict) else ""
    if status == 401:
        return ApiFailure(401, "error: You must be logged in to the server (Unauthorized)", "Unauthorized", doc)
    label = reason or {403: "Forbidden", 404: "NotFound", 409: "AlreadyExists", 422: "Invalid"}.get(status, "")
    return ApiFailure(status, f"Error from server ({label}): {message}" if label else f"Error from server: {message}",
                      reason, doc)
