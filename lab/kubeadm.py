"""`kubeadm token create` on the emulated control plane: real bootstrap-token Secrets in the cluster's store.

The Secret is what kubeadm writes (`kube-system/bootstrap-token-<id>`, type `bootstrap.kubernetes.io/token`), so
the Kubernetes lab authenticates `<id>.<secret>` as `system:bootstrap:<id>` until it expires.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import string
from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .shell import Invocation, Result

# The control plane's advertised endpoint in the runbook's topology (k8s-m, 172.16.3.170).
ADVERTISE_ENDPOINT = "172.16.3.170:6443"
DEFAULT_GROUPS = "system:bootstrappers:kubeadm:default-node-token"
_TOKEN_CHARS = string.ascii_lowercase + string.digits
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|m|s|ms)")


def ca_cert_hash(ca_pem: bytes) -> str:
    """`sha256:<hex>` of the CA certificate's SubjectPublicKeyInfo, as `--discovery-token-ca-cert-hash` wants."""
    cert = x509.load_pem_x509_certificate(ca_pem)
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def parse_duration(text: str) -> timedelta:
    """A Go duration (`24h`, `1h30m`, `24h0m0s`, `0`) as a timedelta; ValueError when malformed."""
    if text == "0":
        return timedelta(0)
    pos, total = 0, 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        value, unit = float(m.group(1)), m.group(2)
        total += value * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f'time: invalid duration "{text}"')
    return timedelta(seconds=total)


def bootstrap_token_secret(token_id: str, token_secret: str, *, ttl: timedelta, groups: str = DEFAULT_GROUPS,
                           usages: tuple[str, ...] = ("signing", "authentication"), description: str = "",
                           now: datetime | None = None) -> dict[str, Any]:
    """The Secret kubeadm stores for a bootstrap token (values base64-encoded, as the API holds them)."""
    data = {"token-id": token_id, "token-secret": token_secret}
    if ttl > timedelta(0):
        expires = (now or datetime.now(timezone.utc)) + ttl
        data["expiration"] = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    if description:
        data["description"] = description
    for usage in usages:
        data[f"usage-bootstrap-{usage}"] = "true"
    if groups:
        data["auth-extra-groups"] = groups
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"bootstrap-token-{token_id}", "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


def new_token() -> tuple[str, str]:
    """A fresh (token id, token secret): 6 and 16 characters of [a-z0-9]."""
    return ("".join(secrets.choice(_TOKEN_CHARS) for _ in range(6)),
            "".join(secrets.choice(_TOKEN_CHARS) for _ in range(16)))


class Kubeadm:
    """The `kubeadm` program on k8s-m, acting on the Kubernetes lab `kube` (its `.store` and `.ca`)."""

    def __init__(self, kube: Any) -> None:
        self.kube = kube

    async def __call__(self, inv: Invocation) -> Result:
        args = inv.argv[1:]
        if args[:2] != ["token", "create"]:
            what = " ".join(args[:2]) or "(none)"
            return Result.fail(f'lab: only "kubeadm token create" is emulated on k8s-m (got: {what})')
        return self._token_create(args[2:], inv)

    def _token_create(self, args: list[str], inv: Invocation) -> Result:
        opts = {"--ttl": "24h0m0s", "--description": "", "--groups": DEFAULT_GROUPS,
                "--usages": "signing,authentication"}
        print_join, token = False, None
        i = 0
        while i < len(args):
            a = args[i]
            name, eq, value = a.partition("=")
            if a == "--print-join-command":
                print_join = True
            elif name in opts:
                if not eq:
                    if i + 1 >= len(args):
                        return Result.fail(f"flag needs an argument: {name}")
                    value = args[i + 1]
                    i += 1
                opts[name] = value
            elif a.startswith("-"):
                return Result.fail(f"unknown flag: {name}\nTo see the stack trace of this error execute with "
                                   "--v=5 or higher")
            elif token is None:
                token = a
            i += 1
        try:
            ttl = parse_duration(opts["--ttl"])
        except ValueError as e:
            return Result.fail(f'invalid argument "{opts["--ttl"]}" for "--ttl" flag: {e}')
        if token is not None:
            m = re.fullmatch(r"([a-z0-9]{6})\.([a-z0-9]{16})", token)
            if not m:
                return Result.fail(f'the bootstrap token "{token}" was not of the form "[a-z0-9]{{6}}.[a-z0-9]{{16}}"')
            token_id, token_secret = m.groups()
        else:
            token_id, token_secret = new_token()
        usages = tuple(u for u in opts["--usages"].split(",") if u)
        secret = bootstrap_token_secret(token_id, token_secret, ttl=ttl, groups=opts["--groups"], usages=usages,
                                        description=opts["--description"])
        secrets_rt = self.kube.store.registry.get("", "secrets")
        try:
            self.kube.store.create(secrets_rt, secret, namespace="kube-system")
        except Exception as e:  # an ApiError from the store (e.g. AlreadyExists for a given token)
            return Result.fail(f"failed to create or update bootstrap token with name {secret['metadata']['name']}"
                               f": {getattr(e, 'message', e)}")
        inv.session.changed = True
        full = f"{token_id}.{token_secret}"
        if not print_join:
            return Result.ok(full + "\n")
        ca_hash = ca_cert_hash(self.kube.ca.ca_pem)
        # kubeadm's join line ends with a space before the newline; scripts that split on whitespace don't care.
        return Result.ok(f"kubeadm join {ADVERTISE_ENDPOINT} --token {full} --discovery-token-ca-cert-hash "
                         f"{ca_hash} \n")
