"""Admission: what the API server does to an object between the request and storage.

Installed as store admission hooks (so objects written by controllers get the same treatment):
- defaulting as the real server does it (pod spec and container fields, phase Pending, Service type/ports,
  Deployment strategy, namespace finalizers...);
- validation of requests that come over HTTP: required fields (422 Invalid), unknown fields with
  `fieldValidation=Strict` (400), Calico and operator objects (e.g. an IPAMConfig without `autoAllocateBlocks`),
  custom resources against their CRD's schema; unknown fields of built-in kinds are dropped, as decoding does;
- schema completion: every field the OpenAPI schema marks required gets a value, so the strict pydantic models
  of kubernetes 37 accept what the server returns (e.g. all ten `status.nodeInfo` fields, `imageID`);
- side effects the real control plane performs synchronously enough to look so: CSR signing on approval,
  ServiceAccount token Secrets getting their token, CRDs becoming established (and served).
"""

from __future__ import annotations

import base64
import contextvars
import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from . import csr as csr_rules, schema as schemas
from .errors import ApiError, BadRequest, Forbidden, Invalid, NotFound
from .resources import CALICO_GROUP, TIGERA_OPERATOR_GROUP, Registry, ResourceType
from .schema import Schema
from .store import Event, Store

Obj = dict[str, Any]


@dataclass
class RequestContext:
    """Facts about the HTTP request being admitted (absent for writes made by lab code)."""

    field_validation: str = "Ignore"  # Strict | Warn | Ignore
    user: str = ""
    warnings: list[str] = field(default_factory=list)


current_request: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("kube_request",
                                                                                      default=None)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- schema walking ------------------------------------------------------------------------------------------
_ZERO: dict[str, Callable[[], Any]] = {"string": str, "integer": int, "number": float, "boolean": bool,
                                       "array": list, "object": dict}
_ROOT_FIELDS = ("apiVersion", "kind", "metadata")  # kept at the root of every object, whatever its schema says
# Required in the schema but defaulted or filled in by the server itself.
_SERVER_FILLED = {"audiences"}


class _Walk:
    def __init__(self, *, validate: bool, strict: bool, prune: bool, check_types: bool) -> None:
        self.validate, self.strict, self.prune, self.check_types = validate, strict, prune, check_types
        self.causes: list[tuple[str, str]] = []
        self.unknown: list[str] = []

    def node(self, value: Any, sch: Schema | None, path: str, in_status: bool) -> Any:
        if sch is None:
            return value
        if self.check_types and value is not None and not self._type_ok(value, sch):
            want = sch.types[0] if sch.types else "object"
            self.causes.append((path, f'Invalid value: "{type(value).__name__}": {path} in body must be of type '
                                      f'{want}: "{type(value).__name__}"'))
            return value
        if self.check_types and "enum" in sch.node and value not in sch.node["enum"]:
            allowed = ", ".join(f'"{v}"' for v in sch.node["enum"])
            self.causes.append((path, f'Unsupported value: "{value}": supported values: {allowed}'))
        if isinstance(value, dict):
            return self._object(value, sch, path, in_status)
        if isinstance(value, list):
            items = sch.items()
            return [self.node(v, items, f"{path}[{i}]", in_status) for i, v in enumerate(value)]
        return value

    @staticmethod
    def _type_ok(value: Any, sch: Schema) -> bool:
        types = sch.types
        if not types or sch.node.get("x-kubernetes-int-or-string"):
            return True
        checks = {"string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool),
                  "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
                  "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
                  "array": lambda v: isinstance(v, list), "object": lambda v: isinstance(v, dict)}
        return any(checks.get(t, lambda v: True)(value) for t in types)

    def _object(self, value: Obj, sch: Schema, path: str, in_status: bool) -> Obj:
        props = sch.properties
        if props and not sch.preserves_unknown and "additionalProperties" not in sch.node:
            for k in list(value):
                if k not in props and not (not path and k in _ROOT_FIELDS):
                    self.unknown.append(f"{path}.{k}" if path else k)
                    if self.prune:
                        del value[k]
        for k, v in list(value.items()):
            child = sch.prop(k)
            if child is not None:
                value[k] = self.node(v, child, f"{path}.{k}" if path else k, in_status or (not path and
                                                                                          k == "status"))
        for k in sch.required:
            if k in value and value[k] is not None:
                continue
            where = f"{path}.{k}" if path else k
            if self.validate and not in_status and k not in _SERVER_FILLED:
                self.causes.append((where, "Required value"))
                continue
            child = sch.prop(k)
            kind = (child.types[0] if child is not None and child.types else "string")
            value[k] = self.node(_ZERO.get(kind, str)(), child, where, in_status)
        return value


