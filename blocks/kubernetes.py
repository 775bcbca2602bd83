"""`KubernetesCluster`: a kubeconfig kept as a secret, and the `kubernetes.aio` client it opens.

Unlike prefect-kubernetes' `KubernetesClusterConfig` (a plain dict the UI shows in clear), the kubeconfig here is a
`SecretStr`. The client is configured straight from the parsed kubeconfig: the CA goes in as data and tokens as
headers, so nothing is written to disk, except a client certificate and key (Python's `ssl` loads those only from
files): they go to a private 0700 directory as 0600 files that are deleted as soon as the TLS context holds them.
TLS verification is always on: a kubeconfig with `insecure-skip-tls-verify` is refused.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator
from urllib.parse import urlsplit

import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID
from prefect.blocks.core import Block
from pydantic import ConfigDict, Field, SecretStr, model_validator

from kubernetes.aio import client as kclient

IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
IN_CLUSTER_CA = Path("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")


class KubeconfigError(ValueError):
    """The kubeconfig cannot be used (malformed, unknown context, insecure, unsupported auth). Never retried."""


class KubernetesCluster(Block):
    """A Kubernetes cluster to talk to: a kubeconfig (stored as a secret) and the context to use, or the
    in-cluster service account when running inside a pod.

    Example:
        Load a saved cluster and list its nodes:
        ```python
        from prefect_windows_nodes.blocks import KubernetesCluster
        from kubernetes.aio import client

        cluster = KubernetesCluster.load("BLOCK_NAME")
        async with cluster.get_client() as api:
            nodes = await client.CoreV1Api(api).list_node()
        ```
    """

    _block_type_name = "Kubernetes Cluster"
    _block_type_slug = "windows-nodes-kubernetes-cluster"
    _logo_url = "https://cdn.sanity.io/images/3ugk85nk/production/2d0b896006ad463b49c28aaac14f31e00e32cfab-250x250.png"  # noqa: E501
    _documentation_url = "https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/"

    # Validation errors must not echo the input: it holds the secret.
    model_config = ConfigDict(hide_input_in_errors=True)

    kubeconfig: SecretStr | None = Field(
        default=None,
        description="The kubeconfig file's content (YAML); stored as a secret because it holds credentials.",
    )
    context: str | None = Field(
        default=None,
        description="The kubeconfig context to use; empty means the kubeconfig's current-context.",
    )
    in_cluster: bool = Field(
        default=False,
        description="Use the pod's service account (in-cluster configuration) instead of a kubeconfig.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> "KubernetesCluster":
        if self.in_cluster and self.kubeconfig is not None:
            raise ValueError("kubeconfig and in_cluster are both set; use one: in_cluster=True without a kubeconfig, "
                             "or a kubeconfig with in_cluster=False")
        if not self.in_cluster and self.kubeconfig is None:
            raise ValueError("kubeconfig is empty; give the kubeconfig content (KubernetesCluster.from_file(path)) "
                             "or set in_cluster=True when running inside the cluster")
        if self.kubeconfig is not None:
            _parse(self.kubeconfig.get_secret_value())  # fail early on YAML that is not a kubeconfig
        return self

    @classmethod
    def from_file(cls, path: str | Path, context: str | None = None) -> "KubernetesCluster":
        """A block holding the kubeconfig read from `path` (e.g. ~/.kube/config), optionally pinned to `context`."""
        text = Path(path).expanduser().read_text()
        return cls(kubeconfig=SecretStr(text), context=context)

    # --- what the kubeconfig says ---------------------------------------------------------------------------
    def _selected(self) -> tuple[dict[str, Any], dict[str, Any], str]:
        """(cluster section, user section, context name) of the selected context."""
        assert self.kubeconfig is not None
        cfg = _parse(self.kubeconfig.get_secret_value())
        name = self.context or cfg.get("current-context")
        if not name:
            raise KubeconfigError("the kubeconfig has no current-context; set the block's context field")
        ctx = _named(cfg, "contexts", name, "context")
        cluster = _named(cfg, "clusters", ctx.get("cluster"), "cluster")
        user = _named(cfg, "users", ctx.get("user"), "user") if ctx.get("user") else {}
        return cluster, user, name

    def server_url(self) -> str:
        """The API server URL (the kubeconfig's `server:`, or the in-cluster service address)."""
        if self.in_cluster:
            host = os.environ.get("KUBERNETES_SERVICE_HOST")
            port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
            if not host:
                raise KubeconfigError("in_cluster is set but KUBERNETES_SERVICE_HOST is not: not running in a pod")
            host = f"[{host}]" if ":" in host else host
            return f"https://{host}:{port}"
        cluster, _, _ = self._selected()
        server = cluster.get("server")
        if not server:
            raise KubeconfigError("the selected kubeconfig cluster has no server: URL")
        return str(server).rstrip("/")

    def server_endpoint(self) -> tuple[str, int]:
        """(host, port) of the API server, as a Windows host must reach it (port defaulting by scheme)."""
        parts = urlsplit(self.server_url())
        return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)

    def ca_pem(self) -> bytes | None:
        """The API server's CA certificate(s) as PEM, or None when the kubeconfig relies on system trust."""
        if self.in_cluster:
            return IN_CLUSTER_CA.read_bytes() if IN_CLUSTER_CA.is_file() else None
        cluster, _, _ = self._selected()
        if cluster.get("certificate-authority-data"):
            return _b64(cluster["certificate-authority-data"], "certificate-authority-data").encode()
        if cluster.get("certificate-authority"):
            return Path(cluster["certificate-authority"]).expanduser().read_bytes()
        return None

    def flattened_kubeconfig(self) -> bytes:
        """The selected context as a self-contained single-context kubeconfig (file references inlined), for
        copying to a host that has none of this runner's files. Deterministic: the same block, the same bytes.

        Raises KubeconfigError for in-cluster credentials (there is no kubeconfig to copy)."""
        if self.in_cluster:
            raise KubeconfigError("in_cluster credentials cannot be copied to a host; use least privilege")
        cluster, user, name = self._selected()
        cluster, user = dict(cluster), dict(user)
        assert self.kubeconfig is not None
        ctx = _named(_parse(self.kubeconfig.get_secret_value()), "contexts", name, "context")
        for section, key in ((cluster, "certificate-authority"), (user, "client-certificate"), (user, "client-key")):
            if section.get(key) and not section.get(f"{key}-data"):
                data = Path(section.pop(key)).expanduser().read_bytes()
                section[f"{key}-data"] = base64.b64encode(data).decode()
        if user.get("tokenFile") and not user.get("token"):
            user["token"] = Path(user.pop("tokenFile")).expanduser().read_text().strip()
        doc = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": ctx.get("cluster"), "cluster": cluster}],
            "users": [{"name": ctx.get("user"), "user": user}],
            "contexts": [{"name": name, "context": {k: v for k, v in ctx.items() if k in ("cluster", "user")}}],
            "current-context": name,
        }
        return yaml.safe_dump(doc, sort_keys=False, width=1 << 20).encode()

    # --- the client -----------------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def get_client(self) -> AsyncIterator[kclient.ApiClient]:
        """Open a `kubernetes.aio` ApiClient for the selected context (TLS verified); closed on exit.

        `async with cluster.get_client() as api: await client.CoreV1Api(api).list_node()`
        """
        configuration = kclient.Configuration()
        if self.in_cluster:
            from kubernetes.aio.config import load_incluster_config

            load_incluster_config(client_configuration=configuration)
            api = kclient.ApiClient(configuration)
        else:
            api = await self._client_from_kubeconfig(configuration)
        try:
            yield api
        finally:
            await api.close()

    async def _client_from_kubeconfig(self, configuration: kclient.Configuration) -> kclient.ApiClient:
        cluster, user, name = self._selected()
        configuration.host = self.server_url()
        if cluster.get("insecure-skip-tls-verify"):
            raise KubeconfigError(f"context {name!r} sets insecure-skip-tls-verify; TLS verification cannot be "
                                  "turned off here: add certificate-authority-data for the API server's CA")
        if configuration.host.startswith("https"):
            if cluster.get("certificate-authority-data"):
                configuration.ca_cert_data = _b64(cluster["certificate-authority-data"], "certificate-authority-data")
            elif cluster.get("certificate-authority"):
                configuration.ssl_ca_cert = str(Path(cluster["certificate-authority"]).expanduser())
        if cluster.get("tls-server-name"):
            configuration.tls_server_name = cluster["tls-server-name"]
        if cluster.get("proxy-url"):
            configuration.proxy = cluster["proxy-url"]

        cert_pem = key_pem = None
        token = user.get("token")
        if not token and user.get("tokenFile"):
            token = Path(user["tokenFile"]).expanduser().read_text().strip()
        if user.get("client-certificate-data") or user.get("client-certificate"):
            cert_pem = _file_or_data(user, "client-certificate")
            key_pem = _file_or_data(user, "client-key")
        if user.get("exec") and not token and cert_pem is None:
            token, cert_pem, key_pem = await _exec_credential(user["exec"])
        if user.get("auth-provider"):
            raise KubeconfigError(f"context {name!r} uses an auth-provider plugin, which is not supported; use a "
                                  "token, a client certificate or an exec credential plugin")
        if token:
            configuration.api_key["BearerToken"] = f"Bearer {token}"
        elif user.get("username") and user.get("password"):
            basic = base64.b64encode(f"{user['username']}:{user['password']}".encode()).decode()
            configuration.api_key["BearerToken"] = f"Basic {basic}"

        if cert_pem is None:
            return kclient.ApiClient(configuration)
        if key_pem is None:
            raise KubeconfigError(f"context {name!r} has a client certificate but no client key")
        # The TLS context is built inside ApiClient(): the files only need to live that long.
        private_dir = tempfile.mkdtemp(prefix="kubecert-")  # mode 0700
        try:
            configuration.cert_file = _write_private(Path(private_dir) / "client.crt", cert_pem)
            configuration.key_file = _write_private(Path(private_dir) / "client.key", key_pem)
            return kclient.ApiClient(configuration)
        finally:
            shutil.rmtree(private_dir, ignore_errors=True)
            configuration.cert_file = configuration.key_file = None


