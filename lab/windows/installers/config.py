"""C:\\CalicoWindows\\config.ps1: the template each release ships, the installer's edits, and its evaluation.

The installer edits the file as text, the way the real one does: ≤ 3.22 replaces placeholders
(`'<your service cidr>'` → the value, `'CALICO_NETWORKING_BACKEND="vxlan"'` → `"windows-bgp"`); 3.23+ rewrites a
whole `Set-EnvVarIfNotSet -var "X" ...` line. `evaluate` computes the `$env:` values the services see when they
dot-source the file (hostname, `$PSScriptRoot`, and whether containerd runs resolved), so manual edits by
anyone count as well.
"""

from __future__ import annotations

import re
from typing import Any

from .releases import CalicoRelease

# (variable, template value) in file order; "<...>" are the placeholders the installer fills in.
_VARS: list[tuple[str, str]] = [
    ("KUBE_NETWORK", '"Calico.*"'),
    ("CALICO_NETWORKING_BACKEND", '"vxlan"'),
    ("K8S_SERVICE_CIDR", '"<your service cidr>"'),
    ("DNS_NAME_SERVERS", '"<your dns server ips>"'),
    ("DNS_SEARCH", '"svc.cluster.local"'),
    ("CALICO_DATASTORE_TYPE", '"<your datastore type>"'),
    ("KUBECONFIG", '"$PSScriptRoot\\calico-kube-config"'),
    ("ETCD_ENDPOINTS", '"<your etcd endpoints>"'),
    ("ETCD_KEY_FILE", '"<your etcd key>"'),
    ("ETCD_CERT_FILE", '"<your etcd cert>"'),
    ("ETCD_CA_CERT_FILE", '"<your etcd ca cert>"'),
    ("@CNI", ""),
    ("CNI_CONF_FILENAME", '"10-calico.conf"'),
    ("CNI_IPAM_TYPE", '"calico-ipam"'),
    ("VXLAN_VNI", "4096"),
    ("VXLAN_MAC_PREFIX", '"0E-2A"'),
    ("VXLAN_ADAPTER", '""'),
    ("NODENAME", "$(hostname).ToLower()"),
    ("CALICO_K8S_NODE_REF", "$env:NODENAME"),
    ("STARTUP_VALID_IP_TIMEOUT", "90"),
    ("IP", '"autodetect"'),
    ("CALICO_LOG_DIR", '"$PSScriptRoot\\logs"'),
    ("FELIX_LOGSEVERITYFILE", '"none"'),
    ("FELIX_LOGSEVERITYSYS", '"none"'),
]


def _line(rel: CalicoRelease, var: str, value: str) -> str:
    if rel.config_if_not_set:
        return f'Set-EnvVarIfNotSet -var "{var}" -defaultValue {value}'
    sep = "=" if var == "CALICO_NETWORKING_BACKEND" else " = "
    return f"$env:{var}{sep}{value}"


def render_config(rel: CalicoRelease, values: dict[str, str] | None = None, *, template: bool = True) -> str:
    """config.ps1 as shipped in `rel`'s zip (placeholders intact)."""
    out = ["$baseDir = \"$PSScriptRoot\"", "ipmo \"$baseDir\\libs\\calico\\calico.psm1\" -Force", ""]
    for var, value in _VARS:
        if var == "@CNI":
            out += ["if (Get-IsContainerdRunning)", "{",
                    "    " + _line(rel, "CNI_BIN_DIR", "(Get-ContainerdCniBinDir)"),
                    "    " + _line(rel, "CNI_CONF_DIR", "(Get-ContainerdCniConfDir)"),
                    "} else {",
                    "    " + _line(rel, "CNI_BIN_DIR", '"c:\\k\\cni"'),
                    "    " + _line(rel, "CNI_CONF_DIR", '"c:\\k\\cni\\config"'),
                    "}"]
            continue
        out.append(_line(rel, var, value))
    return "\n".join(out) + "\n"


def replace_text(text: str, old: str, new: str) -> str:
    """≤ 3.22's `SetConfigParameters -OldString old -NewString new`: a literal replace on every line."""
    return text.replace(old, new)