def check_and_complete(obj: Obj, sch: Schema | None, *, kind: str, name: str, group: str = "",
                       custom: bool = False) -> Obj:
    """Validate (for HTTP requests) and complete `obj` against `sch`. Raises Invalid (422) or BadRequest (400)."""
    if sch is None:
        return obj
    ctx = current_request.get()
    walk = _Walk(validate=ctx is not None, strict=ctx is not None and ctx.field_validation == "Strict",
                 prune=not (ctx is not None and ctx.field_validation == "Strict"),
                 check_types=custom and ctx is not None)
    obj = walk.node(obj, sch, "", False)
    if walk.causes:
        raise Invalid.of(kind, name, walk.causes, group)
    if walk.unknown and ctx is not None:
        if walk.strict:
            fields = ", ".join(f'unknown field "{u}"' for u in walk.unknown)
            raise BadRequest(f"{kind} in version \"{obj.get('apiVersion', '')}\" cannot be handled as a {kind}: "
                             f"strict decoding error: {fields}")
        if ctx.field_validation == "Warn":
            ctx.warnings += [f'unknown field "{u}"' for u in walk.unknown]
    return obj


# --- defaulting of built-in kinds ----------------------------------------------------------------------------
def _image_pull_policy(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return "IfNotPresent"
    tag = last.split(":", 1)[1] if ":" in last else "latest"
    return "Always" if tag == "latest" else "IfNotPresent"


def _default_container(c: Obj) -> None:
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("imagePullPolicy", _image_pull_policy(c.get("image", "")))
    c.setdefault("resources", {})
    for p in c.get("ports") or []:
        p.setdefault("protocol", "TCP")


def default_pod_spec(spec: Obj, *, template: bool) -> None:
    """Fill the fields the API server defaults in a PodSpec (pod or template)."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if isinstance(c, dict):
            _default_container(c)
    if not template:
        sa = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        spec["serviceAccountName"] = spec["serviceAccount"] = sa
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        tolerations = spec.setdefault("tolerations", [])
        for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
            if not any(t.get("key") == key and t.get("effect") in (None, "", "NoExecute") for t in tolerations):
                tolerations.append({"key": key, "operator": "Exists", "effect": "NoExecute",
                                    "tolerationSeconds": 300})


def _qos(spec: Obj) -> str:
    cs = spec.get("containers") or []
    res = [c.get("resources") or {} for c in cs]
    if not any(r.get("requests") or r.get("limits") for r in res):
        return "BestEffort"
    if all(r.get("limits", {}).get("cpu") and r.get("limits", {}).get("memory")
           and r.get("requests", r.get("limits")) == r.get("limits") for r in res):
        return "Guaranteed"
    return "Burstable"


def _pod(op: str, obj: Obj, old: Obj | None) -> Obj:
    spec = obj.setdefault("spec", {})
    if op == "CREATE":
        default_pod_spec(spec, template=False)
        status = obj.setdefault("status", {})
        status.setdefault("phase", "Pending")
        status.setdefault("qosClass", _qos(spec))
    images = {c.get("name"): c.get("image", "") for c in spec.get("containers") or [] if isinstance(c, dict)}
    for cs in (obj.get("status") or {}).get("containerStatuses") or []:
        cs.setdefault("image", images.get(cs.get("name"), ""))
        cs.setdefault("imageID", "")
        cs.setdefault("ready", False)
        cs.setdefault("restartCount", 0)
        cs.setdefault("started", cs.get("ready", False))
    return obj


def _template(obj: Obj) -> None:
    tpl = (obj.get("spec") or {}).get("template")
    if isinstance(tpl, dict):
        default_pod_spec(tpl.setdefault("spec", {}), template=True)
        tpl.setdefault("metadata", {})


def _deployment(op: str, obj: Obj, old: Obj | None) -> Obj:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = strategy.setdefault("rollingUpdate", {})
        ru.setdefault("maxUnavailable", "25%")
        ru.setdefault("maxSurge", "25%")
    _template(obj)
    obj.setdefault("status", {})
    return obj


def _daemonset(op: str, obj: Obj, old: Obj | None) -> Obj:
    spec = obj.setdefault("spec", {})
    spec.setdefault("revisionHistoryLimit", 10)
    us = spec.setdefault("updateStrategy", {})
    us.setdefault("type", "RollingUpdate")
    if us["type"] == "RollingUpdate":
        ru = us.setdefault("rollingUpdate", {})
        ru.setdefault("maxUnavailable", 1)
        ru.setdefault("maxSurge", 0)
    _template(obj)
    status = obj.setdefault("status", {})
    for k in ("currentNumberScheduled", "desiredNumberScheduled", "numberMisscheduled", "numberReady"):
        status.setdefault(k, 0)
    return obj


def _replicaset(op: str, obj: Obj, old: Obj | None) -> Obj:
    obj.setdefault("spec", {}).setdefault("replicas", 1)
    _template(obj)
    obj.setdefault("status", {}).setdefault("replicas", 0)
    return obj


def _service(op: str, obj: Obj, old: Obj | None) -> Obj:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    if spec["type"] != "ExternalName":
        spec.setdefault("sessionAffinity", "None")
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
    for p in spec.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")
            if "port" in p:
                p.setdefault("targetPort", p["port"])
    obj.setdefault("status", {}).setdefault("loadBalancer", {})
    return obj


def _namespace(op: str, obj: Obj, old: Obj | None) -> Obj:
    name = obj["metadata"]["name"]
    obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    if op == "CREATE":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {})["phase"] = "Active"
    return obj


def _node(op: str, obj: Obj, old: Obj | None) -> Obj:
    obj.setdefault("spec", {})
    status = obj.setdefault("status", {})
    info = status.setdefault("nodeInfo", {})
    for k in ("machineID", "systemUUID", "bootID", "kernelVersion", "osImage", "containerRuntimeVersion",
              "kubeletVersion", "kubeProxyVersion", "operatingSystem", "architecture"):
        info.setdefault(k, "")
    info["operatingSystem"] = info["operatingSystem"] or "linux"
    info["architecture"] = info["architecture"] or "amd64"
    status.setdefault("daemonEndpoints", {"kubeletEndpoint": {"Port": 10250}})
    return obj


def _secret(op: str, obj: Obj, old: Obj | None) -> Obj:
    obj.setdefault("type", "Opaque")
    return obj


_BUILTIN_DEFAULTS: dict[tuple[str, str], Callable[[str, Obj, Obj | None], Obj]] = {
    ("", "pods"): _pod,
    ("", "services"): _service,
    ("", "namespaces"): _namespace,
    ("", "nodes"): _node,
    ("", "secrets"): _secret,
    ("apps", "deployments"): _deployment,
    ("apps", "daemonsets"): _daemonset,
    ("apps", "replicasets"): _replicaset,
}


# Built-in kinds whose objects carry no metadata.generation on a real server.
_NO_GENERATION = frozenset({
    ("", "configmaps"), ("", "secrets"), ("", "serviceaccounts"), ("", "endpoints"), ("", "events"),
    ("", "namespaces"), ("", "nodes"), ("", "services"), ("", "pods"), ("coordination.k8s.io", "leases"),
    ("certificates.k8s.io", "certificatesigningrequests"), ("rbac.authorization.k8s.io", "clusterroles"),
    ("rbac.authorization.k8s.io", "clusterrolebindings"), ("rbac.authorization.k8s.io", "roles"),
    ("rbac.authorization.k8s.io", "rolebindings"),
})


# --- Calico and operator validation --------------------------------------------------------------------------
_MODES = ("Always", "CrossSubnet", "Never")


def _enum(causes: list, spec: Obj, path: str, key: str, allowed: tuple[str, ...], allow_empty: bool = True) -> None:
    if key not in spec:
        return
    v = spec[key]
    if (allow_empty and v == "") or v in allowed:
        return
    causes.append((f"{path}.{key}", f'Unsupported value: "{v}": supported values: '
                                     + ", ".join(f'"{a}"' for a in allowed)))


def _typed(causes: list, spec: Obj, path: str, key: str, kind: type, label: str, required: bool = False) -> None:
    if key not in spec or spec[key] is None:
        if required:
            causes.append((f"{path}.{key}", "Required value"))
        return
    v = spec[key]
    ok = isinstance(v, kind) and not (kind is int and isinstance(v, bool))
    if not ok:
        causes.append((f"{path}.{key}", f'Invalid value: "{type(v).__name__}": {path}.{key} in body must be of '
                                         f'type {label}: "{type(v).__name__}"'))


def calico_causes(kind: str, obj: Obj) -> list[tuple[str, str]]:
    """Why a crd.projectcalico.org object is invalid (empty when it is fine)."""
    causes: list[tuple[str, str]] = []
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        if kind in ("IPPool", "IPAMConfig", "BlockAffinity"):
            causes.append(("spec", "Required value"))
        return causes
    if kind == "IPPool":
        cidr = spec.get("cidr")
        if not cidr:
            causes.append(("spec.cidr", "Required value"))
        else:
            try:
                ipaddress.ip_network(str(cidr), strict=False)
            except ValueError:
                causes.append(("spec.cidr", f'Invalid value: "{cidr}": must be a valid CIDR'))
        _enum(causes, spec, "spec", "ipipMode", _MODES)
        _enum(causes, spec, "spec", "vxlanMode", _MODES)
        for k in ("natOutgoing", "disabled", "disableBGPExport"):
            _typed(causes, spec, "spec", k, bool, "boolean")
        _typed(causes, spec, "spec", "blockSize", int, "integer")
        if isinstance(spec.get("blockSize"), int) and not 20 <= spec["blockSize"] <= 32 and ":" not in str(cidr):
            causes.append(("spec.blockSize", f"Invalid value: {spec['blockSize']}: must be between 20 and 32"))
        if spec.get("ipipMode", "Never") not in ("Never", "") and spec.get("vxlanMode", "Never") not in ("Never", ""):
            causes.append(("spec", "Invalid value: IPIP and VXLAN cannot both be enabled on the same pool"))
    elif kind == "IPAMConfig":
        _typed(causes, spec, "spec", "strictAffinity", bool, "boolean", required=True)
        _typed(causes, spec, "spec", "autoAllocateBlocks", bool, "boolean", required=True)
        _typed(causes, spec, "spec", "maxBlocksPerHost", int, "integer")
    elif kind == "FelixConfiguration":
        for k in ("ipipEnabled", "vxlanEnabled"):
            _typed(causes, spec, "spec", k, bool, "boolean")
        for k in ("vxlanVNI", "vxlanPort"):
            _typed(causes, spec, "spec", k, int, "integer")
        if isinstance(spec.get("vxlanPort"), int) and not 1 <= spec["vxlanPort"] <= 65535:
            causes.append(("spec.vxlanPort", f"Invalid value: {spec['vxlanPort']}: must be between 1 and 65535"))
    elif kind == "BlockAffinity":
        for k in ("cidr", "node", "state"):
            _typed(causes, spec, "spec", k, str, "string", required=True)
        _typed(causes, spec, "spec", "deleted", str, "string")
    return causes


def operator_causes(kind: str, obj: Obj) -> list[tuple[str, str]]:
    """Why an operator.tigera.io object is invalid."""
    causes: list[tuple[str, str]] = []
    if kind != "Installation":
        return causes
    net = ((obj.get("spec") or {}).get("calicoNetwork")) or {}
    _enum(causes, net, "spec.calicoNetwork", "bgp", ("Enabled", "Disabled"), allow_empty=False)
    for i, pool in enumerate(net.get("ipPools") or []):
        if isinstance(pool, dict):
            _enum(causes, pool, f"spec.calicoNetwork.ipPools[{i}]", "encapsulation",
                  ("IPIP", "IPIPCrossSubnet", "VXLAN", "VXLANCrossSubnet", "None"), allow_empty=False)
    return causes


# --- the admission chain -------------------------------------------------------------------------------------
class Admission:
    """Installs the hooks and listeners above on a store. `sign_csr(pem, seconds)` signs certificates;
    `legacy_token(ns, sa, uid, secret)` makes ServiceAccount Secret tokens; `ca_pem` goes into those Secrets."""

    def __init__(self, store: Store, registry: Registry, *, sign_csr: Callable[[bytes, int | None], bytes],
                 legacy_token: Callable[[str, str, str, str], str], ca_pem: bytes) -> None:
        self.store = store
        self.registry = registry
        self.sign_csr = sign_csr
        self.legacy_token = legacy_token
        self.ca_pem = ca_pem
        self._schemas: dict[tuple[str, str, str], Schema | None] = {}
        self._crd_schemas: dict[tuple[str, str], Schema | None] = {}
        self.csr_faults = csr_rules.CsrFaults()
        store.add_admission(self.admit)
        store.add_listener(self._on_event)

    # --- schemas -------------------------------------------------------------------------------------------
    def schema_for(self, rt: ResourceType) -> Schema | None:
        """The schema objects of `rt` are checked against (built-in, or the CRD's), or None."""
        key = (rt.group, rt.version, rt.kind)
        if key not in self._schemas:
            self._schemas[key] = schemas.for_kind(*key)
        if self._schemas[key] is not None:
            return self._schemas[key]
        return self._crd_schemas.get(rt.key)

    def is_builtin(self, rt: ResourceType) -> bool:
        return schemas.definition_name(rt.group, rt.version, rt.kind) is not None

    # --- hook ----------------------------------------------------------------------------------------------
    def admit(self, op: str, obj: Obj, old: Obj | None) -> Obj:
        if op == "DELETE":
            return obj
        rt = self.registry.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
        if rt is None:
            return obj
        meta = obj.get("metadata") or {}
        name = meta.get("name", "")
        if rt.key in _NO_GENERATION:
            meta.pop("generation", None)
        fn = _BUILTIN_DEFAULTS.get(rt.key)
        if fn is not None:
            obj = fn(op, obj, old) or obj
        if rt.key == ("", "secrets"):
            self._sa_token_secret(op, obj)
        elif rt.key == ("certificates.k8s.io", "certificatesigningrequests"):
            self._csr(obj, old)
        elif rt.key == ("apiextensions.k8s.io", "customresourcedefinitions"):
            self._crd(op, obj)
        builtin = self.is_builtin(rt)
        causes: list[tuple[str, str]] = []
        if op == "CREATE" and rt.namespaced and current_request.get() is not None:
            self._namespace_lifecycle(meta.get("namespace") or "default")
        if current_request.get() is not None:
            if rt.group == CALICO_GROUP:
                causes = calico_causes(rt.kind, obj)
            elif rt.group == TIGERA_OPERATOR_GROUP:
                causes = operator_causes(rt.kind, obj)
        if causes:
            raise Invalid.of(rt.kind, name, causes, rt.group)
        return check_and_complete(obj, self.schema_for(rt), kind=rt.kind, name=name, group=rt.group,
                                  custom=not builtin)

    def _namespace_lifecycle(self, namespace: str) -> None:
        ns = self.store.try_get(self.registry.get("", "namespaces"), None, namespace)
        if ns is not None and ns["metadata"].get("deletionTimestamp"):
            raise Forbidden(f"unable to create new content in namespace {namespace} because it is being "
                            "terminated", details={"name": namespace, "kind": "namespaces"})

    # --- side effects --------------------------------------------------------------------------------------
    def _sa_token_secret(self, op: str, obj: Obj) -> None:
        if obj.get("type") != "kubernetes.io/service-account-token":
            return
        data = obj.setdefault("data", {}) or {}
        obj["data"] = data
        if data.get("token"):
            return
        meta = obj["metadata"]
        ann = meta.setdefault("annotations", {})
        sa_name = ann.get("kubernetes.io/service-account.name")
        if not sa_name:
            if current_request.get() is not None:
                raise Invalid.of("Secret", meta.get("name", ""), [(
                    "metadata.annotations[kubernetes.io/service-account.name]", "Required value")])
            return
        sa = self.store.try_get(self.registry.get("", "serviceaccounts"), meta.get("namespace"), sa_name)
        if sa is None:
            return
        ann["kubernetes.io/service-account.uid"] = sa["metadata"]["uid"]
        token = self.legacy_token(meta["namespace"], sa_name, sa["metadata"]["uid"], meta["name"])
        data["token"] = base64.b64encode(token.encode()).decode()
        data["ca.crt"] = base64.b64encode(self.ca_pem).decode()
        data["namespace"] = base64.b64encode(meta["namespace"].encode()).decode()

    def _csr(self, obj: Obj, old: Obj | None) -> None:
        status = obj.setdefault("status", {})
        conds = status.get("conditions") or []
        for c in conds:
            c.setdefault("status", "True")
            c.setdefault("lastUpdateTime", _now())
            c.setdefault("lastTransitionTime", c["lastUpdateTime"])
        types = {c.get("type") for c in conds if c.get("status") == "True"}
        if "Approved" in types and "Denied" in types:
            raise Invalid.of("CertificateSigningRequest", obj["metadata"].get("name", ""), [
                ("status.conditions", 'Invalid value: "Approved": Approved and Denied conditions are mutually '
                                      "exclusive")], "certificates.k8s.io")
        spec = obj.get("spec") or {}
        if old is None and current_request.get() is not None:
            causes = csr_rules.validation_causes(spec)
            if causes:
                raise Invalid.of("CertificateSigningRequest", obj["metadata"].get("name", ""), causes,
                                 "certificates.k8s.io")
        signer = spec.get("signerName", "")
        signable = signer in ("kubernetes.io/kube-apiserver-client", "kubernetes.io/kube-apiserver-client-kubelet",
                              "kubernetes.io/kubelet-serving")
        if "Approved" not in types or "Failed" in types or status.get("certificate") or not signable:
            return
        refused = csr_rules.signer_failure(spec)
        if refused is not None:
            conds.append({"type": "Failed", "status": "True", "reason": "SignerValidationFailure",
                          "message": refused, "lastUpdateTime": _now(), "lastTransitionTime": _now()})
            status["conditions"] = conds
            return
        if self.csr_faults.blocks(obj):
            return
        try:
            pem = base64.b64decode(spec.get("request", ""))
            cert = self.sign_csr(pem, spec.get("expirationSeconds"))
        except Exception as exc:  # a malformed request fails the CSR, as the signer does
            conds.append({"type": "Failed", "status": "True", "reason": "SigningError",
                          "message": f"error signing: {exc}", "lastUpdateTime": _now(),
                          "lastTransitionTime": _now()})
            status["conditions"] = conds
            return
        status["certificate"] = base64.b64encode(cert).decode()

    def _crd(self, op: str, obj: Obj) -> None:
        spec = obj.get("spec") or {}
        names = spec.get("names") or {}
        expected = f"{names.get('plural')}.{spec.get('group')}"
        if current_request.get() is not None and obj["metadata"].get("name") != expected:
            raise Invalid.of("CustomResourceDefinition", obj["metadata"].get("name", ""), [(
                "metadata.name", f'Invalid value: "{obj["metadata"].get("name")}": must be spec.names.plural+"."'
                                 '+spec.group')], "apiextensions.k8s.io")
        names = dict(names)
        names.setdefault("singular", str(names.get("kind", "")).lower())
        names.setdefault("listKind", f"{names.get('kind')}List")
        spec["names"] = names
        storage = next((v["name"] for v in spec.get("versions") or [] if v.get("storage")), None)
        now = _now()
        obj["status"] = {
            "acceptedNames": names,
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": now},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": now},
            ],
            "storedVersions": [storage] if storage else [],
        }

    def _on_event(self, ev: Event) -> None:
        if ev.rt.key != ("apiextensions.k8s.io", "customresourcedefinitions"):
            return
        spec = ev.obj.get("spec") or {}
        group, names = spec.get("group", ""), spec.get("names") or {}
        plural = names.get("plural", "")
        if ev.type == "DELETED":
            rt = self.registry.get(group, plural)
            if rt is not None and not self.is_builtin(rt):
                for o in self.store.list(rt):
                    try:
                        self.store.delete(rt, o["metadata"].get("namespace"), o["metadata"]["name"])
                    except (NotFound, ApiError):
                        pass
                self.registry.remove(group, plural)
                self._crd_schemas.pop((group, plural), None)
            return
        rt = crd_resource_type(ev.obj)
        if rt is not None:
            self.registry.add(rt)
            self._crd_schemas[rt.key] = schemas.for_crd(ev.obj, rt.version)


def crd_resource_type(crd: Obj) -> ResourceType | None:
    """The ResourceType a CustomResourceDefinition serves (its storage version, else its first served one)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    versions = [v for v in spec.get("versions") or [] if v.get("served", True)]
    if not versions or not names.get("plural") or not names.get("kind"):
        return None
    chosen = next((v for v in versions if v.get("storage")), versions[0])
    subs = chosen.get("subresources") or {}
    return ResourceType(spec.get("group", ""), chosen["name"], names["plural"], names["kind"],
                        spec.get("scope", "Namespaced") == "Namespaced", tuple(names.get("shortNames") or ()),
                        tuple(s for s in ("status", "scale") if s in subs), tuple(names.get("categories") or ()))
