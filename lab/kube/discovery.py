"""Discovery and OpenAPI documents, built from the registry of served types.

- legacy discovery: `/api`, `/apis`, `/apis/<group>`, `/api/v1` and `/apis/<group>/<version>` resource lists;
- aggregated discovery (`apidiscovery.k8s.io/v2beta1` from 1.27, `v2` from 1.30, as real servers of those
  versions offer it): `/api` and `/apis` answer with every resource in one response when the client asks for it;
- `/openapi/v3` (index) and `/openapi/v3/<api|apis/g>/<version>`: paths with their PATCH operations (what kubectl
  checks for `fieldValidation` and strategic-merge support) and the schemas, from `kubernetes-validate`;
- `/openapi/v2`: JSON definitions when JSON is asked for; an empty protobuf document otherwise (kubectl then skips
  client-side validation and falls back to its compiled-in merge keys).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

from . import schema as schemas
from .resources import Registry, ResourceType

Obj = dict[str, Any]
CrdLookup = Callable[[ResourceType], "Obj | None"]

# Groups in the order a real server lists them (kubectl resolves ambiguous plurals by this order).
_GROUP_ORDER = ["", "apiregistration.k8s.io", "apps", "events.k8s.io", "authentication.k8s.io",
                "authorization.k8s.io", "autoscaling", "batch", "certificates.k8s.io", "networking.k8s.io",
                "policy", "rbac.authorization.k8s.io", "storage.k8s.io", "admissionregistration.k8s.io",
                "apiextensions.k8s.io", "scheduling.k8s.io", "coordination.k8s.io", "node.k8s.io",
                "discovery.k8s.io", "flowcontrol.apiserver.k8s.io"]

# subresource -> (kind it takes/returns as (group, version, kind), or None for the parent's; verbs)
SUBRESOURCES: dict[str, tuple[tuple[str, str, str] | None, list[str]]] = {
    "status": (None, ["get", "patch", "update"]),
    "approval": (None, ["get", "patch", "update"]),
    "log": (("", "v1", "Pod"), ["get"]),
    "exec": (("", "v1", "PodExecOptions"), ["create", "get"]),
    "token": (("authentication.k8s.io", "v1", "TokenRequest"), ["create"]),
    "scale": (("autoscaling", "v1", "Scale"), ["get", "patch", "update"]),
    "eviction": (("policy", "v1", "Eviction"), ["create"]),
}

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"


def ordered_groups(registry: Registry) -> list[tuple[str, list[ResourceType]]]:
    """(group, types) in the server's priority order: built-in groups first, then CRD groups by name."""
    groups = registry.groups()
    rank = {g: i for i, g in enumerate(_GROUP_ORDER)}
    names = sorted(groups, key=lambda g: (rank.get(g, len(rank)), g))
    return [(g, sorted(groups[g], key=lambda rt: rt.plural)) for g in names]


def _versions(types: list[ResourceType]) -> list[str]:
    return sorted({rt.version for rt in types}, key=lambda v: (v != "v1", v))


# --- legacy discovery ----------------------------------------------------------------------------------------
def api_versions(server_address: str) -> Obj:
    """`/api`."""
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group_entry(group: str, types: list[ResourceType]) -> Obj:
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in _versions(types)]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list(registry: Registry) -> Obj:
    """`/apis`."""
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group_entry(g, ts) for g, ts in ordered_groups(registry) if g]}


def api_group(registry: Registry, group: str) -> Obj | None:
    """`/apis/<group>`, or None when the group is not served."""
    types = registry.groups().get(group)
    if not group or not types:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group, types)}


def _storage_hash(rt: ResourceType) -> str:
    return hashlib.sha256(f"{rt.group}/{rt.version}/{rt.kind}".encode()).digest()[:8].hex()


def resource_list(registry: Registry, group: str, version: str) -> Obj | None:
    """`/api/v1` or `/apis/<group>/<version>`, or None when that group version is not served."""
    types = [rt for rt in registry.groups().get(group, []) if rt.version == version]
    if not types:
        return None
    resources: list[Obj] = []
    for rt in sorted(types, key=lambda t: t.plural):
        entry: Obj = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
                      "kind": rt.kind, "verbs": list(rt.verbs), "storageVersionHash": _storage_hash(rt)}
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        for sub in rt.subresources:
            kind, verbs = SUBRESOURCES.get(sub, (None, ["get"]))
            s: Obj = {"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced,
                      "kind": kind[2] if kind else rt.kind, "verbs": verbs}
            if kind and kind[0] != rt.group:
                s["group"], s["version"] = kind[0], kind[1]
            resources.append(s)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}


