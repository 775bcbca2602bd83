"""The Kubernetes OpenAPI schemas the lab works from: the definitions shipped in the `kubernetes-validate` wheel.

They carry what strategic merge patch and server-side apply need (`x-kubernetes-patch-merge-key`,
`x-kubernetes-patch-strategy`, `x-kubernetes-list-type`, `x-kubernetes-list-map-keys`), the `required` lists the
API enforces and that kubernetes 37's pydantic models insist on, and the group/version/kind of each top-level type.
Custom resources get the same view of their CRD's `openAPIV3Schema`.
"""

from __future__ import annotations

import functools
import json
from importlib import resources as ilr
from typing import Any, Iterator

SCHEMA_VERSION = "v1.37.0-local"  # the newest in the wheel; kubernetes 37 is generated from it
_REF_PREFIX = "#/$defs/"


@functools.cache
def definitions() -> dict[str, dict[str, Any]]:
    """Every definition by its OpenAPI name (`io.k8s.api.core.v1.Pod`, ...). Loaded once (~1 MB of JSON)."""
    base = ilr.files("kubernetes_validate") / "kubernetes-json-schema" / SCHEMA_VERSION / "_definitions.json"
    return json.loads(base.read_text())["$defs"]


@functools.cache
def _gvk_index() -> dict[tuple[str, str, str], str]:
    out: dict[tuple[str, str, str], str] = {}
    for name, d in definitions().items():
        for gvk in d.get("x-kubernetes-group-version-kind") or ():
            out.setdefault((gvk.get("group", ""), gvk["version"], gvk["kind"]), name)
    return out


def definition_name(group: str, version: str, kind: str) -> str | None:
    """The OpenAPI name of a built-in kind (e.g. `io.k8s.api.apps.v1.Deployment`), or None if unknown."""
    return _gvk_index().get((group, version, kind))


def ref_name(node: dict[str, Any]) -> str | None:
    """The definition a `$ref` node points at, or None."""
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
        return ref[len(_REF_PREFIX):]
    return None


class Schema:
    """A navigable view of one schema node; `$ref`s are followed on the way down.

    `defs` is the table `$ref`s resolve against (the built-in definitions, or empty for CRD schemas, which are
    self-contained)."""

    __slots__ = ("node", "defs")

    def __init__(self, node: dict[str, Any], defs: dict[str, dict[str, Any]] | None = None) -> None:
        self.defs = definitions() if defs is None else defs
        self.node = self._deref(node)

    def _deref(self, node: dict[str, Any]) -> dict[str, Any]:
        name = ref_name(node)
        if name is None:
            return node
        target = self.defs.get(name, {})
        extra = {k: v for k, v in node.items() if k != "$ref"}
        return {**target, **extra} if extra else target

    def _child(self, node: dict[str, Any] | None) -> "Schema | None":
        if not isinstance(node, dict):
            return None
        return Schema(node, self.defs)

    def prop(self, key: str) -> "Schema | None":
        """The schema of field `key` of an object (additionalProperties for maps); None when unknown."""
        props = self.node.get("properties")
        if props and key in props:
            return self._child(props[key])
        add = self.node.get("additionalProperties")
        if isinstance(add, dict):
            return self._child(add)
        return None

    def items(self) -> "Schema | None":
        """The schema of a list's elements."""
        return self._child(self.node.get("items"))

    def ext(self, name: str, default: Any = None) -> Any:
        """An `x-kubernetes-*` extension value of this node."""
        return self.node.get(name, default)

    @property
    def types(self) -> tuple[str, ...]:
        """The JSON types this node allows, without "null"."""
        t = self.node.get("type")
        if t is None:
            return ()
        if isinstance(t, str):
            return (t,)
        return tuple(x for x in t if x != "null")

    @property
    def required(self) -> list[str]:
        return list(self.node.get("required") or ())

    @property
    def properties(self) -> dict[str, Any]:
        return self.node.get("properties") or {}

    @property
    def preserves_unknown(self) -> bool:
        return bool(self.node.get("x-kubernetes-preserve-unknown-fields"))

    # --- merge metadata ------------------------------------------------------------------------------------
    def patch_strategies(self) -> set[str]:
        """Strategic-merge strategies of this field: subset of {"merge", "retainKeys", "replace"}."""
        s = self.node.get("x-kubernetes-patch-strategy") or ""
        return {p for p in s.split(",") if p}

    def patch_merge_key(self) -> str | None:
        return self.node.get("x-kubernetes-patch-merge-key")

    def list_type(self) -> str:
        """Server-side apply list semantics: "atomic" (default), "set" or "map"."""
        return self.node.get("x-kubernetes-list-type") or "atomic"

    def list_map_keys(self) -> list[str]:
        return list(self.node.get("x-kubernetes-list-map-keys") or ())

    def map_type(self) -> str:
        """Server-side apply map semantics: "granular" (default) or "atomic"."""
        return self.node.get("x-kubernetes-map-type") or "granular"


def for_kind(group: str, version: str, kind: str) -> Schema | None:
    """The schema of a built-in kind's objects, or None when the wheel does not know the kind."""
    name = definition_name(group, version, kind)
    if name is None:
        return None
    return Schema(definitions()[name])


def for_crd(crd: dict[str, Any], version: str) -> Schema | None:
    """The schema a CRD declares for `version`, or None when it declares none."""
    for v in (crd.get("spec") or {}).get("versions") or ():
        if v.get("name") == version:
            node = ((v.get("schema") or {}).get("openAPIV3Schema"))
            return Schema(node, {}) if node else None
    return None


def reachable(names: list[str]) -> Iterator[str]:
    """Every definition name reachable by `$ref` from `names` (including them), each once."""
    defs = definitions()
    seen: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name in seen or name not in defs:
            continue
        seen.add(name)
        yield name
        _collect_refs(defs[name], stack)


def _collect_refs(node: Any, out: list[str]) -> None:
    if isinstance(node, dict):
        name = ref_name(node)
        if name:
            out.append(name)
        for v in node.values():
            _collect_refs(v, out)
    elif isinstance(node, list):
        for v in node:
            _collect_refs(v, out)