def set_var(text: str, var: str, value: str) -> str:
    """3.23+'s `Set-ConfigParameters -var var -value value`: rewrite each `Set-EnvVarIfNotSet -var "var"...` line."""
    pattern = re.compile(r'Set-EnvVarIfNotSet -var "' + re.escape(var) + r'".*$', re.MULTILINE | re.IGNORECASE)
    return pattern.sub(lambda _m: f'Set-EnvVarIfNotSet -var "{var}" -defaultValue "{value}"', text)


def set_value(rel: CalicoRelease, text: str, var: str, value: str, placeholder: str | None = None) -> str:
    """Set `var` the way `rel`'s installer does (placeholder replace ≤ 3.22, line rewrite 3.23+)."""
    if rel.config_if_not_set:
        return set_var(text, var, value)
    if placeholder is None:
        return text
    return replace_text(text, placeholder, value)


_ASSIGN_RE = re.compile(r"^\s*\$env:(\w+)\s*=\s*(.+?)\s*$", re.IGNORECASE)
_IFNOTSET_RE = re.compile(r'^\s*Set-EnvVarIfNotSet\s+-var\s+"?(\w+)"?\s+-defaultValue\s+(.+?)\s*$', re.IGNORECASE)


def evaluate(text: str, *, root: str = "C:\\CalicoWindows", hostname: str = "localhost",
             containerd_running: bool = False,
             containerd_dir: str = "C:\\Program Files\\containerd",
             preset: dict[str, str] | None = None) -> dict[str, str]:
    """The `$env:` values the file sets after dot-sourcing it. `preset` are environment variables already set
    (machine/process env): `Set-EnvVarIfNotSet` keeps them, `$env:X = ...` overwrites them. Only variables the file
    names are returned."""
    env: dict[str, str] = {k.upper(): str(v) for k, v in (preset or {}).items()}
    named: list[str] = []
    cond_stack: list[bool] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        stripped = line.strip()
        if not stripped:
            continue
        low = stripped.lower()
        if low.startswith("if (get-iscontainerdrunning)"):
            cond_stack.append(containerd_running)
            continue
        if low in ("} else {", "}else{", "else", "} else", "else {"):
            if cond_stack:
                cond_stack[-1] = not cond_stack[-1]
            continue
        if low in ("{",):
            continue
        if low == "}":
            if cond_stack:
                cond_stack.pop()
            continue
        if cond_stack and not all(cond_stack):
            continue
        m = _ASSIGN_RE.match(stripped)
        if m:
            named.append(m.group(1).upper())
            env[m.group(1).upper()] = _value(m.group(2), env, root, hostname, containerd_dir)
            continue
        m = _IFNOTSET_RE.match(stripped)
        if m:
            named.append(m.group(1).upper())
            if m.group(1).upper() not in env:
                env[m.group(1).upper()] = _value(m.group(2), env, root, hostname, containerd_dir)
    return {k: env[k] for k in dict.fromkeys(named) if k in env}


def _value(expr: str, env: dict[str, str], root: str, hostname: str, containerd_dir: str) -> str:
    e = expr.strip()
    low = e.lower()
    if low == "$(hostname).tolower()":
        return hostname.lower()
    if low == "(get-containerdcnibindir)":
        return containerd_dir + "\\cni\\bin"
    if low == "(get-containerdcniconfdir)":
        return containerd_dir + "\\cni\\conf"
    if len(e) >= 2 and e[0] == e[-1] and e[0] in "\"'":
        e = e[1:-1]
        if expr.strip()[0] == "'":
            return e
    e = re.sub(r"\$PSScriptRoot", lambda _m: root, e, flags=re.IGNORECASE)
    e = re.sub(r"\$env:(\w+)", lambda m: env.get(m.group(1).upper(), ""), e, flags=re.IGNORECASE)
    return e


def read_config(fs: Any, *, hostname: str, containerd_running: bool,
                root: str = "C:\\CalicoWindows") -> dict[str, str]:
    """The evaluated values of `root\\config.ps1` on a host file system (empty when the file is absent)."""
    path = root + "\\config.ps1"
    if not fs.is_file(path):
        return {}
    return evaluate(fs.read_text(path), root=root, hostname=hostname, containerd_running=containerd_running)
