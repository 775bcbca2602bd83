"""The four ways to change an object without sending all of it: JSON patch (RFC 6902), JSON merge patch (RFC 7386),
strategic merge patch (Kubernetes' list-aware merge, driven by the merge keys in the OpenAPI schemas) and
server-side apply (field ownership recorded in `metadata.managedFields`).

Every function takes and returns plain dicts, works on its own copies, and raises `ApiError`s with the codes a real
API server uses (400 for a malformed patch, 422 for one that cannot be applied, 409 for apply conflicts).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from .errors import ApiError, BadRequest, Conflict
from .schema import Schema

Obj = dict[str, Any]

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
APPLY_PATCH_CBOR = "application/apply-patch+cbor"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)


def unprocessable(message: str) -> ApiError:
    """What the API server answers when a well-formed patch cannot be applied to the object."""
    return ApiError(message, code=422, reason="Invalid")


# --- JSON patch ------------------------------------------------------------------------------------------------
def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _split_pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise unprocessable(f'invalid JSON pointer "{path}"')
    return [_unescape(t) for t in path[1:].split("/")]


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    cur = doc
    for t in tokens[:-1]:
        if isinstance(cur, dict):
            if t not in cur:
                raise unprocessable(f"doc is missing path: \"{path}\": missing value")
            cur = cur[t]
        elif isinstance(cur, list):
            try:
                cur = cur[int(t)]
            except (ValueError, IndexError):
                raise unprocessable(f"doc is missing path: \"{path}\": missing value") from None
        else:
            raise unprocessable(f"doc is missing path: \"{path}\": missing value")
    return cur


def _index(container: list, token: str, path: str, *, for_add: bool) -> int:
    if for_add and token == "-":
        return len(container)
    try:
        i = int(token)
    except ValueError:
        raise unprocessable(f"invalid array index \"{token}\" in \"{path}\"") from None
    limit = len(container) if for_add else len(container) - 1
    if i < 0 or i > limit:
        raise unprocessable(f"Unable to access invalid index: {i}: invalid index referenced")
    return i


def _get_ptr(doc: Any, path: str) -> Any:
    cur = doc
    for t in _split_pointer(path):
        if isinstance(cur, dict) and t in cur:
            cur = cur[t]
        elif isinstance(cur, list):
            cur = cur[_index(cur, t, path, for_add=False)]
        else:
            raise unprocessable(f"doc is missing path: \"{path}\": missing value")
    return cur


def _add(doc: Any, path: str, value: Any) -> Any:
    tokens = _split_pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, path, for_add=True), value)
    else:
        raise unprocessable(f"doc is missing path: \"{path}\": missing value")
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    tokens = _split_pointer(path)
    if not tokens:
        raise unprocessable("cannot remove the whole document")
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise unprocessable(f"Unable to remove nonexistent key: {last}: missing value")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, path, for_add=False))
    raise unprocessable(f"doc is missing path: \"{path}\": missing value")


def json_patch(obj: Obj, ops: Any) -> Obj:
    """Apply an RFC 6902 operation list to a copy of `obj`."""
    if not isinstance(ops, list):
        raise BadRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc: Any = copy.deepcopy(obj)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op:
            raise BadRequest("invalid JSON patch operation: missing \"op\"")
        kind, path = op["op"], op.get("path")
        if not isinstance(path, str):
            raise unprocessable(f"Unable to apply {kind}: missing path")
        if kind in ("add", "replace", "test") and "value" not in op:
            raise unprocessable(f"Unable to apply {kind}: missing value")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            _get_ptr(doc, path)  # must exist
            doc, _ = _remove(doc, path) if path else (doc, None)
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "move":
            doc, value = _remove(doc, op.get("from", ""))
            doc = _add(doc, path, value)
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(_get_ptr(doc, op.get("from", ""))))
        elif kind == "test":
            try:
                current = _get_ptr(doc, path)
            except ApiError:
                current = None
            if current != op["value"]:
                raise unprocessable(f"testing value {path} failed: test failed")
        else:
            raise unprocessable(f"Unexpected kind: {kind}")
    if not isinstance(doc, dict):
        raise unprocessable("the patch turned the object into something that is not an object")
    return doc


# --- JSON merge patch ------------------------------------------------------------------------------------------
def merge_patch(obj: Obj, patch: Any) -> Obj:
    """Apply an RFC 7386 merge patch to a copy of `obj` (null deletes, objects merge, everything else replaces)."""
    if not isinstance(patch, dict):
        raise BadRequest("json: cannot unmarshal non-object into Go value of type map[string]interface {}")
    return _merge(copy.deepcopy(obj), patch)


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = _merge(target.get(k), v)
    return target


# --- strategic merge patch -------------------------------------------------------------------------------------
_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList/"
_SET_ORDER = "$setElementOrder/"


def strategic_merge_patch(obj: Obj, patch: Any, schema: Schema | None) -> Obj:
    """Apply a strategic merge patch to a copy of `obj`, reading merge keys and strategies from `schema`.

    Supports the directives kubectl sends: `$patch: replace|delete` (maps and list elements), `$retainKeys`,
    `$deleteFromPrimitiveList/<field>` and `$setElementOrder/<field>`. Lists whose field has no merge strategy
    are replaced, as the real server does."""
    if not isinstance(patch, dict):
        raise BadRequest("json: cannot unmarshal non-object into Go value of type map[string]interface {}")
    return _smp_map(copy.deepcopy(obj), patch, schema)


def _child(schema: Schema | None, key: str) -> Schema | None:
    return schema.prop(key) if schema is not None else None


def _smp_map(original: Obj, patch: Obj, schema: Schema | None) -> Obj:
    directive = patch.get(_DIRECTIVE)
    if directive is not None:
        if directive == "replace":
            return _strip({k: v for k, v in patch.items() if k != _DIRECTIVE})
        if directive == "delete":
            return {}
        raise BadRequest(f"Unknown patch type: {directive}")
    if _RETAIN_KEYS in patch:
        keep = patch[_RETAIN_KEYS]
        if not isinstance(keep, list):
            raise BadRequest("invalid $retainKeys directive")
        for k in list(original):
            if k not in keep:
                del original[k]
    orders: dict[str, list] = {}
    for k, v in patch.items():
        if k.startswith(_DELETE_PRIMITIVE):
            field = k[len(_DELETE_PRIMITIVE):]
            cur = original.get(field)
            if isinstance(cur, list) and isinstance(v, list):
                original[field] = [x for x in cur if x not in v]
        elif k.startswith(_SET_ORDER):
            orders[k[len(_SET_ORDER):]] = v if isinstance(v, list) else []
    for k, pv in patch.items():
        if k.startswith("$"):
            continue
        if pv is None:
            original.pop(k, None)
            continue
        child = _child(schema, k)
        ov = original.get(k)
        if isinstance(pv, dict):
            original[k] = _smp_map(ov if isinstance(ov, dict) else {}, pv, child)
        elif isinstance(pv, list):
            original[k] = _smp_list(ov if isinstance(ov, list) else [], pv, child)
        else:
            original[k] = pv
    for field, order in orders.items():
        if isinstance(original.get(field), list):
            original[field] = _reorder(original[field], order, _child(schema, field))
    return original


def _smp_list(original: list, patch: list, schema: Schema | None) -> list:
    strategies = schema.patch_strategies() if schema is not None else set()
    if "merge" not in strategies:
        return [_strip(x) for x in patch if not (isinstance(x, dict) and x.get(_DIRECTIVE) == "replace")]
    key = schema.patch_merge_key() if schema is not None else None
    if not any(isinstance(x, dict) for x in patch + original) or key is None:
        out = list(original)
        for x in patch:
            if x not in out:
                out.append(x)
        return out
    if any(isinstance(x, dict) and x.get(_DIRECTIVE) == "replace" for x in patch):
        return [_strip(x) for x in patch if not (isinstance(x, dict) and _DIRECTIVE in x)]
    items = schema.items() if schema is not None else None
    out = list(original)
    for pe in patch:
        if not isinstance(pe, dict):
            raise BadRequest(f"patch list element is not an object (merge key {key})")
        if key not in pe:
            raise BadRequest(f"map: {pe} does not contain declared merge key: {key}")
        idx = next((i for i, oe in enumerate(out) if isinstance(oe, dict) and oe.get(key) == pe[key]), None)
        if pe.get(_DIRECTIVE) == "delete":
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(_smp_map({}, pe, items))
        else:
            out[idx] = _smp_map(out[idx], pe, items)
    return out


def _reorder(values: list, order: list, schema: Schema | None) -> list:
    key = schema.patch_merge_key() if schema is not None else None

    def ident(x: Any) -> Any:
        return json.dumps(x.get(key) if key and isinstance(x, dict) else x, sort_keys=True)

    wanted = [ident(o) for o in order]
    rank = {w: i for i, w in enumerate(wanted)}
    listed = sorted((v for v in values if ident(v) in rank), key=lambda v: rank[ident(v)])
    others = [v for v in values if ident(v) not in rank]
    return listed + others


def _strip(value: Any) -> Any:
    """A patch value with every directive removed (what lands in the object when nothing was there)."""
    if isinstance(value, dict):
        if value.get(_DIRECTIVE) == "delete":
            return None
        return {k: _strip(v) for k, v in value.items() if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return [s for s in (_strip(v) for v in value) if s is not None]
    return value


# --- server-side apply -----------------------------------------------------------------------------------------
def server_side_apply(live: Obj | None, applied: Obj, schema: Schema | None, *, manager: str, force: bool,
                      api_version: str, now: str) -> Obj:
    """Merge an applied configuration into `live` (or build a new object when `live` is None) for `manager`.

    Fields the manager applied last time and no longer applies are removed, unless another applier owns them too.
    Fields another applier owns with a different value are a 409 conflict unless `force`, which takes them over.
    Ownership is recorded in `metadata.managedFields` (operation Apply, FieldsV1), as the real server does;
    ownership from ordinary updates is not tracked."""
    applied = copy.deepcopy(applied)
    applied.pop("status", None)
    ameta = applied.setdefault("metadata", {})
    for k in ("managedFields", "uid", "creationTimestamp", "generation", "selfLink", "deletionTimestamp"):
        ameta.pop(k, None)
    new_fields = field_set(applied, schema)
    for k in ("apiVersion", "kind", "status"):
        new_fields.pop(f"f:{k}", None)
    meta_fields = new_fields.get("f:metadata")
    if meta_fields is not None:
        for k in ("name", "namespace", "resourceVersion"):
            meta_fields.pop(f"f:{k}", None)
        if not meta_fields:
            del new_fields["f:metadata"]
    base = copy.deepcopy(live) if live is not None else {}
    entries = [dict(e) for e in (base.get("metadata") or {}).get("managedFields") or []]
    mine = next((e for e in entries if e.get("manager") == manager and e.get("operation") == "Apply"), None)
    others = [e for e in entries if e is not mine and e.get("operation") == "Apply"]

    if live is not None:
        conflicts = []
        for e in others:
            for path in _leaves(e.get("fieldsV1") or {}):
                if _contains(new_fields, path) and _value_at(live, path, schema) != _value_at(applied, path, schema):
                    conflicts.append((e, path))
        if conflicts and not force:
            raise _apply_conflict(conflicts)
        for e, path in conflicts:
            e["fieldsV1"] = _without(e.get("fieldsV1") or {}, path)
        if mine is not None:
            _prune(base, mine.get("fieldsV1") or {}, new_fields, [e.get("fieldsV1") or {} for e in others], ())

    merged = _apply_merge(base, applied, schema)
    entry = {"manager": manager, "operation": "Apply", "apiVersion": api_version, "time": now,
             "fieldsType": "FieldsV1", "fieldsV1": new_fields}
    kept = [e for e in entries if e is not mine and (e.get("fieldsV1") or e.get("operation") != "Apply")]
    merged.setdefault("metadata", {})["managedFields"] = kept + [entry]
    return merged


def _apply_merge(live: Any, applied: Any, schema: Schema | None) -> Any:
    if isinstance(applied, dict) and isinstance(live, dict):
        if schema is not None and schema.map_type() == "atomic":
            return copy.deepcopy(applied)
        out = live
        for k, v in applied.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = _apply_merge(out.get(k), v, _child(schema, k))
        return out
    if isinstance(applied, list) and isinstance(live, list) and schema is not None:
        ltype = schema.list_type()
        if ltype == "set":
            return live + [x for x in applied if x not in live]
        if ltype == "map":
            keys = schema.list_map_keys()
            items = schema.items()
            out = list(live)
            for ae in applied:
                idx = next((i for i, le in enumerate(out) if _same_key(le, ae, keys)), None)
                if idx is None:
                    out.append(copy.deepcopy(ae))
                else:
                    out[idx] = _apply_merge(out[idx], ae, items)
            return out
    return copy.deepcopy(applied)


def _same_key(a: Any, b: Any, keys: list[str]) -> bool:
    return isinstance(a, dict) and isinstance(b, dict) and all(a.get(k) == b.get(k) for k in keys)


def _elem_key(elem: dict, keys: list[str]) -> str:
    return "k:" + json.dumps({k: elem.get(k) for k in sorted(keys) if k in elem}, separators=(",", ":"))


def field_set(value: Any, schema: Schema | None) -> dict:
    """The FieldsV1 tree of every field set in `value` (leaves are `{}`)."""
    out: dict = {}
    if not isinstance(value, dict):
        return out
    for k, v in value.items():
        child = _child(schema, k)
        out[f"f:{k}"] = _field_node(v, child)
    return out


def _field_node(v: Any, schema: Schema | None) -> dict:
    if isinstance(v, dict):
        if schema is not None and schema.map_type() == "atomic":
            return {}
        return field_set(v, schema)
    if isinstance(v, list) and schema is not None:
        ltype = schema.list_type()
        if ltype == "map":
            keys, items = schema.list_map_keys(), schema.items()
            node: dict = {}
            for e in v:
                if isinstance(e, dict):
                    node[_elem_key(e, keys)] = {".": {}, **field_set(e, items)}
            return node
        if ltype == "set":
            return {"v:" + json.dumps(e, separators=(",", ":")): {} for e in v}
    return {}


def _prune(obj: Obj, prev: dict, new: dict, others: list[dict], path: tuple) -> None:
    """Remove from `obj` what the manager owned (`prev`) and no longer applies (`new`), sparing whatever another
    applier owns."""
    for key, sub in prev.items():
        if key == ".":
            continue
        p = path + (key,)
        if key in new:
            if sub:
                _prune(obj, sub, new[key] or {}, others, p)
            continue
        if any(_contains(t, p) for t in others):
            if sub:
                _prune(obj, sub, {}, others, p)
            continue
        _remove_path(obj, p, None)


def _leaves(tree: dict, prefix: tuple = ()) -> list[tuple]:
    out = []
    for k, sub in tree.items():
        if k == ".":
            continue
        path = prefix + (k,)
        if sub and any(s != "." for s in sub):
            out.extend(_leaves(sub, path))
        else:
            out.append(path)
    return out


def _contains(tree: dict, path: tuple) -> bool:
    cur = tree
    for k in path:
        if not isinstance(cur, dict) or k not in cur:
            return False
        cur = cur[k]
    return True


def _without(tree: dict, path: tuple) -> dict:
    tree = copy.deepcopy(tree)
    cur = tree
    for k in path[:-1]:
        cur = cur.get(k, {})
    cur.pop(path[-1], None)
    return tree


def _step(container: Any, token: str) -> tuple[Any, Any]:
    """(container the token addresses into, key/index within it) or (None, None)."""
    if token.startswith("f:") and isinstance(container, dict):
        return container, token[2:]
    if token.startswith("k:") and isinstance(container, list):
        want = json.loads(token[2:])
        for i, e in enumerate(container):
            if isinstance(e, dict) and all(e.get(k) == v for k, v in want.items()):
                return container, i
    if token.startswith("v:") and isinstance(container, list):
        want = json.loads(token[2:])
        if want in container:
            return container, container.index(want)
    return None, None


def _value_at(obj: Any, path: tuple, schema: Schema | None) -> Any:
    cur = obj
    for token in path:
        box, key = _step(cur, token)
        if box is None or (isinstance(box, dict) and key not in box):
            return None
        cur = box[key]
    return cur


def _remove_path(obj: Any, path: tuple, schema: Schema | None) -> None:
    cur = obj
    for token in path[:-1]:
        box, key = _step(cur, token)
        if box is None or (isinstance(box, dict) and key not in box):
            return
        cur = box[key]
    box, key = _step(cur, path[-1])
    if box is None:
        return
    if isinstance(box, dict):
        box.pop(key, None)
    else:
        box.pop(key)


def _apply_conflict(conflicts: list[tuple[dict, tuple]]) -> Conflict:
    causes = []
    for e, path in conflicts:
        field = "." + ".".join(t[2:] if t.startswith("f:") else f"[{t[2:]}]" for t in path)
        causes.append({"reason": "FieldManagerConflict",
                       "message": f'conflict with "{e.get("manager")}" using {e.get("apiVersion", "v1")}',
                       "field": field})
    n = len(causes)
    msg = (f"Apply failed with {n} conflict{'s' if n != 1 else ''}: "
           + "; ".join(f"{c['message']}: {c['field']}" for c in causes))
    return Conflict(msg, details={"causes": causes})
