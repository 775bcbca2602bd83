"""Who is asking, and may they: authentication and authorization as a kubeadm cluster does them.

Authentication (`Authenticator.authenticate`): TLS client certificates signed by the lab CA (CN = user,
O = groups); bearer tokens — the admin's static token (`system:masters`), ServiceAccount tokens from TokenRequest
(JWTs with an expiry, valid while the ServiceAccount exists), legacy ServiceAccount token Secrets, and bootstrap
tokens from `kube-system/bootstrap-token-<id>` Secrets. No credentials at all makes the caller
`system:anonymous`; bad credentials are rejected (401).

Authorization (`Authorizer.allowed`): `system:masters` may do anything; nodes (`system:node:<name>` in
`system:nodes`) get what the Node authorizer grants (`nodeauth`: their own objects and what their pods use);
everyone is evaluated against the (Cluster)Roles and (Cluster)RoleBindings in the store. `bootstrap_policy()` gives the roles
and bindings a fresh kubeadm cluster has.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from .defaults import current_request
from .errors import Forbidden, Invalid
from .nodeauth import NODE_RULES, NodeAuthorizer, node_name, node_of_user_name, node_restriction
from .resources import Registry
from .store import Event, Store

Obj = dict[str, Any]
RBAC = "rbac.authorization.k8s.io"
ADMIN_USER = "kubernetes-admin"
DEFAULT_AUDIENCE = "https://kubernetes.default.svc.cluster.local"
SA_TOKEN_TYPE = "kubernetes.io/service-account-token"
BOOTSTRAP_TOKEN_TYPE = "bootstrap.kubernetes.io/token"
_BOOTSTRAP_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")


@dataclass(frozen=True)
class UserInfo:
    """An authenticated (or anonymous) caller."""

    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict, compare=False, hash=False)

    @property
    def is_master(self) -> bool:
        return "system:masters" in self.groups


ANONYMOUS = UserInfo("system:anonymous", ("system:unauthenticated",))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64(value: str | None) -> str:
    if not value:
        return ""
    try:
        return base64.b64decode(value).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


class Authenticator:
    """Maps request credentials to a `UserInfo`. `now` is the wall clock used for token expiry (tests may
    replace it)."""

    def __init__(self, store: Store, registry: Registry, *, admin_token: str) -> None:
        self.store = store
        self.registry = registry
        self.admin_token = admin_token
        self.now: Callable[[], float] = time.time
        self._key = secrets.token_bytes(32)
        self._static: dict[str, UserInfo] = {admin_token: UserInfo(ADMIN_USER, ("system:masters",
                                                                               "system:authenticated"))}
        self._legacy: dict[str, tuple[str, str]] = {}  # token -> (namespace, secret name)
        self.issued_tokens: list[str] = []  # every token signed here, so tests can search for leaks
        store.add_listener(self._on_event)

    # --- issuing ---------------------------------------------------------------------------------------------
    def add_static_token(self, token: str, user: str, groups: tuple[str, ...] = ()) -> None:
        """Accept `token` as `user` (a static token file entry)."""
        self._static[token] = UserInfo(user, tuple(groups) + ("system:authenticated",))

    def _sign(self, claims: dict[str, Any]) -> str:
        header = _b64url(json.dumps({"alg": "HS256", "kid": "lab"}, separators=(",", ":")).encode())
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        sig = hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        token = f"{header}.{payload}.{_b64url(sig)}"
        self.issued_tokens.append(token)
        return token

    def _verify(self, token: str) -> dict[str, Any] | None:
        parts = token.split(".")
        if len(parts) != 3:
            return None
        sig = hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(sig, _b64url_decode(parts[2])):
                return None
            return json.loads(_b64url_decode(parts[1]))
        except (ValueError, binascii.Error):
            return None

    def token_request(self, sa: Obj, spec: Obj) -> tuple[str, str]:
        """Issue a bound ServiceAccount token for TokenRequest `spec`; returns (token, expirationTimestamp).
        Expirations under 10 minutes are 422, as on a real server."""
        seconds = spec.get("expirationSeconds")
        seconds = 3600 if seconds is None else int(seconds)
        meta = sa["metadata"]
        if seconds < 600:
            raise Invalid.of("TokenRequest", meta["name"], [(
                "spec.expirationSeconds",
                f"Invalid value: {seconds}: may not specify a duration less than 10 minutes")], "authentication.k8s.io")
        if seconds > 2 ** 32:
            raise Invalid.of("TokenRequest", meta["name"], [(
                "spec.expirationSeconds",
                f"Invalid value: {seconds}: may not specify a duration larger than 2^32 seconds")],
                "authentication.k8s.io")
        now = int(self.now())
        exp = now + seconds
        claims = {
            "iss": DEFAULT_AUDIENCE, "sub": f"system:serviceaccount:{meta['namespace']}:{meta['name']}",
            "aud": spec.get("audiences") or [DEFAULT_AUDIENCE], "iat": now, "nbf": now, "exp": exp,
            "kubernetes.io": {"namespace": meta["namespace"],
                              "serviceaccount": {"name": meta["name"], "uid": meta["uid"]}},
            "jti": secrets.token_hex(8),
        }
        ts = datetime.fromtimestamp(exp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return self._sign(claims), ts

    def legacy_token(self, namespace: str, sa_name: str, sa_uid: str, secret_name: str) -> str:
        """A non-expiring token for a `kubernetes.io/service-account-token` Secret (what the token controller
        writes into `data.token`)."""
        return self._sign({
            "iss": "kubernetes/serviceaccount", "sub": f"system:serviceaccount:{namespace}:{sa_name}",
            "kubernetes.io/serviceaccount/namespace": namespace,
            "kubernetes.io/serviceaccount/secret.name": secret_name,
            "kubernetes.io/serviceaccount/service-account.name": sa_name,
            "kubernetes.io/serviceaccount/service-account.uid": sa_uid,
        })

    # --- authenticating --------------------------------------------------------------------------------------
    def authenticate(self, bearer: str | None, peercert: dict | None = None) -> UserInfo | None:
        """The caller: from a client certificate, else a bearer token, else anonymous. None = bad token."""
        if peercert:
            user = self._from_cert(peercert)
            if user is not None:
                return user
        if bearer is None:
            return ANONYMOUS
        return self.authenticate_token(bearer)

    def authenticate_token(self, token: str) -> UserInfo | None:
        """The user a bearer token stands for, or None."""
        if token in self._static:
            return self._static[token]
        m = _BOOTSTRAP_RE.match(token)
        if m:
            return self._bootstrap(m.group(1), m.group(2))
        claims = self._verify(token)
        if claims is None:
            return None
        if "kubernetes.io" in claims:
            return self._bound(claims)
        if token in self._legacy:
            return self._legacy_user(claims)
        return None

    @staticmethod
    def _from_cert(peercert: dict) -> UserInfo | None:
        cn, orgs = None, []
        for rdn in peercert.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    cn = value
                elif key == "organizationName":
                    orgs.append(value)
        if not cn:
            return None
        return UserInfo(cn, tuple(orgs) + ("system:authenticated",))

    def _sa_user(self, namespace: str, name: str, uid: str) -> UserInfo | None:
        sa = self.store.try_get(self.registry.get("", "serviceaccounts"), namespace, name)
        if sa is None or sa["metadata"].get("uid") != uid:
            return None
        return UserInfo(f"system:serviceaccount:{namespace}:{name}",
                        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
                        uid=uid)

    def _bound(self, claims: dict[str, Any]) -> UserInfo | None:
        if claims.get("exp") is not None and self.now() >= claims["exp"]:
            return None
        k = claims["kubernetes.io"]
        return self._sa_user(k["namespace"], k["serviceaccount"]["name"], k["serviceaccount"]["uid"])

    def _legacy_user(self, claims: dict[str, Any]) -> UserInfo | None:
        ns = claims.get("kubernetes.io/serviceaccount/namespace", "")
        return self._sa_user(ns, claims.get("kubernetes.io/serviceaccount/service-account.name", ""),
                             claims.get("kubernetes.io/serviceaccount/service-account.uid", ""))

    def _bootstrap(self, token_id: str, token_secret: str) -> UserInfo | None:
        secret = self.store.try_get(self.registry.get("", "secrets"), "kube-system", f"bootstrap-token-{token_id}")
        if secret is None or secret.get("type") != BOOTSTRAP_TOKEN_TYPE:
            return None
        data = secret.get("data") or {}
        if _b64(data.get("token-id")) != token_id or not hmac.compare_digest(_b64(data.get("token-secret")),
                                                                              token_secret):
            return None
        if _b64(data.get("usage-bootstrap-authentication")) != "true":
            return None
        expiration = _b64(data.get("expiration"))
        if expiration:
            try:
                exp = datetime.fromisoformat(expiration.replace("Z", "+00:00")).timestamp()
            except ValueError:
                return None
            if self.now() >= exp:
                return None
        extra = tuple(g.strip() for g in _b64(data.get("auth-extra-groups")).split(",") if g.strip())
        return UserInfo(f"system:bootstrap:{token_id}", ("system:bootstrappers",) + extra + ("system:authenticated",))

    def _on_event(self, ev: Event) -> None:
        if ev.rt.key != ("", "secrets"):
            return
        if ev.old and ev.old.get("type") == SA_TOKEN_TYPE:
            self._legacy.pop(_b64((ev.old.get("data") or {}).get("token")), None)
        if ev.type != "DELETED" and ev.obj.get("type") == SA_TOKEN_TYPE:
            token = _b64((ev.obj.get("data") or {}).get("token"))
            if token:
                self._legacy[token] = (ev.obj["metadata"]["namespace"], ev.obj["metadata"]["name"])
        elif ev.type == "DELETED":
            self._legacy.pop(_b64((ev.obj.get("data") or {}).get("token")), None)


# --- authorization -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attributes:
    """What a request wants to do, in RBAC terms."""

    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""  # for non-resource requests
    resource_request: bool = True


def _rule_allows(rule: Obj, a: Attributes) -> bool:
    verbs = rule.get("verbs") or []
    if "*" not in verbs and a.verb not in verbs:
        return False
    if not a.resource_request:
        for url in rule.get("nonResourceURLs") or []:
            if url == "*" or url == a.path or (url.endswith("*") and a.path.startswith(url[:-1])):
                return True
        return False
    groups = rule.get("apiGroups")
    if groups is None or ("*" not in groups and a.group not in groups):
        return False
    want = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
    ok = False
    for r in rule.get("resources") or []:
        if r == "*" or r == want or (a.subresource and (r == f"*/{a.subresource}" or r == f"{a.resource}/*")):
            ok = True
            break
    if not ok:
        return False
    names = rule.get("resourceNames") or []
    return not names or a.name in names


def _subject_matches(subject: Obj, user: UserInfo, binding_ns: str) -> bool:
    kind = subject.get("kind")
    if kind == "User":
        return subject.get("name") == user.name
    if kind == "Group":
        return subject.get("name") in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_ns
        return user.name == f"system:serviceaccount:{ns}:{subject.get('name')}"
    return False


class Authorizer:
    """Decides requests: masters, then the Node authorizer (`nodeauth`), then RBAC objects in the store."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        self.nodes = NodeAuthorizer(store, registry)

    def _rt(self, plural: str):
        return self.registry.get(RBAC, plural)

    def allowed(self, user: UserInfo, a: Attributes) -> bool:
        """Whether `user` may do `a`."""
        if user.is_master:
            return True
        if self._node_decision(user, a)[0]:
            return True
        return any(_rule_allows(r, a) for r in self.rules_for(user, a.namespace))

    def _node_decision(self, user: UserInfo, a: Attributes) -> tuple[bool, str]:
        node = node_name(user)
        if node is None:
            return False, ""
        return self.nodes.decide(node, a, lambda rules, attrs: any(_rule_allows(r, attrs) for r in rules))

    def rules_for(self, user: UserInfo, namespace: str = "") -> list[Obj]:
        """Every RBAC rule that applies to `user` in `namespace` (cluster-wide rules included)."""
        rules: list[Obj] = []

        def bound(b: Obj) -> bool:
            ns = b["metadata"].get("namespace", "")
            return any(_subject_matches(s, user, ns) for s in b.get("subjects") or [])

        for b in self.store.list(self._rt("clusterrolebindings"), None, bound):
            rules += self._role_rules(b["roleRef"], "")
        if namespace:
            for b in self.store.list(self._rt("rolebindings"), namespace, bound):
                rules += self._role_rules(b["roleRef"], namespace)
        return rules

    def _role_rules(self, ref: Obj, namespace: str) -> list[Obj]:
        if ref.get("kind") == "ClusterRole":
            role = self.store.try_get(self._rt("clusterroles"), None, ref.get("name", ""))
        elif ref.get("kind") == "Role" and namespace:
            role = self.store.try_get(self._rt("roles"), namespace, ref.get("name", ""))
        else:
            role = None
        return list((role or {}).get("rules") or [])

    def forbidden(self, user: UserInfo, a: Attributes) -> Forbidden:
        """The 403 a real server sends for a denied request (with the Node authorizer's reason, if it has one)."""
        reason = self._node_decision(user, a)[1]
        suffix = f": {reason}" if reason else ""
        if not a.resource_request:
            return Forbidden(f'forbidden: User "{user.name}" cannot {a.verb} path "{a.path}"{suffix}',
                             details={})
        resource = f"{a.resource}/{a.subresource}" if a.subresource else a.resource
        qual = f"{a.resource}.{a.group}" if a.group else a.resource
        subject = f'{qual} "{a.name}"' if a.name else qual
        scope = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
        details: Obj = {"kind": a.resource}
        if a.name:
            details["name"] = a.name
        if a.group:
            details["group"] = a.group
        return Forbidden(f'{subject} is forbidden: User "{user.name}" cannot {a.verb} resource "{resource}" in '
                         f'API group "{a.group}" {scope}{suffix}', details=details)


