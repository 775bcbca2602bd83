"""Label and field selectors, parsed from query strings as the API server does, plus `LabelSelector` objects.

`parse_labels("app=web,tier in (a,b),!canary")` and `parse_fields("spec.nodeName=k8s-m", "pods")` return
predicates over whole objects; parse errors are `BadRequest` with the server's wording.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from .errors import BadRequest

Obj = dict[str, Any]
Predicate = Callable[[Obj], bool]

_KEY_RE = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                     r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


class Requirement:
    """One label requirement: `key op values`; op in =, !=, in, notin, exists, !, gt, lt."""

    __slots__ = ("key", "op", "values")

    def __init__(self, key: str, op: str, values: tuple[str, ...] = ()) -> None:
        self.key, self.op, self.values = key, op, values

    def matches(self, labels: dict[str, str]) -> bool:
        has = self.key in labels
        v = labels.get(self.key)
        if self.op in ("=", "in"):
            return has and v in self.values
        if self.op in ("!=", "notin"):
            return not has or v not in self.values
        if self.op == "exists":
            return has
        if self.op == "!":
            return not has
        if self.op in ("gt", "lt"):
            try:
                n, limit = int(v), int(self.values[0])  # type: ignore[arg-type]
            except (TypeError, ValueError):
                return False
            return n > limit if self.op == "gt" else n < limit
        return False


class LabelSelector:
    """A parsed label selector; `matches(obj)` tests `metadata.labels`. Empty selectors match everything."""

    def __init__(self, requirements: list[Requirement]) -> None:
        self.requirements = requirements

    def matches_labels(self, labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    def matches(self, obj: Obj) -> bool:
        return self.matches_labels((obj.get("metadata") or {}).get("labels"))

    def __bool__(self) -> bool:
        return bool(self.requirements)


def _split_top(text: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts]


def _check_key(key: str, text: str) -> str:
    if not _KEY_RE.match(key) or len(key.split("/")[-1]) > 63:
        raise BadRequest(f"unable to parse requirement: invalid label key \"{key}\": name part must consist of "
                         "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
                         "character")
    return key


def _check_value(value: str) -> str:
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise BadRequest(f"unable to parse requirement: invalid label value: \"{value}\": at key: must be no more "
                         "than 63 characters")
    return value


_SET_RE = re.compile(r"^(\S+)\s+(in|notin)\s*\((.*)\)$")
_OP_RE = re.compile(r"^([^=!<>\s]+)\s*(==|=|!=|>|<)\s*(.*)$")


def parse_labels(text: str | None) -> LabelSelector:
    """Parse a `labelSelector` query value."""
    reqs: list[Requirement] = []
    if not text or not text.strip():
        return LabelSelector(reqs)
    for part in _split_top(text):
        if not part:
            raise BadRequest(f"unable to parse requirement: found '', expected: identifier (in \"{text}\")")
        m = _SET_RE.match(part)
        if m:
            values = tuple(_check_value(v.strip()) for v in m.group(3).split(","))
            reqs.append(Requirement(_check_key(m.group(1), text), m.group(2), values))
            continue
        m = _OP_RE.match(part)
        if m:
            key, op, value = m.group(1), m.group(2), m.group(3).strip()
            _check_key(key, text)
            if op in (">", "<"):
                try:
                    int(value)
                except ValueError:
                    raise BadRequest(f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must be "
                                     f"an integer (in \"{text}\")") from None
                reqs.append(Requirement(key, "gt" if op == ">" else "lt", (value,)))
            else:
                reqs.append(Requirement(key, "!=" if op == "!=" else "=", (_check_value(value),)))
            continue
        if part.startswith("!"):
            reqs.append(Requirement(_check_key(part[1:].strip(), text), "!"))
            continue
        if " " in part:
            raise BadRequest(f"unable to parse requirement: found '{part.split()[1]}', expected: in, notin, =, "
                             f"==, !=, gt, lt")
        reqs.append(Requirement(_check_key(part, text), "exists"))
    return LabelSelector(reqs)


def from_label_selector(sel: dict[str, Any] | None) -> LabelSelector:
    """A `metav1.LabelSelector` object (matchLabels, matchExpressions) as a predicate. None matches nothing
    (as for a Service without selector); `{}` matches everything."""
    if sel is None:
        return LabelSelector([Requirement("\x00never", "exists")])
    reqs = [Requirement(k, "=", (str(v),)) for k, v in (sel.get("matchLabels") or {}).items()]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for e in sel.get("matchExpressions") or []:
        reqs.append(Requirement(e["key"], ops.get(e.get("operator", ""), "exists"), tuple(e.get("values") or ())))
    return LabelSelector(reqs)


# --- field selectors -------------------------------------------------------------------------------------------
def _path(*keys: str) -> Callable[[Obj], Any]:
    def get(obj: Obj) -> Any:
        cur: Any = obj
        for k in keys:
            cur = cur.get(k) if isinstance(cur, dict) else None
        return cur
    return get


def _bool(getter: Callable[[Obj], Any]) -> Callable[[Obj], str]:
    return lambda o: "true" if getter(o) else "false"


_COMMON: dict[str, Callable[[Obj], Any]] = {
    "metadata.name": _path("metadata", "name"),
    "metadata.namespace": _path("metadata", "namespace"),
}
_BY_RESOURCE: dict[tuple[str, str], dict[str, Callable[[Obj], Any]]] = {
    ("", "pods"): {
        "spec.nodeName": _path("spec", "nodeName"),
        "spec.restartPolicy": _path("spec", "restartPolicy"),
        "spec.schedulerName": _path("spec", "schedulerName"),
        "spec.serviceAccountName": _path("spec", "serviceAccountName"),
        "spec.hostNetwork": _bool(_path("spec", "hostNetwork")),
        "status.phase": _path("status", "phase"),
        "status.podIP": _path("status", "podIP"),
        "status.nominatedNodeName": _path("status", "nominatedNodeName"),
    },
    ("", "nodes"): {"spec.unschedulable": _bool(_path("spec", "unschedulable"))},
    ("", "namespaces"): {"status.phase": _path("status", "phase")},
    ("", "secrets"): {"type": _path("type")},
    ("", "services"): {"spec.clusterIP": _path("spec", "clusterIP"), "spec.type": _path("spec", "type")},
    ("", "events"): {
        "involvedObject.kind": _path("involvedObject", "kind"),
        "involvedObject.namespace": _path("involvedObject", "namespace"),
        "involvedObject.name": _path("involvedObject", "name"),
        "involvedObject.uid": _path("involvedObject", "uid"),
        "involvedObject.apiVersion": _path("involvedObject", "apiVersion"),
        "involvedObject.resourceVersion": _path("involvedObject", "resourceVersion"),
        "involvedObject.fieldPath": _path("involvedObject", "fieldPath"),
        "reason": _path("reason"),
        "reportingComponent": _path("reportingComponent"),
        "source": _path("source", "component"),
        "type": _path("type"),
    },
    ("apps", "replicasets"): {"status.replicas": lambda o: str((o.get("status") or {}).get("replicas", 0))},
    ("certificates.k8s.io", "certificatesigningrequests"): {"spec.signerName": _path("spec", "signerName")},
}


def _unescape_field(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def _split_escaped(text: str, sep: str) -> list[str]:
    return re.split(r"(?<!\\)" + re.escape(sep), text)


class FieldSelector:
    """A parsed field selector: (field, op, value) terms, all of which must hold."""

    def __init__(self, terms: list[tuple[str, str, str, Callable[[Obj], Any]]]) -> None:
        self.terms = terms

    def matches(self, obj: Obj) -> bool:
        for _field, op, value, get in self.terms:
            actual = get(obj)
            actual = "" if actual is None else str(actual)
            if (actual == value) != (op == "="):
                return False
        return True

    def __bool__(self) -> bool:
        return bool(self.terms)

    def required(self, field: str) -> str | None:
        """The value an `=` term requires of `field` (lets handlers skip a scan for metadata.name)."""
        for f, op, value, _ in self.terms:
            if f == field and op == "=":
                return value
        return None


def parse_fields(text: str | None, group: str, plural: str) -> FieldSelector:
    """Parse a `fieldSelector` query value for resource `plural` of `group`; unknown fields are 400 BadRequest."""
    terms: list[tuple[str, str, str, Callable[[Obj], Any]]] = []
    if not text or not text.strip():
        return FieldSelector(terms)
    known = {**_COMMON, **_BY_RESOURCE.get((group, plural), {})}
    for part in _split_escaped(text, ","):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^(.*?)(==|!=|=)(.*)$", part)
        if not m:
            raise BadRequest(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, value = m.group(1).strip(), m.group(2), _unescape_field(m.group(3))
        op = "!=" if op == "!=" else "="
        if field not in known:
            raise BadRequest(f"field label not supported: {field}")
        terms.append((field, op, value, known[field]))
    return FieldSelector(terms)
