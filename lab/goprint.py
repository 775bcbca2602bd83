"""Output the way Go command-line tools print it, so emulated commands are byte-compatible with the real ones.

- `go_yaml`: what calicoctl's YAML printer (JSON → yaml.v2) writes: keys sorted, sequences not indented under
  their key; a string YAML would read as another type (`"1385"`, `"true"`, `""`) double-quoted, one that merely
  cannot be plain (`'a: b'`) single-quoted, a multi-line one as a literal block.
- `go_json`: `json.MarshalIndent(v, "", "  ")`, with Go's escaping of `<`, `>` and `&`.
- `tabwriter`: `text/tabwriter.NewWriter(out, minwidth, tabwidth, padding, ' ', 0)` for tab-terminated cells.
- `pretty_table`: go-pretty's default table style (`+---+` borders, centred headers, numbers right-aligned).
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable, Sequence

import yaml

# --- YAML ----------------------------------------------------------------------------------------------------


_RESOLVER = yaml.resolver.Resolver()
_STR_TAG = "tag:yaml.org,2002:str"


def _plain_ok(s: str) -> bool:
    """Whether `s` can be written unquoted and still read back as the same string."""
    if s == "" or s != s.strip() or "\n" in s:
        return False
    dumped = yaml.safe_dump(s, default_flow_style=False, width=10_000)
    return not dumped.startswith(("'", '"', "|", ">"))


def _quote_string(s: str) -> str:
    if s == "" or _RESOLVER.resolve(yaml.ScalarNode, s, (True, False)) != _STR_TAG:
        return json.dumps(s, ensure_ascii=False)  # would read back as null/bool/number/timestamp
    if _plain_ok(s):
        return s
    if s.isprintable():
        return "'" + s.replace("'", "''") + "'"
    return json.dumps(s, ensure_ascii=False)


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if v != int(v) or abs(v) >= 1e21 else str(int(v))
    return _quote_string(str(v))


def _block(s: str, indent: int) -> list[str]:
    """A multi-line string as a literal block (`|-` when it has no trailing newline)."""
    chomp = "" if s.endswith("\n") else "-"
    body = s[:-1] if s.endswith("\n") else s
    pad = " " * indent
    return [f"|{chomp}"] + [(pad + line) if line else "" for line in body.split("\n")]


def _emit(value: Any, indent: int) -> list[str]:
    """Lines for a mapping or sequence value placed at `indent`."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            v = value[key]
            k = _scalar(key)
            if isinstance(v, dict) and v:
                lines.append(f"{pad}{k}:")
                lines += _emit(v, indent + 2)
            elif isinstance(v, list) and v:
                lines.append(f"{pad}{k}:")
                lines += _emit(v, indent)
            elif isinstance(v, str) and "\n" in v:
                first, *rest = _block(v, indent + 2)
                lines.append(f"{pad}{k}: {first}")
                lines += rest
            else:
                lines.append(f"{pad}{k}: {_inline(v)}")
    else:
        for item in value:
            if isinstance(item, (dict, list)) and item:
                sub = _emit(item, indent + 2)
                lines.append(f"{pad}- {sub[0].lstrip()}")
                lines += sub[1:]
            elif isinstance(item, str) and "\n" in item:
                first, *rest = _block(item, indent + 2)
                lines.append(f"{pad}- {first}")
                lines += rest
            else:
                lines.append(f"{pad}- {_inline(item)}")
    return lines


def _inline(v: Any) -> str:
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return _scalar(v)


def go_yaml(value: Any) -> str:
    """YAML text for a JSON-like value, as Go's JSON→YAML printers produce it (ends with a newline)."""
    if isinstance(value, (dict, list)) and value:
        return "\n".join(_emit(value, 0)) + "\n"
    return _inline(value) + "\n"


# --- JSON ----------------------------------------------------------------------------------------------------

_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json(value: Any) -> str:
    """`json.MarshalIndent(value, "", "  ")` plus the newline fmt.Printf adds; keys keep their dict order."""
    text = json.dumps(value, indent=2, ensure_ascii=False, separators=(",", ": "))
    return re.sub("[<>&\u2028\u2029]", lambda m: _GO_ESCAPES[m.group(0)], text) + "\n"


# --- text/tabwriter ------------------------------------------------------------------------------------------


def tabwriter(rows: Sequence[Sequence[str]], *, minwidth: int = 5, padding: int = 3) -> str:
    """Lines of tab-terminated cells aligned as Go's tabwriter aligns them (padding char ' ', no flags).

    Every cell is terminated by a tab, so every column (the last one too) is padded to its width:
    max(minwidth, widest cell + padding).
    """
    if not rows:
        return ""
    ncols = max(len(r) for r in rows)
    widths = [max([minwidth] + [len(r[c]) + padding for r in rows if c < len(r)]) for c in range(ncols)]
    return "".join("".join(cell.ljust(widths[c]) for c, cell in enumerate(r)) + "\n" for r in rows)


# --- go-pretty -----------------------------------------------------------------------------------------------

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def pretty_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """go-pretty's `table.Writer` with the default style: headers centred, numeric cells right-aligned."""
    rows = [list(map(str, r)) for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def centre(text: str, w: int) -> str:
        left = (w - len(text)) // 2
        return " " * left + text + " " * (w - len(text) - left)

    def cell(text: str, w: int) -> str:
        return text.rjust(w) if _NUMBER.match(text) else text.ljust(w)

    lines = [rule, "| " + " | ".join(centre(h, w) for h, w in zip(headers, widths)) + " |", rule]
    lines += ["| " + " | ".join(cell(c, w) for c, w in zip(r, widths)) + " |" for r in rows]
    if rows:
        lines.append(rule)
    return "\n".join(lines) + "\n"
