"""Label matching: Kubernetes label selectors (matchLabels/matchExpressions) and Calico selector expressions.

Calico's grammar (used by IPPool `nodeSelector`, Calico policies and rules) is implemented for the forms people
write: `all()`, `global()`, `has(k)`, `!has(k)`, `k == 'v'`, `k != 'v'`, `k in {'a','b'}`, `k not in {...}`,
`k contains 'v'`, `k starts with 'v'`, `k ends with 'v'`, `!`, `&&`, `||` and parentheses.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable

Labels = dict[str, str]


# --- Kubernetes label selectors ----------------------------------------------------------------------------------
def match_label_selector(selector: dict | None, labels: Labels | None) -> bool:
    """True when `labels` satisfy a LabelSelector dict. An empty selector `{}` matches everything; `None` nothing
    (as for a Service without selector)."""
    if selector is None:
        return False
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def match_map_selector(selector: dict | None, labels: Labels | None) -> bool:
    """True when every key/value of a plain map selector (Service, nodeSelector) is in `labels`.
    An empty or missing map matches everything."""
    labels = labels or {}
    return all(labels.get(k) == v for k, v in (selector or {}).items())


def match_node_selector_term(term: dict, labels: Labels, fields: dict[str, str]) -> bool:
    """One NodeSelectorTerm of node affinity: matchExpressions over labels, matchFields over fields."""
    for expr in term.get("matchExpressions") or []:
        if not _node_expr(expr, labels):
            return False
    for expr in term.get("matchFields") or []:
        if not _node_expr(expr, fields):
            return False
    return bool(term.get("matchExpressions") or term.get("matchFields"))


def _node_expr(expr: dict, values_of: dict[str, str]) -> bool:
    key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    have = values_of.get(key)
    if op == "In":
        return have in values
    if op == "NotIn":
        return have not in values
    if op == "Exists":
        return key in values_of
    if op == "DoesNotExist":
        return key not in values_of
    if op in ("Gt", "Lt"):
        try:
            a, b = int(have or ""), int(values[0])
        except (ValueError, IndexError):
            return False
        return a > b if op == "Gt" else a < b
    return False


# --- Calico selectors ---------------------------------------------------------------------------------------------
class SelectorError(ValueError):
    """A Calico selector that does not parse."""


_TOKEN = re.compile(r"""\s*(?:
    (?P<str>'[^']*'|"[^"]*") |
    (?P<op>==|!=|&&|\|\||!|\(|\)|\{|\}|,) |
    (?P<word>[A-Za-z0-9_./\-]+)
)""", re.X)


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise SelectorError(f"unexpected character at {pos} in selector {text!r}")
        out.append(m.group(m.lastgroup))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.text = text

    def peek(self, n: int = 0) -> str | None:
        return self.toks[self.i + n] if self.i + n < len(self.toks) else None

    def take(self, want: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (want is not None and tok != want):
            raise SelectorError(f"expected {want or 'a token'} in selector {self.text!r}")
        self.i += 1
        return tok

    def parse(self) -> Callable[[Labels], bool]:
        if not self.toks:
            return lambda labels: True
        fn = self.or_()
        if self.peek() is not None:
            raise SelectorError(f"unexpected {self.peek()!r} in selector {self.text!r}")
        return fn

    def or_(self):
        parts = [self.and_()]
        while self.peek() == "||":
            self.take()
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else (lambda l, p=parts: any(f(l) for f in p))

    def and_(self):
        parts = [self.unary()]
        while self.peek() == "&&":
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda l, p=parts: all(f(l) for f in p))

    def unary(self):
        tok = self.peek()
        if tok == "!":
            self.take()
            inner = self.unary()
            return lambda l: not inner(l)
        if tok == "(":
            self.take()
            inner = self.or_()
            self.take(")")
            return inner
        return self.atom()

    def atom(self):
        word = self.take()
        if word in ("all", "global") and self.peek() == "(":
            self.take("(")
            self.take(")")
            return lambda l: True
        if word == "has" and self.peek() == "(":
            self.take("(")
            key = self.take()
            self.take(")")
            return lambda l: key in l
        key = _unquote(word)
        op = self.take()
        if op in ("==", "!="):
            val = _unquote(self.take())
            return (lambda l: l.get(key) == val) if op == "==" else (lambda l: l.get(key) != val)
        if op == "in":
            vals = self.set_()
            return lambda l: key in l and l[key] in vals
        if op == "not" and self.peek() == "in":
            self.take()
            vals = self.set_()
            return lambda l: not (key in l and l[key] in vals)
        if op == "contains":
            val = _unquote(self.take())
            return lambda l: val in l.get(key, "") and key in l
        if op in ("starts", "ends") and self.peek() == "with":
            self.take()
            val = _unquote(self.take())
            if op == "starts":
                return lambda l: key in l and l[key].startswith(val)
            return lambda l: key in l and l[key].endswith(val)
        raise SelectorError(f"unexpected operator {op!r} in selector {self.text!r}")

    def set_(self) -> set[str]:
        self.take("{")
        vals: set[str] = set()
        while self.peek() != "}":
            vals.add(_unquote(self.take()))
            if self.peek() == ",":
                self.take()
        self.take("}")
        return vals


def _unquote(tok: str) -> str:
    if len(tok) >= 2 and tok[0] == tok[-1] and tok[0] in "'\"":
        return tok[1:-1]
    return tok


@lru_cache(maxsize=512)
def compile_calico_selector(text: str) -> Callable[[Labels], bool]:
    """Compile a Calico selector expression into a predicate over a label dict (raises SelectorError)."""
    return _Parser(text or "").parse()


def match_calico_selector(text: str | None, labels: Labels | None) -> bool:
    """True when `labels` satisfy the Calico selector `text` (empty or None means all())."""
    return compile_calico_selector(text or "")(labels or {})