def install_node_restriction(store: Store) -> None:
    """The NodeRestriction admission plugin: writes by a node user (seen through the request context) to Nodes,
    Pods and Leases are limited to its own (see `nodeauth.node_restriction`)."""
    def admit(op: str, obj: Obj, old: Obj | None) -> Obj:
        ctx = current_request.get()
        node = node_of_user_name(ctx.user) if ctx is not None else None
        if node is not None and obj.get("kind") in ("Node", "Pod", "Lease"):
            node_restriction(node, op, obj["kind"], obj, old)
        return obj
    store.add_admission(admit)


def impersonation_requests(user: str, groups: list[str], uid: str, extra: dict[str, list[str]]) -> list[Attributes]:
    """The `impersonate` checks a request with Impersonate-* headers needs (as the real server makes them)."""
    checks: list[Attributes] = []
    if user.startswith("system:serviceaccount:"):
        parts = user.split(":")
        ns, name = (parts[2], parts[3]) if len(parts) == 4 else ("", user)
        checks.append(Attributes("impersonate", "", "serviceaccounts", "", ns, name))
    else:
        checks.append(Attributes("impersonate", "", "users", "", "", user))
    checks += [Attributes("impersonate", "", "groups", "", "", g) for g in groups]
    if uid:
        checks.append(Attributes("impersonate", "authentication.k8s.io", "uids", "", "", uid))
    for key, values in extra.items():
        checks += [Attributes("impersonate", "authentication.k8s.io", "userextras", key, "", v) for v in values]
    return checks


