"""Calico's v3 API (`projectcalico.org/v3`) over the lab's datastores, as libcalico-go's clientv3 presents it.

Two datastores exist in the lab:
- `kdd`: the Kubernetes lab's store, where Calico keeps `crd.projectcalico.org/v1` objects (IPAMConfiguration is
  kind `IPAMConfig` there, plural `ipamconfigs`);
- `etcdv3`: `kube.calico_etcd` in the `etcd` scenario, a separate store-like object the Kubernetes API cannot see.

`CalicoDatastore` reads and writes v3 objects on either one: conversion, defaults and validation as clientv3 does
them, and libcalico's error texts (`resource does not exist: IPPool(x) with error: ...`).
"""

from __future__ import annotations

import copy
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .kube.resources import CALICO_CRDS, CALICO_GROUP, ResourceType

V3 = "projectcalico.org/v3"
V3_GROUP = "projectcalico.org"  # Calico's own API group, served as native CRDs by newer installs
Obj = dict[str, Any]

# --- errors (libcalico-go/lib/errors, as calicoctl prints them) ----------------------------------------------


class CalicoError(Exception):
    """An error from the Calico client, with libcalico's own wording as its message."""


class DoesNotExist(CalicoError):
    pass


class AlreadyExists(CalicoError):
    pass


class UpdateConflict(CalicoError):
    pass


class ValidationError(CalicoError):
    @classmethod
    def field(cls, name: str, value: Any, reason: str) -> "ValidationError":
        return cls(f"error with field {name} = '{_go_str(value)}' ({reason})")

    @classmethod
    def fields(cls, errs: list[tuple[str, Any, str]]) -> "ValidationError":
        """libcalico-go's ErrorValidation with several (name, value, reason) fields."""
        if len(errs) == 1:
            return cls.field(*errs[0])
        return cls("error(s) with fields:" + "".join(f"\n-  {n} = '{_go_str(v)}' ({r})" for n, v, r in errs))


class NotSupported(CalicoError):
    pass