def _parse(text: str) -> dict[str, Any]:
    try:
        cfg = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # Never echo the content: it holds credentials.
        raise KubeconfigError(f"the kubeconfig is not valid YAML (line {_yaml_line(exc)})") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("clusters"), list):
        raise KubeconfigError("the kubeconfig has no clusters: list; give the content of a kubeconfig file")
    return cfg


def _yaml_line(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return str(mark.line + 1) if mark is not None else "?"


def _named(cfg: dict[str, Any], section: str, name: str | None, key: str) -> dict[str, Any]:
    for item in cfg.get(section) or []:
        if isinstance(item, dict) and item.get("name") == name:
            return item.get(key) or {}
    known = ", ".join(str(i.get("name")) for i in cfg.get(section) or [] if isinstance(i, dict))
    raise KubeconfigError(f"the kubeconfig has no {key} named {name!r} (has: {known or 'none'})")


def _b64(value: str, what: str) -> str:
    try:
        return base64.b64decode(value, validate=False).decode()
    except (ValueError, UnicodeDecodeError):
        raise KubeconfigError(f"{what} in the kubeconfig is not base64-encoded PEM") from None


def _file_or_data(section: dict[str, Any], key: str) -> str | None:
    if section.get(f"{key}-data"):
        return _b64(section[f"{key}-data"], f"{key}-data")
    if section.get(key):
        return Path(section[key]).expanduser().read_text()
    return None


def _write_private(path: Path, content: str) -> str:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(content)
    return str(path)


async def _exec_credential(exec_config: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """Run a client-go exec credential plugin: (token, client cert PEM, client key PEM)."""
    from kubernetes.aio.config.exec_provider import ExecProvider
    from kubernetes.aio.config.kube_config import ConfigNode

    status = await ExecProvider(ConfigNode("exec", exec_config)).run()
    return status.get("token"), status.get("clientCertificateData"), status.get("clientKeyData")


@dataclass(frozen=True)
class KubeconfigIdentity:
    """Who a kubeconfig authenticates as, as far as the file itself tells (no secret values)."""

    server: str
    kind: str                      # "certificate" | "token" | "none"
    common_name: str = ""
    organizations: tuple[str, ...] = ()
    not_after: dt.datetime | None = None

    def valid_for(self, at_least: dt.timedelta) -> bool:
        """True for a certificate that stays valid at least that long (tokens: unknown → False)."""
        return self.not_after is not None and self.not_after - dt.datetime.now(dt.timezone.utc) >= at_least


def kubeconfig_identity(text: str | bytes) -> KubeconfigIdentity:
    """Who a kubeconfig (e.g. one read back from a host) authenticates as: its current context's server,
    credential kind, and certificate subject and expiry. Never raises: an unusable file is kind "none"."""
    raw = text.decode(errors="replace") if isinstance(text, bytes) else text
    try:
        cfg = _parse(raw)
        ctx = _named(cfg, "contexts", cfg.get("current-context"), "context")
        cluster = _named(cfg, "clusters", ctx.get("cluster"), "cluster")
        user = _named(cfg, "users", ctx.get("user"), "user")
    except (KubeconfigError, AttributeError):
        return KubeconfigIdentity(server="", kind="none")
    server = str(cluster.get("server") or "")
    if user.get("client-certificate-data"):
        try:
            cert = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
        except ValueError:
            return KubeconfigIdentity(server=server, kind="none")
        cn = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        orgs = tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME))
        return KubeconfigIdentity(server=server, kind="certificate", common_name=str(cn[0]) if cn else "",
                                  organizations=orgs, not_after=cert.not_valid_after_utc)
    if user.get("token") or user.get("tokenFile"):
        return KubeconfigIdentity(server=server, kind="token")
    return KubeconfigIdentity(server=server, kind="none")
