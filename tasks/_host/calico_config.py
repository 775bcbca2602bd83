"""Calico for Windows' `config.ps1`, read as text and interpreted in Python (never dot-sourced on the host).

The file sets the environment of Calico's services: `$env:NAME = "value"` lines (≤ 3.22) or
`Set-EnvVarIfNotSet -var "NAME" -defaultValue "value"` lines (3.23+, which keep a value already set in the
machine environment), and picks the CNI directories in an `if (Get-IsContainerdRunning) { … } else { … }` block.
`parse_config` evaluates the forms Calico's own template uses (literals, `$PSScriptRoot`, `$env:` references,
`$(hostname).ToLower()`); any other expression is kept as `(expression …)` so a comparison with an intended value
fails visibly instead of guessing. Template (v3.22):
https://github.com/projectcalico/calico/blob/v3.22.5/node/windows-packaging/CalicoWindows/config.ps1
"""

from __future__ import annotations

import re

_ASSIGN = re.compile(r"^\$env:(\w+)\s*=\s*(.+?)\s*;?\s*$", re.IGNORECASE)
_IF_NOT_SET = re.compile(r'^Set-EnvVarIfNotSet\s+-var\s+["\']?(\w+)["\']?\s+-defaultValue\s+(.+?)\s*;?\s*$',
                         re.IGNORECASE)
_IF_CONTAINERD = re.compile(r"^if\s*\(\s*Get-IsContainerdRunning\s*\)\s*\{?$", re.IGNORECASE)
_ELSE = re.compile(r"^\}?\s*else\s*\{?$", re.IGNORECASE)
_ENV_REF = re.compile(r"\$env:(\w+)", re.IGNORECASE)
_SCRIPT_ROOT = re.compile(r"\$PSScriptRoot|\$\{PSScriptRoot\}", re.IGNORECASE)


def parse_config(text: str, *, root: str, hostname: str, containerd_running: bool,
                 machine_env: dict[str, str] | None = None) -> dict[str, str]:
    """The values `text` gives the Calico services (NAME → value), for a file in `root` on a host called
    `hostname`. `machine_env`: variables already set for the services (kept by `Set-EnvVarIfNotSet`)."""
    env = {k.upper(): v for k, v in (machine_env or {}).items()}
    values: dict[str, str] = {}
    branches: list[bool] = []     # the truth of each enclosing if/else branch
    for raw in text.splitlines():
        line = _strip_comment(raw).strip()
        if not line:
            continue
        if _IF_CONTAINERD.match(line):
            branches.append(containerd_running)
            continue
        if _ELSE.match(line) and branches:
            branches[-1] = not branches[-1]
            continue
        if line in ("{",):
            continue
        if line == "}":
            if branches:
                branches.pop()
            continue
        if not all(branches):
            continue
        m = _ASSIGN.match(line)
        if m:
            name = m.group(1).upper()
            values[name] = env[name] = _evaluate(m.group(2), env, root, hostname)
            continue
        m = _IF_NOT_SET.match(line)
        if m:
            name = m.group(1).upper()
            values[name] = env[name] = env[name] if name in env else _evaluate(m.group(2), env, root, hostname)
    return values


def _strip_comment(line: str) -> str:
    """The line without a trailing `# comment` (a `#` inside quotes is kept)."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


def _evaluate(expr: str, env: dict[str, str], root: str, hostname: str) -> str:
    e = expr.strip()
    if e.lower() in ("$(hostname).tolower()", "(hostname).tolower()"):
        return hostname.lower()
    if len(e) >= 2 and e[0] == e[-1] == "'":
        return e[1:-1].replace("''", "'")
    if len(e) >= 2 and e[0] == e[-1] == '"':
        inner = _SCRIPT_ROOT.sub(lambda _m: root, e[1:-1])
        return _ENV_REF.sub(lambda m: env.get(m.group(1).upper(), ""), inner)
    if re.fullmatch(r"-?\d+", e):
        return e
    if _ENV_REF.fullmatch(e):
        return env.get(_ENV_REF.fullmatch(e).group(1).upper(), "")  # type: ignore[union-attr]
    return f"(expression {e})"