class UnknownField(CalicoError):
    """A document field the v3 type does not have (calicoctl decodes strictly)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"field in document is not recognized or is in the wrong location: {name}")


def _go_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


# --- kinds ---------------------------------------------------------------------------------------------------


def _enum_mode(kind: str, field_name: str, tag: str, value: Any) -> None:
    if value not in ("", "Never", "Always", "CrossSubnet"):
        raise ValidationError.field(f"{kind}.Spec.{field_name}", value,
                                    f"Reason: failed to validate Field: {field_name} because of Tag: {tag} ")


def _ippool_defaults(new: Obj, old: Obj | None) -> None:
    """clientv3 IPPools().Create/Update: libcalico-go's validateAndSetDefaults (every errored field reported
    together, in its order), then the struct validator's enums."""
    spec = new.setdefault("spec", {})
    cidr_text = spec.get("cidr") or ""
    if not cidr_text:
        raise ValidationError.field("IPPool.Spec.CIDR", "", "IPPool CIDR must be specified")
    try:
        net = ipaddress.ip_network(cidr_text, strict=False)
    except ValueError:
        raise ValidationError.field("IPPool.Spec.CIDR", cidr_text, "IPPool CIDR must be a valid subnet") from None
    masked = str(net.network_address) == cidr_text.split("/")[0]
    spec["cidr"] = str(net)
    spec["nodeSelector"] = spec.get("nodeSelector") or "all()"
    errs: list[tuple[str, Any, str]] = []
    old_spec = (old or {}).get("spec") or {}
    if old is not None and old_spec.get("cidr") != spec["cidr"]:
        errs.append(("IPPool.Spec.CIDR", spec["cidr"], "IPPool CIDR cannot be modified"))
    spec["blockSize"] = spec.get("blockSize") or (26 if net.version == 4 else 122)
    old_block = old_spec.get("blockSize") or (26 if net.version == 4 else 122)  # convertIpPoolFromStorage
    if old is not None and old_block != spec["blockSize"]:
        errs.append(("IPPool.Spec.BlockSize", spec["blockSize"], "IPPool BlockSize cannot be modified"))
    low, high = (20, 32) if net.version == 4 else (116, 128)
    if not low <= spec["blockSize"] <= high:
        errs.append(("IPPool.Spec.BlockSize", spec["blockSize"],
                     f"IPv{net.version} block size must be between {low} and {high}"))
    if not spec.get("disabled") and net.prefixlen > spec["blockSize"]:
        errs.append(("IPPool.Spec.CIDR", spec["cidr"], "IP pool size is too small for use with Calico IPAM. It must "
                                                       "be equal to or greater than the block size."))
    spec["ipipMode"] = spec.get("ipipMode") or "Never"
    spec["vxlanMode"] = spec.get("vxlanMode") or "Never"
    if spec["vxlanMode"] != "Never" and spec["ipipMode"] != "Never":
        errs.append(("IPPool.Spec.VXLANMode", spec["vxlanMode"], "Cannot enable both VXLAN and IPIP on the same IPPool"))
    if net.version == 6 and spec["ipipMode"] != "Never":
        errs.append(("IPPool.Spec.IPIPMode", spec["ipipMode"], "IPIP is not supported on an IPv6 IP pool"))
    if not masked:
        errs.append(("IPPool.Spec.CIDR", spec["cidr"], "IPPool CIDR is not strictly masked"))
    link_local = ipaddress.ip_network("169.254.0.0/16" if net.version == 4 else "fe80::/10")
    if net.overlaps(link_local):
        errs.append(("IPPool.Spec.CIDR", spec["cidr"], f"IPPool CIDR overlaps with IPv{net.version} Link Local range "
                                                       f"{link_local}"))
    if errs:
        raise ValidationError.fields(errs)
    _enum_mode("IPPool", "IPIPMode", "ipIpMode", spec["ipipMode"])
    _enum_mode("IPPool", "VXLANMode", "vxlanMode", spec["vxlanMode"])


def _ipam_defaults(new: Obj, old: Obj | None) -> None:
    spec = new.setdefault("spec", {})
    for key in ("strictAffinity", "autoAllocateBlocks"):
        if not isinstance(spec.get(key, False), bool):
            raise ValidationError.field(f"IPAMConfiguration.Spec.{key[0].upper()}{key[1:]}", spec[key],
                                        "must be a boolean")
    if new["metadata"]["name"] != "default":
        raise ValidationError.field("Metadata.Name", new["metadata"]["name"],
                                    "Cannot create an IPAMConfiguration resource with a name other than default")


@dataclass(frozen=True)
class Kind:
    """A v3 resource type calicoctl knows, and where its objects live in the datastores."""

    kind: str
    backend_kind: str
    plural: str
    aliases: tuple[str, ...]
    namespaced: bool = False
    headings: tuple[str, ...] = ("NAME",)
    wide: tuple[str, ...] = ("NAME",)
    cells: dict[str, Callable[[Obj], str]] = field(default_factory=dict)
    spec_fields: frozenset[str] | None = None  # None: any field accepted
    spec_order: tuple[str, ...] = ()  # Go struct order, for JSON output
    defaults: Callable[[Obj, Obj | None], None] | None = None
    readonly: bool = False
    v3_plural: str = ""  # plural in the projectcalico.org group, when it differs from the CRD one

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    def identifier(self, name: str, namespace: str | None = None) -> str:
        """How libcalico names one object in errors: `IPPool(name)` / `NetworkPolicy(ns/name)`."""
        return f"{self.kind}({namespace}/{name})" if self.namespaced and namespace else f"{self.kind}({name})"

    def cell(self, heading: str, obj: Obj) -> str:
        if heading == "NAME":
            return obj["metadata"]["name"]
        if heading == "NAMESPACE":
            return obj["metadata"].get("namespace", "")
        return self.cells[heading](obj)


def _spec(obj: Obj, key: str, default: Any = "") -> Any:
    return (obj.get("spec") or {}).get(key, default)


