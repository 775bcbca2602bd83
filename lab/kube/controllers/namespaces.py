"""Namespaces: lifecycle admission (defaults on create; no new content while Terminating), the namespace
controller (delete the contents, then finalize), and per-namespace defaults (ServiceAccount `default`,
ConfigMap `kube-root-ca.crt`, and before Kubernetes 1.24 the ServiceAccount token Secrets)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from ..errors import Forbidden
from ..store import Event
from .podutil import meta

ROOT_CA_CONFIGMAP = "kube-root-ca.crt"


class Namespaces:
    """Namespace admission, deletion and defaults."""

    name = "namespace"

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self._finalizing: set[str] = set()

    # --- admission -------------------------------------------------------------------------------------------------
    def admit_namespace(self, op: str, ns: dict, old: dict | None) -> dict:
        """Namespaces get the `kubernetes` finalizer, phase Active and the kubernetes.io/metadata.name label."""
        if op == "DELETE":
            return ns
        name = meta(ns).get("name", "")
        ns.setdefault("metadata", {}).setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        if op == "CREATE":
            ns.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            ns.setdefault("status", {})["phase"] = "Active"
        elif old is not None:
            if meta(old).get("deletionTimestamp"):
                ns.setdefault("status", {})["phase"] = "Terminating"
            elif "status" not in ns:
                ns["status"] = old.get("status") or {"phase": "Active"}
        return ns

    def admit_content(self, op: str, obj: dict, old: dict | None) -> dict:
        """NamespaceLifecycle: refuse new objects in a Terminating namespace (Events excepted)."""
        if op != "CREATE" or obj.get("kind") in ("Namespace", "Event"):
            return obj
        ns = meta(obj).get("namespace")
        if ns:
            cur = self.ctx.namespace(ns)
            if cur is not None and meta(cur).get("deletionTimestamp"):
                raise Forbidden(f"{_plural(self.ctx, obj)} \"{meta(obj).get('name', '')}\" is forbidden: unable to "
                                f"create new content in namespace {ns} because it is being terminated",
                                details={"name": meta(obj).get("name", ""), "kind": _plural(self.ctx, obj)})
        return obj

    # --- controller ------------------------------------------------------------------------------------------------
    def on_event(self, ev: Event) -> None:
        key = ev.rt.key
        if key == ("", "namespaces") and ev.type != "DELETED":
            self.ctx.enqueue(self.name, self.reconcile, ev.obj["metadata"]["name"])
        elif ev.rt.namespaced and ev.type == "DELETED":
            ns = meta(ev.obj).get("namespace")
            if ns and self.ctx.namespace_terminating(ns):
                self.ctx.enqueue(self.name, self.reconcile, ns)
        elif key in (("", "serviceaccounts"), ("", "configmaps"), ("", "secrets")) and ev.type == "DELETED":
            ns = meta(ev.obj).get("namespace")
            if ns:
                self.ctx.enqueue(self.name, self.reconcile, ns)

    def reconcile(self, name: str) -> None:
        ns = self.ctx.namespace(name)
        if ns is None:
            return
        if meta(ns).get("deletionTimestamp"):
            self._delete_contents(name)
        else:
            self._defaults(name)

    def _delete_contents(self, name: str) -> None:
        store = self.ctx.store
        remaining = 0
        for rt in self.ctx.registry.all():
            if not rt.namespaced:
                continue
            for obj in store.list(rt, name):
                if meta(obj).get("deletionTimestamp"):
                    remaining += 1
                    continue
                try:
                    store.delete(rt, name, meta(obj)["name"])
                except Exception:
                    pass
                if store.try_get(rt, name, meta(obj)["name"]) is not None:
                    remaining += 1
        if remaining:
            return  # objects with finalizers: their deletion events bring us back
        if self.ctx.calico_etcd is not None:
            for obj in self.ctx.calico_list("networkpolicies"):
                if meta(obj).get("namespace") == name:
                    self.ctx.calico_etcd.delete(self.ctx.calico_rt("networkpolicies"), name, meta(obj)["name"])
        if name not in self._finalizing:
            self._finalizing.add(name)
            self.ctx.runner.spawn(self._finalize_later(name))

    async def _finalize_later(self, name: str) -> None:
        try:
            await self.ctx.clock.sleep(3.0)  # the namespace controller's discovery and deletion passes take a moment
        finally:
            self._finalizing.discard(name)
        ns = self.ctx.namespace(name)
        if ns is None or not meta(ns).get("deletionTimestamp"):
            return
        for rt in self.ctx.registry.all():
            if rt.namespaced and self.ctx.store.list(rt, name):
                self.ctx.enqueue(self.name, self.reconcile, name)
                return
        self.ctx.store.finalize(self.ctx.rt("", "namespaces"), None, name)

    def _defaults(self, name: str) -> None:
        store = self.ctx.store
        sa_rt, cm_rt = self.ctx.rt("", "serviceaccounts"), self.ctx.rt("", "configmaps")
        if store.try_get(sa_rt, name, "default") is None:
            store.create(sa_rt, {"metadata": {"name": "default", "namespace": name}}, name)
        ca = self.ca_pem()
        if ca and store.try_get(cm_rt, name, ROOT_CA_CONFIGMAP) is None:
            store.create(cm_rt, {"metadata": {"name": ROOT_CA_CONFIGMAP, "namespace": name,
                                              "annotations": {"kubernetes.io/description": (
                                                  "Contains a CA bundle that can be used to verify the "
                                                  "kube-apiserver when using internal endpoints such as the "
                                                  "internal service IP or kubernetes.default.svc. No other usage "
                                                  "is guaranteed across distributions of Kubernetes clusters.")}},
                                 "data": {"ca.crt": ca}}, name)
        if self._legacy_tokens():
            for sa in store.list(sa_rt, name):
                self.ensure_token_secret(sa)

    def on_serviceaccount(self, ev: Event) -> None:
        if ev.type == "ADDED" and self._legacy_tokens():
            m = meta(ev.obj)
            self.ctx.enqueue("sa-token", self._token_for, (m["namespace"], m["name"]))

    def _token_for(self, key: tuple[str, str]) -> None:
        sa = self.ctx.store.try_get(self.ctx.rt("", "serviceaccounts"), *key)
        if sa is not None and not self.ctx.namespace_terminating(key[0]):
            self.ensure_token_secret(sa)

    def ensure_token_secret(self, sa: dict) -> None:
        """Before Kubernetes 1.24 every ServiceAccount gets a `<name>-token-xxxxx` Secret listed in `.secrets`."""
        store = self.ctx.store
        sec_rt, sa_rt = self.ctx.rt("", "secrets"), self.ctx.rt("", "serviceaccounts")
        ns, name = meta(sa)["namespace"], meta(sa)["name"]
        for ref in sa.get("secrets") or []:
            if store.try_get(sec_rt, ns, ref.get("name", "")) is not None:
                return
        suffix = hashlib.sha256(f"{ns}/{name}/{meta(sa).get('uid')}".encode()).hexdigest()
        from .workloads import safe_encode
        secret_name = f"{name}-token-{safe_encode(suffix[:5])}"
        if store.try_get(sec_rt, ns, secret_name) is None:
            # The API server's admission writes token, ca.crt and namespace into such a Secret; without it
            # (the controllers alone) we fill them ourselves.
            created = store.create(sec_rt, {"metadata": {"name": secret_name, "namespace": ns, "annotations": {
                "kubernetes.io/service-account.name": name,
                "kubernetes.io/service-account.uid": meta(sa).get("uid", "")}},
                "type": "kubernetes.io/service-account-token"}, ns)
            if not (created.get("data") or {}).get("token"):
                data = {"namespace": _b64(ns), "token": _b64(legacy_token(ns, name, meta(sa).get("uid", "")))}
                ca = self.ca_pem()
                if ca:
                    data["ca.crt"] = _b64(ca)

                def fill(o: dict) -> None:
                    o["data"] = data
                store.mutate(sec_rt, ns, secret_name, fill)

        def link(o: dict) -> None:
            o["secrets"] = [{"name": secret_name}]
        store.mutate(sa_rt, ns, name, link)

    def _legacy_tokens(self) -> bool:
        try:
            return int(self.ctx.kube_version().lstrip("v").split(".")[1]) < 24
        except (IndexError, ValueError):
            return True

    def ca_pem(self) -> str:
        ca = getattr(self.ctx.kube, "ca", None)
        pem = getattr(ca, "ca_pem", None) if ca is not None else None
        if isinstance(pem, bytes):
            pem = pem.decode()
        return pem or ""


def legacy_token(namespace: str, sa_name: str, uid: str) -> str:
    """A JWT-shaped legacy ServiceAccount token. The API server recognises it by looking up the Secret of type
    kubernetes.io/service-account-token whose `data.token` it is (the signature is not checked)."""
    header = _b64url(b'{"alg":"RS256","kid":"lab"}')
    claims = (f'{{"iss":"kubernetes/serviceaccount","kubernetes.io/serviceaccount/namespace":"{namespace}",'
              f'"kubernetes.io/serviceaccount/service-account.name":"{sa_name}",'
              f'"kubernetes.io/serviceaccount/service-account.uid":"{uid}",'
              f'"sub":"system:serviceaccount:{namespace}:{sa_name}"}}').encode()
    sig = _b64url(hashlib.sha512(claims + b"lab-signing-key").digest() * 4)
    return f"{header}.{_b64url(claims)}.{sig}"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _plural(ctx: Any, obj: dict) -> str:
    rt = ctx.registry.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
    return rt.qualified if rt else (obj.get("kind") or "").lower()
