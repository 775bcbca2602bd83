"""`KubeLab`: one emulated Kubernetes API server — store, registry, admission, auth, HTTPS endpoint, kubeconfig —
plus the scenario it starts from and the controllers that bring it to life."""

from __future__ import annotations

import base64
import inspect
import os
import secrets
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import yaml
from aiohttp import web
from cryptography import x509

from ..clock import LabClock
from ..tls import LabCA
from . import scenarios
from .auth import Authenticator, Authorizer, bootstrap_policy, install_node_restriction
from .controllers import start_controllers
from .controllers.garbage import GarbageCollector
from .defaults import Admission
from .discovery import OpenAPI
from .errors import AlreadyExists
from .exec import ExecResult, ExecRuntime, command_not_found
from .requestlog import RequestLog
from .reviews import REVIEW_TYPES
from .resources import Registry, ResourceType, crd_for
from .server import ApiServer
from .store import Store

LogProvider = Callable[[dict, str], str]

DEFAULT_VERSION: dict[str, str] = {
    "major": "1", "minor": "22", "gitVersion": "v1.22.6", "gitCommit": "f59f5c2fda36e4036b49ec027e556a15456108f0",
    "gitTreeState": "clean", "buildDate": "2022-01-19T17:26:47Z", "goVersion": "go1.16.12", "compiler": "gc",
    "platform": "linux/amd64",
}
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# Names the real API server certificate carries (kubeadm): the service names, the service IP, the node's IP.
_CERT_NAMES = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
               "kubernetes.default.svc.cluster.local", "k8s-m", "10.96.0.1", "172.16.3.170")


def _no_logs(pod: dict, container: str) -> str:
    return ""