def _bool(obj: Obj, key: str) -> str:
    return "true" if _spec(obj, key, False) else "false"


KINDS: tuple[Kind, ...] = (
    Kind("IPPool", "IPPool", "ippools", ("ippool", "ippools", "ipp", "ipps", "pool", "pools"),
         headings=("NAME", "CIDR", "SELECTOR"),
         wide=("NAME", "CIDR", "NAT", "IPIPMODE", "VXLANMODE", "DISABLED", "DISABLEBGPEXPORT", "SELECTOR"),
         cells={"CIDR": lambda o: _spec(o, "cidr"), "NAT": lambda o: _bool(o, "natOutgoing"),
                "IPIPMODE": lambda o: _spec(o, "ipipMode") or "Never",
                "VXLANMODE": lambda o: _spec(o, "vxlanMode") or "Never",
                "DISABLED": lambda o: _bool(o, "disabled"),
                "DISABLEBGPEXPORT": lambda o: _bool(o, "disableBGPExport"),
                "SELECTOR": lambda o: _spec(o, "nodeSelector")},
         spec_fields=frozenset({"cidr", "vxlanMode", "ipipMode", "natOutgoing", "disabled", "disableBGPExport",
                                "ipip", "nat-outgoing", "blockSize", "nodeSelector", "allowedUses"}),
         spec_order=("cidr", "vxlanMode", "ipipMode", "natOutgoing", "disabled", "disableBGPExport", "ipip",
                     "nat-outgoing", "blockSize", "nodeSelector", "allowedUses"),
         defaults=_ippool_defaults),
    Kind("FelixConfiguration", "FelixConfiguration", "felixconfigurations",
         ("felixconfiguration", "felixconfigurations", "felixconfig", "felixconfigs")),
    Kind("IPAMConfiguration", "IPAMConfig", "ipamconfigs",
         ("ipamconfiguration", "ipamconfigurations", "ipamconfig", "ipamconfigs"), v3_plural="ipamconfigurations",
         headings=("NAME", "STRICTAFFINITY", "AUTOALLOCATEBLOCKS"),
         wide=("NAME", "STRICTAFFINITY", "AUTOALLOCATEBLOCKS", "MAXBLOCKSPERHOST"),
         cells={"STRICTAFFINITY": lambda o: _bool(o, "strictAffinity"),
                "AUTOALLOCATEBLOCKS": lambda o: _bool(o, "autoAllocateBlocks"),
                "MAXBLOCKSPERHOST": lambda o: str(_spec(o, "maxBlocksPerHost", 0))},
         spec_fields=frozenset({"strictAffinity", "autoAllocateBlocks", "maxBlocksPerHost"}),
         spec_order=("strictAffinity", "autoAllocateBlocks", "maxBlocksPerHost"),
         defaults=_ipam_defaults),
    Kind("ClusterInformation", "ClusterInformation", "clusterinformations",
         ("clusterinformation", "clusterinformations", "clusterinfo", "clusterinfos"), readonly=True),
    Kind("GlobalNetworkPolicy", "GlobalNetworkPolicy", "globalnetworkpolicies",
         ("globalnetworkpolicy", "globalnetworkpolicies", "gnp", "gnps", "globalpolicy", "globalpolicies")),
    Kind("NetworkPolicy", "NetworkPolicy", "networkpolicies",
         ("networkpolicy", "networkpolicies", "policy", "policies", "pol", "pols"), namespaced=True),
)
_BY_ALIAS = {a: k for k in KINDS for a in k.aliases}
_BY_KIND = {k.kind: k for k in KINDS}


def kind_for_alias(name: str) -> Kind | None:
    """The kind a command-line resource type names (case-insensitive, singular or plural, short names)."""
    return _BY_ALIAS.get(name.lower())


def kind_for_document(api_version: str, kind: str) -> Kind | None:
    """The kind a `projectcalico.org/v3` document declares (None for anything else)."""
    return _BY_KIND.get(kind) if api_version == V3 else None