# --- aggregated discovery ------------------------------------------------------------------------------------
def media_types(accept: str) -> list[tuple[str, dict[str, str]]]:
    """An Accept header as (type, parameters) pairs, in the client's order."""
    out = []
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        params = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
        out.append((fields[0], params))
    return out


def aggregated_type(accept: str, minor: int) -> str | None:
    """The aggregated-discovery media type to answer with, if the client asked for one this version serves."""
    for base, params in media_types(accept):
        if base != "application/json" or params.get("g") != "apidiscovery.k8s.io":
            continue
        if params.get("as") != "APIGroupDiscoveryList":
            continue
        if params.get("v") == "v2" and minor >= 30:
            return AGGREGATED_V2
        if params.get("v") == "v2beta1" and minor >= 27:
            return AGGREGATED_V2BETA1
    return None


def _agg_resource(rt: ResourceType) -> Obj:
    entry: Obj = {"resource": rt.plural, "responseKind": {"group": rt.group, "version": rt.version,
                                                          "kind": rt.kind},
                  "scope": "Namespaced" if rt.namespaced else "Cluster", "singularResource": rt.singular,
                  "verbs": list(rt.verbs)}
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    subs = []
    for sub in rt.subresources:
        kind, verbs = SUBRESOURCES.get(sub, (None, ["get"]))
        g, v, k = kind or (rt.group, rt.version, rt.kind)
        subs.append({"subresource": sub, "responseKind": {"group": g, "version": v, "kind": k}, "verbs": verbs})
    if subs:
        entry["subresources"] = subs
    return entry