class KubeLab:
    """A running emulated API server. Create with `await KubeLab.start(...)`; stop with `await kube.stop()`."""

    store: Store
    registry: Registry
    clock: LabClock
    ca: LabCA
    scenario: str
    url: str
    kubeconfig_path: Path
    admin_token: str
    requests: RequestLog
    exec_runtime: ExecRuntime
    log_provider: LogProvider

    def __init__(self, *, scenario: str, state_dir: Path, clock: LabClock, ca: LabCA, host: str) -> None:
        self.scenario = scenario
        self.state_dir = Path(state_dir)
        self.clock = clock
        self.ca = ca
        self.host = host
        self.registry = Registry()
        for rt in REVIEW_TYPES:
            self.registry.add(rt)
        self.store = Store(self.registry)
        self.garbage_collector = GarbageCollector(self.store)
        self.admin_token = secrets.token_urlsafe(32)
        self.requests = RequestLog()
        self.exec_runtime = command_not_found
        self.log_provider = _no_logs
        self.node_runtimes: dict[str, Any] = {}
        self.version: dict[str, str] = dict(DEFAULT_VERSION)
        self.authn = Authenticator(self.store, self.registry, admin_token=self.admin_token)
        self.authz = Authorizer(self.store, self.registry)
        install_node_restriction(self.store)
        self.admission = Admission(self.store, self.registry, sign_csr=self._sign_csr,
                                   legacy_token=self.authn.legacy_token, ca_pem=ca.ca_pem)
        self.openapi = OpenAPI(self.registry, self.crd_for_type, self.version["gitVersion"])
        self.url = ""
        self.kubeconfig_path = self.state_dir / "kubeconfig"
        self.controllers: Any = None
        self._runner: web.AppRunner | None = None

    # --- lifecycle -----------------------------------------------------------------------------------------
    @classmethod
    async def start(cls, *, scenario: str, state_dir: Path, clock: LabClock, ca: LabCA,
                    host: str = "127.0.0.1", seed: bool = True, controllers: bool = True) -> "KubeLab":
        """Bootstrap the API objects, seed `scenario`, serve HTTPS on a free port of `host`, write the admin
        kubeconfig and start the controllers. `seed=False` / `controllers=False` leave the scenario or the
        controllers out (for tests of the API server alone)."""
        self = cls(scenario=scenario, state_dir=state_dir, clock=clock, ca=ca, host=host)
        self._bootstrap()
        if seed:
            self._seed()
        await self._serve()
        self._write_kubeconfig()
        if controllers:
            try:
                await self._start_controllers()
            except BaseException:
                await self.stop()
                raise
        return self

    def _bootstrap(self) -> None:
        ns_rt = self.registry.get("", "namespaces")
        for ns in SYSTEM_NAMESPACES:
            if self.store.try_get(ns_rt, None, ns) is None:
                self.store.create(ns_rt, {"metadata": {"name": ns}})
        for plural, obj in bootstrap_policy():
            rt = self.registry.get("rbac.authorization.k8s.io", plural)
            meta = obj["metadata"]
            if self.store.try_get(rt, meta.get("namespace"), meta["name"]) is None:
                self.store.create(rt, obj, meta.get("namespace"))

    def _seed(self) -> None:
        scenarios.seed(self.store, self.registry, self.scenario)
        self.set_version(scenarios.version_for(self.scenario))

    async def _start_controllers(self) -> None:
        ctl = start_controllers(self)
        if inspect.isawaitable(ctl):
            ctl = await ctl
        self.controllers = ctl

    async def _serve(self) -> None:
        app = ApiServer(self).app()
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        port = sock.getsockname()[1]
        names = tuple(dict.fromkeys((self.host,) + _CERT_NAMES))
        ctx = self.ca.server_context(*names, client_auth=True)
        await web.SockSite(self._runner, sock, ssl_context=ctx).start()
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"https://{host}:{port}"
        self.port = port

    async def stop(self) -> None:
        """Stop the controllers, end every watch and shut the HTTPS endpoint."""
        if self.controllers is not None:
            res = self.controllers.stop()
            if inspect.isawaitable(res):
                await res
            self.controllers = None
        self.store.close_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- configuration -------------------------------------------------------------------------------------
    def set_version(self, version: dict[str, str] | str) -> None:
        """Set what `/version` answers: a full body, or just a gitVersion like "v1.30.2"."""
        if isinstance(version, str):
            major, minor = version.lstrip("v").split(".")[:2]
            version = {**DEFAULT_VERSION, "major": major, "minor": minor, "gitVersion": version}
        self.version = dict(version)
        self.openapi.version = self.version.get("gitVersion", "")

    @property
    def minor_version(self) -> int:
        """The served Kubernetes minor version (22 for v1.22.6)."""
        try:
            return int(str(self.version.get("minor", "0")).rstrip("+"))
        except ValueError:
            return 0

    @property
    def server_address(self) -> str:
        return self.url.removeprefix("https://")

    def register_node_runtime(self, node_name: str, runtime: Any) -> None:
        """Make `runtime` the NodeRuntime of `node_name` (Windows hosts call this); the controllers use it for
        readiness, pod admission and exec."""
        self.node_runtimes[node_name] = runtime
        if self.controllers is not None and hasattr(self.controllers, "register_node_runtime"):
            self.controllers.register_node_runtime(node_name, runtime)

    def serve_crd(self, rt: ResourceType) -> dict:
        """Create the CustomResourceDefinition for `rt` (if absent); the type is served once it is stored."""
        crd_rt = self.registry.get("apiextensions.k8s.io", "customresourcedefinitions")
        crd = crd_for(rt)
        existing = self.store.try_get(crd_rt, None, crd["metadata"]["name"])
        if existing is not None:
            return existing
        try:
            return self.store.create(crd_rt, crd)
        except AlreadyExists:
            return self.store.get(crd_rt, None, crd["metadata"]["name"])

    def crd_for_type(self, rt: ResourceType) -> dict | None:
        """The stored CRD that defines `rt`, or None (built-in types)."""
        crd_rt = self.registry.get("apiextensions.k8s.io", "customresourcedefinitions")
        return self.store.try_get(crd_rt, None, f"{rt.plural}.{rt.group}") if rt.group else None

    async def run_exec(self, pod: dict, container: str, argv: list[str], stdin: bytes | None) -> ExecResult:
        """Run a command in a pod through `exec_runtime` (the controllers' runtime consults node runtimes)."""
        return await self.exec_runtime(pod, container, argv, stdin)

    def _sign_csr(self, pem: bytes, expiration_seconds: int | None) -> bytes:
        days = max(1, int(expiration_seconds) // 86400) if expiration_seconds else 365
        return self.ca.sign_csr(pem, days=days)

    # --- credentials ---------------------------------------------------------------------------------------
    def kubeconfig(self, *, user: str = "kubernetes-admin", token: str | None = None,
                   client_cert: tuple[bytes, bytes] | None = None) -> str:
        """A kubeconfig for this API server: the admin's by default, or for `token` / a (cert, key) PEM pair."""
        creds: dict[str, str] = {}
        if client_cert is not None:
            creds["client-certificate-data"] = base64.b64encode(client_cert[0]).decode()
            creds["client-key-data"] = base64.b64encode(client_cert[1]).decode()
        else:
            creds["token"] = token or self.admin_token
        config = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "kubernetes", "cluster": {
                "certificate-authority-data": base64.b64encode(self.ca.ca_pem).decode(), "server": self.url}}],
            "contexts": [{"name": f"{user}@kubernetes", "context": {"cluster": "kubernetes", "user": user}}],
            "current-context": f"{user}@kubernetes",
            "preferences": {},
            "users": [{"name": user, "user": creds}],
        }
        return yaml.safe_dump(config, sort_keys=False)

    def _write_kubeconfig(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.kubeconfig_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.kubeconfig())
        os.chmod(self.kubeconfig_path, 0o600)

    def authenticate_kubeconfig(self, kubeconfig_text: str) -> str | None:
        """The user name this API server would see for the kubeconfig's current context, or None when its
        credentials (or its CA, if it names one) would not be accepted."""
        try:
            config = yaml.safe_load(kubeconfig_text) or {}
            contexts = {c["name"]: c.get("context") or {} for c in config.get("contexts") or []}
            current = config.get("current-context") or next(iter(contexts), None)
            ctx = contexts.get(current) or {}
            clusters = {c["name"]: c.get("cluster") or {} for c in config.get("clusters") or []}
            users = {u["name"]: u.get("user") or {} for u in config.get("users") or []}
        except (yaml.YAMLError, KeyError, TypeError, AttributeError):
            return None
        cluster = clusters.get(ctx.get("cluster"), {})
        ca_data = cluster.get("certificate-authority-data")
        if ca_data:
            try:
                if x509.load_pem_x509_certificate(base64.b64decode(ca_data)) != \
                        x509.load_pem_x509_certificate(self.ca.ca_pem):
                    return None
            except ValueError:
                return None
        creds = users.get(ctx.get("user"), {})
        cert_pem = None
        if creds.get("client-certificate-data"):
            cert_pem = base64.b64decode(creds["client-certificate-data"])
        elif creds.get("client-certificate"):
            try:
                cert_pem = Path(creds["client-certificate"]).read_bytes()
            except OSError:
                return None
        if cert_pem is not None:
            return self._cert_user(cert_pem)
        token = creds.get("token")
        if not token and creds.get("tokenFile"):
            try:
                token = Path(creds["tokenFile"]).read_text().strip()
            except OSError:
                return None
        if not token:
            return None
        user = self.authn.authenticate_token(token)
        return user.name if user is not None else None

    def _cert_user(self, cert_pem: bytes) -> str | None:
        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
            cert.verify_directly_issued_by(x509.load_pem_x509_certificate(self.ca.ca_pem))
        except (ValueError, TypeError, Exception):  # noqa: BLE001 - any verification failure means "not accepted"
            return None
        now = datetime.now(timezone.utc)
        if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
            return None
        cns = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
        return str(cns[0].value) if cns else None

    def lab_json(self) -> dict:
        """What `lab.json` says about this API server."""
        return {"url": self.url, "ca_file": str(self.ca.ca_file), "admin_token": self.admin_token,
                "kubeconfig": str(self.kubeconfig_path), "version": self.version.get("gitVersion", "")}