# --- v3 documents --------------------------------------------------------------------------------------------

_META_FIELDS = ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
                "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
                "ownerReferences", "finalizers", "managedFields")
_V3_META = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp", "labels", "annotations")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_HIDDEN_ANNOTATIONS = ("projectcalico.org/metadata",)


def check_document(kind: Kind, doc: Obj) -> None:
    """Strict decoding as calicoctl does it: unknown top-level, metadata or (for strict kinds) spec fields."""
    for key in doc:
        if key not in ("apiVersion", "kind", "metadata", "spec"):
            raise UnknownField(key)
    if not isinstance(doc.get("metadata", {}), dict) or not isinstance(doc.get("spec", {}), dict):
        raise CalicoError("error unmarshaling JSON: metadata and spec must be objects")
    for key in doc.get("metadata") or {}:
        if key not in _META_FIELDS:
            raise UnknownField(key)
    if kind.spec_fields is not None:
        for key in doc.get("spec") or {}:
            if key not in kind.spec_fields:
                raise UnknownField(key)


def ordered(kind: Kind, obj: Obj) -> Obj:
    """A v3 object with keys in Go struct order (what calicoctl's JSON output shows)."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    out: Obj = {"kind": obj.get("kind", kind.kind), "apiVersion": obj.get("apiVersion", V3),
                "metadata": {k: meta[k] for k in _META_FIELDS if k in meta}}
    order = [k for k in kind.spec_order if k in spec] + [k for k in spec if k not in kind.spec_order]
    out["spec"] = {k: spec[k] for k in order}
    return out


def to_v3(kind: Kind, stored: Obj) -> Obj:
    """The v3 view of a datastore object (a `crd.projectcalico.org/v1` object, or already v3)."""
    meta = stored.get("metadata") or {}
    out_meta = {k: copy.deepcopy(meta[k]) for k in _V3_META if k in meta}
    annotations = {k: v for k, v in (out_meta.get("annotations") or {}).items() if k not in _HIDDEN_ANNOTATIONS}
    if annotations:
        out_meta["annotations"] = annotations
    else:
        out_meta.pop("annotations", None)
    if not out_meta.get("labels"):
        out_meta.pop("labels", None)
    return {"apiVersion": V3, "kind": kind.kind, "metadata": out_meta,
            "spec": copy.deepcopy(stored.get("spec") or {})}


# --- the datastore -------------------------------------------------------------------------------------------


class CalicoDatastore:
    """Calico's v3 client over one backing store with the lab Store's interface
    (`get/try_get/list/create/replace/delete` taking a ResourceType).

    `flavour` is "kdd" (objects are CRDs in the Kubernetes API) or "etcdv3" (a store only calicoctl reaches);
    it decides the wording of not-found errors and the `Cluster Type` calicoctl reports.
    """

    def __init__(self, backend: Any, flavour: str) -> None:
        self.backend = backend
        self.flavour = flavour
        self.changes = 0  # writes through this client that changed a stored object

    # --- lookups
    def _rt(self, kind: Kind | str) -> ResourceType | None:
        """The backend type: `crd.projectcalico.org`, or `projectcalico.org` when only Calico's v3 CRDs are
        served (calicoctl's rule: v3 only if the crd group is absent)."""
        plural = kind.plural if isinstance(kind, Kind) else kind
        v3_plural = (kind.v3_plural or kind.plural) if isinstance(kind, Kind) else kind
        registry = getattr(self.backend, "registry", None)
        if registry is None:
            return next((rt for rt in CALICO_CRDS if rt.plural == plural), None)
        return registry.get(CALICO_GROUP, plural) or registry.get(V3_GROUP, v3_plural)

    def _require_rt(self, kind: Kind, name: str | None = None) -> ResourceType:
        rt = self._rt(kind)
        if rt is None:
            target = f"{kind.plural}.{CALICO_GROUP}" + (f" {name}" if name else "")
            raise CalicoError(f"the server could not find the requested resource (get {target})")
        return rt

    def _not_found(self, kind: Kind, name: str, namespace: str | None) -> DoesNotExist:
        if self.flavour == "kdd":
            rt = self._rt(kind)
            qualified = rt.qualified if rt is not None else f"{kind.plural}.{CALICO_GROUP}"
            cause = f'{qualified} "{name}" not found'
        else:
            cause = "<nil>"
        return DoesNotExist(f"resource does not exist: {kind.identifier(name, namespace)} with error: {cause}")

    def _stored(self, kind: Kind, name: str, namespace: str | None) -> Obj:
        rt = self._require_rt(kind, name)
        obj = self.backend.try_get(rt, namespace if kind.namespaced else None, name)
        if obj is None:
            raise self._not_found(kind, name, namespace)
        return obj

    # --- reads
    def get(self, kind: Kind, name: str, namespace: str | None = None) -> Obj:
        """The v3 object, or DoesNotExist."""
        return to_v3(kind, self._stored(kind, name, namespace))

    def try_get(self, kind: Kind, name: str, namespace: str | None = None) -> Obj | None:
        try:
            return self.get(kind, name, namespace)
        except DoesNotExist:
            return None

    def list(self, kind: Kind, namespace: str | None = None) -> list[Obj]:
        """v3 objects of `kind` (all namespaces when `namespace` is None)."""
        rt = self._require_rt(kind)
        return [to_v3(kind, o) for o in self.backend.list(rt, namespace if kind.namespaced else None)]

    def list_object(self, kind: Kind, namespace: str | None = None) -> Obj:
        """The `<Kind>List` calicoctl prints when no name is given."""
        items = self.list(kind, namespace)
        rv = getattr(self.backend, "resource_version", "")
        return {"apiVersion": V3, "kind": kind.list_kind, "metadata": {"resourceVersion": str(rv)},
                "items": items}

    def raw_list(self, plural: str) -> list[Obj]:
        """Backend objects of a Calico type calicoctl has no v3 kind for (IPAM blocks, affinities)."""
        rt = self._rt(plural)
        return self.backend.list(rt) if rt is not None else []

    # --- writes
    def create(self, kind: Kind, obj: Obj) -> Obj:
        """Create (clientv3 Create): metadata reduced to name/namespace/labels/annotations, defaults filled."""
        if kind.readonly:
            raise NotSupported(f"operation create is not supported on {kind.kind}: resource is readonly")
        new = self._prepare_create(kind, obj)
        rt = self._require_rt(kind, new["metadata"]["name"])
        ns = new["metadata"].get("namespace")
        if self.backend.try_get(rt, ns, new["metadata"]["name"]) is not None:
            raise AlreadyExists(f"resource already exists: {kind.identifier(new['metadata']['name'], ns)}")
        if kind.defaults:
            kind.defaults(new, None)
        if kind.kind == "IPPool":
            self._maybe_enable_encapsulation(new)
        stored = self.backend.create(rt, self._to_backend(kind, new, None), namespace=ns)
        self.changes += 1
        return to_v3(kind, stored)

    def update(self, kind: Kind, obj: Obj) -> Obj:
        """Update as calicoctl's Update does: a given resourceVersion must be the latest; metadata other than
        labels and annotations comes from the stored object; labels/annotations are merged over the stored ones."""
        if kind.readonly:
            raise NotSupported(f"operation update is not supported on {kind.kind}: resource is readonly")
        meta = obj.get("metadata") or {}
        name, ns = meta.get("name", ""), self._namespace(kind, meta.get("namespace"))
        stored = self._stored(kind, name, ns)
        current_rv = stored["metadata"].get("resourceVersion", "")
        sent_rv = meta.get("resourceVersion") or ""
        if sent_rv and str(sent_rv) != current_rv:
            raise UpdateConflict(f"update conflict: {kind.identifier(name, ns)}")
        new = copy.deepcopy(obj)
        new["metadata"] = self._merge_metadata(stored["metadata"], meta)
        old_v3 = to_v3(kind, stored)
        if kind.defaults:
            kind.defaults(new, old_v3)
        if kind.kind == "IPPool":
            self._maybe_enable_encapsulation(new)
        backend_obj = self._to_backend(kind, new, stored)
        result = self.backend.replace(self._require_rt(kind), backend_obj)
        if result["metadata"].get("resourceVersion") != current_rv:
            self.changes += 1
        return to_v3(kind, result)

    def delete(self, kind: Kind, name: str, namespace: str | None = None) -> Obj:
        if kind.readonly:
            raise NotSupported(f"operation delete is not supported on {kind.kind}: resource is readonly")
        ns = self._namespace(kind, namespace)
        stored = self._stored(kind, name, ns)
        self.backend.delete(self._require_rt(kind), ns if kind.namespaced else None, name)
        self.changes += 1
        return to_v3(kind, stored)

    def _maybe_enable_encapsulation(self, pool: Obj) -> None:
        """libcalico-go's maybeEnableIPIP / maybeEnableVXLAN, run before a pool is created or updated: a pool using
        IPIP (VXLAN) sets FelixConfiguration `default` `ipipEnabled` (`vxlanEnabled`) to true when that field is
        unset — creating `default` if needed — and never touches a value someone set, false included."""
        felix = _BY_KIND["FelixConfiguration"]
        for mode, field_name in (("ipipMode", "ipipEnabled"), ("vxlanMode", "vxlanEnabled")):
            if (pool.get("spec") or {}).get(mode, "Never") == "Never":
                continue
            current = self.try_get(felix, "default")
            if current is None:
                self.create(felix, {"metadata": {"name": "default"}, "spec": {field_name: True}})
            elif (current.get("spec") or {}).get(field_name) is None:
                current.setdefault("spec", {})[field_name] = True
                self.update(felix, current)

    # --- helpers
    @staticmethod
    def _namespace(kind: Kind, namespace: str | None) -> str | None:
        return (namespace or "default") if kind.namespaced else None

    def _prepare_create(self, kind: Kind, obj: Obj) -> Obj:
        meta = obj.get("metadata") or {}
        name = meta.get("name") or ""
        if not name:
            raise CalicoError("resource name may not be empty")
        if not _NAME.match(name) or len(name) > 253:
            raise ValidationError.field("Metadata.Name", name, "name must consist of lower case alphanumeric "
                                        "characters, '-' or '.' (regex: [a-z0-9]([-a-z0-9]*[a-z0-9])?"
                                        "(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)")
        new_meta = {"name": name}
        if kind.namespaced:
            new_meta["namespace"] = meta.get("namespace") or "default"
        for key in ("labels", "annotations"):
            if meta.get(key):
                new_meta[key] = copy.deepcopy(meta[key])
        return {"apiVersion": V3, "kind": kind.kind, "metadata": new_meta,
                "spec": copy.deepcopy(obj.get("spec") or {})}

    @staticmethod
    def _merge_metadata(stored: Obj, sent: Obj) -> Obj:
        merged = copy.deepcopy(stored)
        for key in ("labels", "annotations"):
            values = dict(stored.get(key) or {})
            values.update(sent.get(key) or {})
            if values:
                merged[key] = values
        return merged

    def _to_backend(self, kind: Kind, v3: Obj, stored: Obj | None) -> Obj:
        """The datastore form (a `crd.projectcalico.org/v1` object, or the v3 one), keeping the stored metadata on
        updates."""
        rt = self._require_rt(kind)
        meta = copy.deepcopy(stored["metadata"]) if stored else {}
        for key in ("name", "namespace", "labels", "annotations"):
            if key in v3["metadata"]:
                meta[key] = copy.deepcopy(v3["metadata"][key])
        if not kind.namespaced:
            meta.pop("namespace", None)
        return {"apiVersion": rt.api_version, "kind": rt.kind, "metadata": meta,
                "spec": copy.deepcopy(v3.get("spec") or {})}