def aggregated(registry: Registry, *, core: bool, media_type: str) -> Obj:
    """The aggregated discovery document for `/api` (core) or `/apis`."""
    items = []
    for g, types in ordered_groups(registry):
        if (g == "") != core:
            continue
        versions = [{"version": v, "resources": [_agg_resource(rt) for rt in types if rt.version == v],
                     "freshness": "Current"} for v in _versions(types)]
        items.append({"metadata": {"name": g} if g else {}, "versions": versions})
    api_version = "apidiscovery.k8s.io/v2" if media_type == AGGREGATED_V2 else "apidiscovery.k8s.io/v2beta1"
    return {"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items}


# --- OpenAPI -------------------------------------------------------------------------------------------------
def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _convert(node: Any, ref_prefix: str) -> Any:
    """A kubernetes-validate JSON-schema node as OpenAPI: `$ref`s re-pointed, nullable types collapsed."""
    if isinstance(node, dict):
        out: Obj = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/"):
                out[k] = ref_prefix + v[len("#/$defs/"):]
            elif k == "type" and isinstance(v, list):
                types = [t for t in v if t != "null"]
                if len(types) == 1:
                    out[k] = types[0]
            elif k == "oneOf" and all(isinstance(x, dict) and "type" in x for x in v):
                out["x-kubernetes-int-or-string"] = True
            elif k == "enum" and isinstance(v, list):
                out[k] = [x for x in v if x is not None]
            else:
                out[k] = _convert(v, ref_prefix)
        return out
    if isinstance(node, list):
        return [_convert(x, ref_prefix) for x in node]
    return node


_PATCH_TYPES_BUILTIN = ["application/apply-patch+yaml", "application/json-patch+json",
                        "application/merge-patch+json", "application/strategic-merge-patch+json"]
_PARAMS = ["dryRun", "fieldManager", "fieldValidation", "force", "pretty"]


def _operations(rt: ResourceType, builtin: bool, ref: str) -> dict[str, Obj]:
    gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    prefix = f"/{_gv_path(rt.group, rt.version)}"
    coll = f"{prefix}/namespaces/{{namespace}}/{rt.plural}" if rt.namespaced else f"{prefix}/{rt.plural}"
    item = f"{coll}/{{name}}"
    body = {"$ref": ref}
    params = [{"name": p, "in": "query", "schema": {"type": "string", "uniqueItems": True}} for p in _PARAMS]
    ok = {"200": {"description": "OK", "content": {"application/json": {"schema": body}}}}
    patch_types = _PATCH_TYPES_BUILTIN if builtin else _PATCH_TYPES_BUILTIN[:3]
    patch_body = {"content": {t: {"schema": {"type": "object"}} for t in patch_types}, "required": True}

    def op(action: str, **extra: Any) -> Obj:
        return {"operationId": f"{action}{rt.kind}", "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk, "parameters": params, "responses": ok, **extra}

    paths = {
        coll: {"get": op("list"), "post": op("post", requestBody={"content": {"application/json": {"schema": body}},
                                                                   "required": True})},
        item: {"get": op("get"), "put": op("put", requestBody={"content": {"application/json": {"schema": body}},
                                                                "required": True}),
               "patch": op("patch", requestBody=patch_body), "delete": op("delete")},
    }
    for sub in rt.subresources:
        if sub in ("status", "scale", "approval"):
            paths[f"{item}/{sub}"] = {"get": op("get"), "patch": op("patch", requestBody=patch_body)}
    return paths


class OpenAPI:
    """OpenAPI v2/v3 documents for the served types, cached until the served types change."""

    def __init__(self, registry: Registry, crd_lookup: CrdLookup, version: str) -> None:
        self.registry = registry
        self.crd_lookup = crd_lookup
        self.version = version
        self._v3: dict[tuple, bytes] = {}

    def _gv_types(self) -> dict[tuple[str, str], list[ResourceType]]:
        out: dict[tuple[str, str], list[ResourceType]] = {}
        for rt in self.registry.all():
            out.setdefault((rt.group, rt.version), []).append(rt)
        return out

    def v3_doc(self, group: str, version: str) -> bytes | None:
        """`/openapi/v3/<gv path>` as JSON bytes, or None when the group version is not served."""
        types = sorted(self._gv_types().get((group, version), []), key=lambda t: t.plural)
        if not types:
            return None
        crds = {rt.plural: self.crd_lookup(rt) for rt in types if schemas.definition_name(
            rt.group, rt.version, rt.kind) is None}
        key = (group, version, tuple(rt.plural for rt in types),
               json.dumps([crds.get(rt.plural) and crds[rt.plural].get("spec") for rt in types], sort_keys=True))
        cached = self._v3.get(key)
        if cached is not None:
            return cached
        prefix = "#/components/schemas/"
        components: Obj = {}
        paths: Obj = {}
        builtin_roots = []
        for rt in types:
            name = schemas.definition_name(rt.group, rt.version, rt.kind)
            if name is not None:
                builtin_roots.append(name)
                paths.update(_operations(rt, True, prefix + name))
                continue
            cname = f"{'.'.join(reversed(rt.group.split('.')))}.{rt.version}.{rt.kind}"
            crd = crds.get(rt.plural)
            node = schemas.for_crd(crd, rt.version) if crd else None
            body = _convert(node.node, prefix) if node else {"type": "object",
                                                              "x-kubernetes-preserve-unknown-fields": True}
            body = dict(body)
            props = dict(body.get("properties") or {})
            props.setdefault("metadata", {"$ref": prefix + "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"})
            body["properties"] = props
            body["x-kubernetes-group-version-kind"] = [{"group": rt.group, "version": rt.version,
                                                        "kind": rt.kind}]
            components[cname] = body
            builtin_roots.append("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")
            paths.update(_operations(rt, False, prefix + cname))
        defs = schemas.definitions()
        for name in schemas.reachable(builtin_roots):
            components[name] = _convert(defs[name], prefix)
        doc = {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": self.version}, "paths": paths,
               "components": {"schemas": components}}
        data = json.dumps(doc, separators=(",", ":")).encode()
        self._v3[key] = data
        return data

    def v3_index(self) -> Obj:
        """`/openapi/v3`: every group version's document URL (with a content hash, as real servers give)."""
        paths: Obj = {}
        for (group, version) in sorted(self._gv_types()):
            gv = _gv_path(group, version)
            digest = hashlib.sha512(f"{gv}:{self.version}:{sorted(rt.plural for rt in self.registry.all())}"
                                    .encode()).hexdigest()[:128].upper()
            paths[gv] = {"serverRelativeURL": f"/openapi/v3/{gv}?hash={digest}"}
        return {"paths": paths}

    def v2_json(self) -> bytes:
        """`/openapi/v2` as JSON (swagger 2.0 definitions of the built-in kinds; paths omitted)."""
        cached = self._v3.get(("v2",))
        if cached is None:
            defs = schemas.definitions()
            body = {"swagger": "2.0", "info": {"title": "Kubernetes", "version": self.version}, "paths": {},
                    "definitions": {n: _convert(d, "#/definitions/") for n, d in defs.items()}}
            cached = json.dumps(body, separators=(",", ":")).encode()
            self._v3[("v2",)] = cached
        return cached