def impersonated(user: str, groups: list[str], uid: str, extra: dict[str, list[str]]) -> UserInfo:
    """The user a request acts as after impersonation (authenticated users get system:authenticated)."""
    all_groups = list(groups)
    if user.startswith("system:serviceaccount:") and len(user.split(":")) == 4:
        ns = user.split(":")[2]
        for g in ("system:serviceaccounts", f"system:serviceaccounts:{ns}"):
            if g not in all_groups:
                all_groups.append(g)
    if user != "system:anonymous" and "system:authenticated" not in all_groups:
        all_groups.append("system:authenticated")
    return UserInfo(user, tuple(all_groups), uid, dict(extra))


# --- bootstrap policy ----------------------------------------------------------------------------------------
def _role(name: str, rules: list[Obj], kind: str = "ClusterRole", namespace: str | None = None) -> Obj:
    meta: Obj = {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                 "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}}
    if namespace:
        meta["namespace"] = namespace
        meta.pop("labels")
        meta.pop("annotations")
    return {"apiVersion": f"{RBAC}/v1", "kind": kind, "metadata": meta, "rules": rules}


def _binding(name: str, role: str, subjects: list[tuple[str, str]], kind: str = "ClusterRoleBinding",
             namespace: str | None = None, role_kind: str = "ClusterRole") -> Obj:
    meta: Obj = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    out = {"apiVersion": f"{RBAC}/v1", "kind": kind, "metadata": meta,
           "roleRef": {"apiGroup": RBAC, "kind": role_kind, "name": role}}
    if subjects:
        out["subjects"] = [{"apiGroup": RBAC, "kind": k, "name": n} for k, n in subjects]
    return out


_READ = ["get", "list", "watch"]
_WRITE = ["create", "delete", "deletecollection", "patch", "update"]
_NS_RESOURCES = ["pods", "pods/log", "pods/status", "services", "endpoints", "configmaps", "secrets",
                 "serviceaccounts", "events", "persistentvolumeclaims"]


def bootstrap_policy() -> list[tuple[str, Obj]]:
    """(plural, object) pairs for the roles and bindings a fresh kubeadm cluster has (rbac.authorization.k8s.io)."""
    discovery = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
                 "/readyz", "/version", "/version/"]
    public = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
    csr = "certificates.k8s.io"
    out: list[tuple[str, Obj]] = [
        ("clusterroles", _role("cluster-admin", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                                                 {"nonResourceURLs": ["*"], "verbs": ["*"]}])),
        ("clusterroles", _role("system:discovery", [{"nonResourceURLs": discovery, "verbs": ["get"]}])),
        ("clusterroles", _role("system:public-info-viewer", [{"nonResourceURLs": public, "verbs": ["get"]}])),
        ("clusterroles", _role("system:basic-user", [
            {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews",
                                                                  "selfsubjectrulesreviews"], "verbs": ["create"]},
            {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]}])),
        ("clusterroles", _role("view", [
            {"apiGroups": [""], "resources": [r for r in _NS_RESOURCES if r != "secrets"], "verbs": _READ},
            {"apiGroups": ["apps"], "resources": ["deployments", "daemonsets", "replicasets"], "verbs": _READ},
            {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": _READ}])),
        ("clusterroles", _role("edit", [
            {"apiGroups": [""], "resources": _NS_RESOURCES + ["pods/exec"], "verbs": _READ + _WRITE},
            {"apiGroups": ["apps"], "resources": ["deployments", "daemonsets", "replicasets", "deployments/scale"],
             "verbs": _READ + _WRITE},
            {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": _READ + _WRITE}])),
        ("clusterroles", _role("admin", [
            {"apiGroups": ["", "apps", "networking.k8s.io", "coordination.k8s.io"], "resources": ["*"],
             "verbs": ["*"]},
            {"apiGroups": [RBAC], "resources": ["roles", "rolebindings"], "verbs": ["*"]}])),
        ("clusterroles", _role("system:node-bootstrapper", [
            {"apiGroups": [csr], "resources": ["certificatesigningrequests"], "verbs": ["create", "get", "list",
                                                                                         "watch"]}])),
        ("clusterroles", _role("system:certificates.k8s.io:certificatesigningrequests:nodeclient", [
            {"apiGroups": [csr], "resources": ["certificatesigningrequests/nodeclient"], "verbs": ["create"]}])),
        ("clusterroles", _role("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient", [
            {"apiGroups": [csr], "resources": ["certificatesigningrequests/selfnodeclient"], "verbs": ["create"]}])),
        ("clusterroles", _role("system:node", list(NODE_RULES))),  # bound to nobody, as kubeadm leaves it
        ("clusterroles", _role("system:node-proxier", [  # as the API server's bootstrap policy defines it
            {"apiGroups": [""], "resources": ["endpoints", "services"], "verbs": ["list", "watch"]},
            {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch", "update"]},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]}])),
        ("clusterroles", _role("kubeadm:get-nodes", [{"apiGroups": [""], "resources": ["nodes"],
                                                      "verbs": ["get"]}])),
        ("clusterrolebindings", _binding("cluster-admin", "cluster-admin", [("Group", "system:masters")])),
        ("clusterrolebindings", _binding("system:node", "system:node", [])),
        ("clusterrolebindings", _binding("system:discovery", "system:discovery",
                                         [("Group", "system:authenticated")])),
        ("clusterrolebindings", _binding("system:basic-user", "system:basic-user",
                                         [("Group", "system:authenticated")])),
        ("clusterrolebindings", _binding("system:public-info-viewer", "system:public-info-viewer",
                                         [("Group", "system:authenticated"), ("Group", "system:unauthenticated")])),
        ("clusterrolebindings", _binding("kubeadm:kubelet-bootstrap", "system:node-bootstrapper",
                                         [("Group", "system:bootstrappers:kubeadm:default-node-token")])),
        ("clusterrolebindings", _binding("kubeadm:node-autoapprove-bootstrap",
                                         "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
                                         [("Group", "system:bootstrappers:kubeadm:default-node-token")])),
        ("clusterrolebindings", _binding("kubeadm:node-autoapprove-certificate-rotation",
                                         "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
                                         [("Group", "system:nodes")])),
        ("clusterrolebindings", _binding("kubeadm:get-nodes", "kubeadm:get-nodes",
                                         [("Group", "system:bootstrappers:kubeadm:default-node-token")])),
        ("roles", _role("kubeadm:nodes-kubeadm-config", [
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["kubeadm-config"],
             "verbs": ["get"]}], kind="Role", namespace="kube-system")),
        ("roles", _role("kubeadm:kubelet-config", [
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["kubelet-config"],
             "verbs": ["get"]}], kind="Role", namespace="kube-system")),
        ("rolebindings", _binding("kubeadm:nodes-kubeadm-config", "kubeadm:nodes-kubeadm-config",
                                  [("Group", "system:bootstrappers:kubeadm:default-node-token"),
                                   ("Group", "system:nodes")], kind="RoleBinding", namespace="kube-system",
                                  role_kind="Role")),
        ("rolebindings", _binding("kubeadm:kubelet-config", "kubeadm:kubelet-config",
                                  [("Group", "system:bootstrappers:kubeadm:default-node-token"),
                                   ("Group", "system:nodes")], kind="RoleBinding", namespace="kube-system",
                                  role_kind="Role")),
    ]
    return out
