"""What Calico must look like for Windows nodes, as pure functions from observed objects to checks and edits.

No I/O here: `tasks/_calico/reconcile.py` reads the objects (Kubernetes API or calicoctl), asks these functions what to change,
and applies the edits. Rules (Calico's Windows requirements,
https://docs.tigera.io/calico/3.26/getting-started/kubernetes/windows-calico/requirements, and its IPPool and
FelixConfiguration references):

- every enabled IPv4 IPPool: `ipipMode: Never`, `vxlanMode: Always`. A pool with `vxlanMode: CrossSubnet` is
  refused (Windows has no VXLAN cross-subnet mode, and switching it to Always changes how every Linux node
  encapsulates same-subnet traffic: the operator must decide that). `ipipMode: CrossSubnet` is converted like
  `Always`, since IPIP has to go anyway and VXLAN Always is the only mode Windows supports. Disabled and IPv6 pools
  are left alone (no new Windows addresses come from them).
- on operator installs, pools the operator manages are changed through the Installation
  (`spec.calicoNetwork.ipPools[i].encapsulation: VXLAN`, `spec.calicoNetwork.bgp: Disabled`), never directly.
- FelixConfiguration `default`: `ipipEnabled: false`, `vxlanEnabled: true` (created if absent).
- VXLAN VNI >= 4096 and port 4789, taking calico-node's `FELIX_VXLANVNI` / `FELIX_VXLANPORT` env overrides into
  account; an override that differs from FelixConfiguration fails too (Windows nodes read FelixConfiguration).
  These are checks only: a wrong VNI is never changed automatically (running pods depend on it).
- IPAM config `default`: `strictAffinity: true`, other fields kept; absent → created as calicoctl does
  (`strictAffinity: true`, `autoAllocateBlocks: true`).
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass, field
from typing import Any

from prefect_windows_nodes.tasks._core.results import Check

OPERATOR_MANAGED_LABEL = ("app.kubernetes.io/managed-by", "tigera-operator")
DEFAULT_VNI = 4096
MIN_WINDOWS_VNI = 4096
MAX_VNI = 16777215
WINDOWS_VXLAN_PORT = 4789
UNSET = "(unset)"


@dataclass
class ObjectEdit:
    """One object to change: a merge of `spec` fields (or a create), with the human lines describing it."""

    kind: str
    name: str
    changes: list[str]
    spec: dict[str, Any]
    create: bool = False
    resource_version: str | None = None
    obj: dict[str, Any] | None = None  # the object as read (pools applied whole through calicoctl)


@dataclass
class CalicoPlan:
    """Checks to pass before changing anything, the edits to make, and facts for the report."""

    checks: list[Check] = field(default_factory=list)
    edits: list[ObjectEdit] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)

    @property
    def changes(self) -> list[str]:
        """Every edit's change lines, in order."""
        return [line for e in self.edits for line in e.changes]

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(c.ok for c in self.checks)


def _show(value: Any) -> str:
    if value is None:
        return UNSET
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _rv(obj: dict[str, Any] | None) -> str | None:
    return ((obj or {}).get("metadata") or {}).get("resourceVersion")


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", "?"))


def is_ipv4_cidr(cidr: str | None) -> bool:
    """True when `cidr` parses as an IPv4 network."""
    try:
        return ipaddress.ip_network(str(cidr), strict=False).version == 4
    except ValueError:
        return False


def is_operator_managed_pool(pool: dict[str, Any], installation: dict[str, Any] | None) -> bool:
    """Managed by the Tigera operator: labelled so (operator >= 1.35), or its CIDR is one of the Installation's."""
    labels = (pool.get("metadata") or {}).get("labels") or {}
    if labels.get(OPERATOR_MANAGED_LABEL[0]) == OPERATOR_MANAGED_LABEL[1]:
        return True
    if installation is None:
        return False
    cidrs = {p.get("cidr") for p in (((installation.get("spec") or {}).get("calicoNetwork") or {}).get("ipPools") or [])}
    return (pool.get("spec") or {}).get("cidr") in cidrs


# --- IP pools ------------------------------------------------------------------------------------------------
def pool_edit(pool: dict[str, Any]) -> tuple[ObjectEdit | None, Check | None]:
    """The edit an IPPool needs (None when it is already right or is skipped) and its check (None when skipped)."""
    spec = pool.get("spec") or {}
    name = _name(pool)
    if spec.get("disabled") or not is_ipv4_cidr(spec.get("cidr")):
        return None, None
    ipip, vxlan = spec.get("ipipMode"), spec.get("vxlanMode")
    observed = f"cidr {spec.get('cidr')}, ipipMode {_show(ipip)}, vxlanMode {_show(vxlan)}"
    if vxlan == "CrossSubnet":
        check = Check(
            name=f"ippool {name}", ok=False, observed=observed,
            expected="vxlanMode Always (Windows nodes do not support VXLAN CrossSubnet)",
            fix=(f"decide whether all nodes may encapsulate every packet, then set it yourself: calicoctl patch "
                 f"ippool {name} -p '{{\"spec\":{{\"vxlanMode\":\"Always\"}}}}' and re-run; nothing was changed"))
        return None, check
    check = Check(name=f"ippool {name}", ok=True, observed=observed, expected="ipipMode Never, vxlanMode Always")
    patch: dict[str, Any] = {}
    changes = []
    if (ipip or "Never") != "Never":
        patch["ipipMode"] = "Never"
        changes.append(f"IPPool {name}: ipipMode {_show(ipip)} → Never")
    if vxlan != "Always":
        patch["vxlanMode"] = "Always"
        changes.append(f"IPPool {name}: vxlanMode {_show(vxlan)} → Always")
    if not patch:
        return None, check
    return ObjectEdit("IPPool", name, changes, patch, resource_version=_rv(pool), obj=pool), check


# --- Installation (operator) ----------------------------------------------------------------------------------
def installation_edit(inst: dict[str, Any]) -> tuple[ObjectEdit | None, list[Check]]:
    """Pool encapsulation VXLAN and BGP Disabled in Installation `default` (the operator renders the pools)."""
    net = ((inst.get("spec") or {}).get("calicoNetwork")) or {}
    pools = [dict(p) for p in net.get("ipPools") or []]
    checks: list[Check] = []
    changes: list[str] = []
    for i, p in enumerate(pools):
        cidr = p.get("cidr")
        if not is_ipv4_cidr(cidr):
            continue
        enc = p.get("encapsulation")
        label = f"calicoNetwork.ipPools[{i}] ({cidr})"
        if enc == "VXLANCrossSubnet":
            checks.append(Check(
                name=f"installation pool {cidr}", ok=False, observed=f"encapsulation {enc}",
                expected="encapsulation VXLAN (Windows nodes do not support VXLAN CrossSubnet)",
                fix=(f"decide whether all nodes may encapsulate every packet, then set {label}.encapsulation to "
                     "VXLAN in Installation default (kubectl edit installation default) and re-run; nothing was "
                     "changed")))
            continue
        checks.append(Check(name=f"installation pool {cidr}", ok=True, observed=f"encapsulation {_show(enc)}",
                            expected="encapsulation VXLAN"))
        if enc != "VXLAN":
            p["encapsulation"] = "VXLAN"
            changes.append(f"Installation default: {label} encapsulation {_show(enc)} → VXLAN")
    bgp = net.get("bgp")
    new_net: dict[str, Any] = {}
    if bgp != "Disabled":
        new_net["bgp"] = "Disabled"
        changes.append(f"Installation default: calicoNetwork.bgp {_show(bgp)} → Disabled")
    if any(not c.ok for c in checks) or not changes:
        return None, checks
    if any("encapsulation" in line for line in changes):
        new_net["ipPools"] = pools  # a merge patch replaces lists whole: send the full list
    return ObjectEdit("Installation", _name(inst), changes, {"calicoNetwork": new_net},
                      resource_version=_rv(inst), obj=inst), checks


# --- Felix ----------------------------------------------------------------------------------------------------
def felix_edit(felix: dict[str, Any] | None) -> ObjectEdit | None:
    """ipipEnabled false and vxlanEnabled true on FelixConfiguration default (created when absent)."""
    if felix is None:
        spec = {"ipipEnabled": False, "vxlanEnabled": True}
        return ObjectEdit("FelixConfiguration", "default",
                          ["FelixConfiguration default: create with ipipEnabled false, vxlanEnabled true"],
                          spec, create=True)
    spec = felix.get("spec") or {}
    patch: dict[str, Any] = {}
    changes = []
    if spec.get("ipipEnabled") is not False:
        patch["ipipEnabled"] = False
        changes.append(f"FelixConfiguration default: ipipEnabled {_show(spec.get('ipipEnabled'))} → false")
    if spec.get("vxlanEnabled") is not True:
        patch["vxlanEnabled"] = True
        changes.append(f"FelixConfiguration default: vxlanEnabled {_show(spec.get('vxlanEnabled'))} → true")
    if not patch:
        return None
    return ObjectEdit("FelixConfiguration", "default", changes, patch, resource_version=_rv(felix), obj=felix)


# --- IPAM -----------------------------------------------------------------------------------------------------
def ipam_edit(ipam: dict[str, Any] | None, kind: str = "IPAMConfig") -> ObjectEdit | None:
    """strictAffinity true on the IPAM config `default`, keeping its other fields; absent → created."""
    if ipam is None:
        spec = {"strictAffinity": True, "autoAllocateBlocks": True}
        return ObjectEdit(kind, "default",
                          [f"{kind} default: create with strictAffinity true, autoAllocateBlocks true"],
                          spec, create=True)
    current = (ipam.get("spec") or {}).get("strictAffinity")
    if current is True:
        return None
    return ObjectEdit(kind, "default", [f"{kind} default: strictAffinity {_show(current)} → true"],
                      {"strictAffinity": True}, resource_version=_rv(ipam), obj=ipam)


# --- VXLAN VNI and port ---------------------------------------------------------------------------------------
def _env(env: dict[str, str], name: str) -> str | None:
    for k, v in env.items():  # Felix reads FELIX_* env case-insensitively
        if k.upper() == name:
            return v
    return None


def vxlan_checks(felix: dict[str, Any] | None, env: dict[str, str], daemonset: str | None
                 ) -> tuple[list[Check], dict[str, str]]:
    """VNI >= 4096 and port 4789 as calico-node will actually use them, and env overrides agreeing with
    FelixConfiguration. Returns (checks, facts)."""
    spec = (felix or {}).get("spec") or {}
    ds = daemonset or "calico-node"
    ns, _, ds_name = ds.rpartition("/")
    set_env = f"kubectl -n {ns or 'kube-system'} set env daemonset/{ds_name}"
    checks: list[Check] = []
    facts: dict[str, str] = {}
    for what, field_name, env_name, default, ok_fn, expected, good in (
        ("vni", "vxlanVNI", "FELIX_VXLANVNI", DEFAULT_VNI, lambda v: MIN_WINDOWS_VNI <= v <= MAX_VNI,
         f">= {MIN_WINDOWS_VNI} (Windows does not support VXLANVNI < 4096)", DEFAULT_VNI),
        ("port", "vxlanPort", "FELIX_VXLANPORT", WINDOWS_VXLAN_PORT, lambda v: v == WINDOWS_VXLAN_PORT,
         f"{WINDOWS_VXLAN_PORT} (Windows VXLAN uses UDP 4789 only)", WINDOWS_VXLAN_PORT),
    ):
        felix_value = spec.get(field_name)
        felix_effective = int(felix_value) if felix_value is not None else default
        felix_src = (f"FelixConfiguration default {field_name} {felix_value}" if felix_value is not None
                     else f"default {default} (FelixConfiguration default has no {field_name})")
        override = _env(env, env_name)
        name = f"vxlan-{what}"
        if override is not None:
            try:
                value = int(override.strip())
            except ValueError:
                checks.append(Check(name=name, ok=False, observed=f"{env_name}={override!r} on DaemonSet {ds}",
                                    expected=f"a number {expected}",
                                    fix=f"{set_env} {env_name}={good} (or remove the override)"))
                continue
            src = f"{env_name}={override} on DaemonSet {ds} (overrides {felix_src})"
            fix = (f"{set_env} {env_name}={good}, or remove the override ({set_env} {env_name}-)")
            if ns == "calico-system":  # the operator renders this DaemonSet and would undo a direct edit
                fix = (f"calico-node is rendered by the Tigera operator: remove {env_name} from the operator's "
                       f"configuration and set FelixConfiguration default {field_name} to {good} instead")
        else:
            value, src = felix_effective, felix_src
            fix = (f"kubectl patch felixconfigurations.crd.projectcalico.org default --type merge "
                   f"-p '{{\"spec\":{{\"{field_name}\":{good}}}}}' (or calicoctl patch felixconfiguration default "
                   f"-p ...) after checking that no Linux node depends on the old value")
        facts[f"vxlan_{what}"] = str(value)
        checks.append(Check(name=name, ok=ok_fn(value), observed=f"{value} ({src})", expected=expected, fix=fix))
        if override is not None and ok_fn(value) and value != felix_effective:
            checks.append(Check(
                name=f"vxlan-{what}-override", ok=False,
                observed=f"{env_name}={value} on DaemonSet {ds}, but FelixConfiguration default gives {felix_effective}",
                expected=f"the same {field_name} for Linux (env) and Windows nodes (FelixConfiguration)",
                fix=(f"set FelixConfiguration default {field_name} to {value} and remove the env override "
                     f"({set_env} {env_name}-)")))
    return checks, facts


# --- the whole plan -------------------------------------------------------------------------------------------
def plan_calico(*, pools: list[dict[str, Any]], felix: dict[str, Any] | None, ipam: dict[str, Any] | None,
                installation: dict[str, Any] | None, calico_node_env: dict[str, str],
                calico_node_daemonset: str | None, ipam_kind: str = "IPAMConfig") -> CalicoPlan:
    """Every check and edit for a cluster whose Calico objects were read as given.

    `installation` is the operator's Installation `default` (None when Calico is not operator-managed).
    """
    plan = CalicoPlan()
    direct, managed, skipped = [], [], []
    for pool in pools:
        if is_operator_managed_pool(pool, installation):
            managed.append(_name(pool))
            if installation is None:
                plan.checks.append(Check(
                    name=f"ippool {_name(pool)}", ok=False,
                    observed=f"labelled {'='.join(OPERATOR_MANAGED_LABEL)} but Installation default does not exist",
                    expected="operator-managed pools configured through Installation default",
                    fix="restore Installation default (the operator reverts direct pool edits), or remove the "
                        "label if the operator no longer manages Calico"))
            continue
        edit, check = pool_edit(pool)
        if check is None:
            skipped.append(_name(pool))
            continue
        direct.append(_name(pool))
        plan.checks.append(check)
        if edit:
            plan.edits.append(edit)
    if installation is not None:
        edit, checks = installation_edit(installation)
        plan.checks.extend(checks)
        if edit:
            plan.edits.append(edit)
    for edit in (felix_edit(felix), ipam_edit(ipam, ipam_kind)):
        if edit:
            plan.edits.append(edit)
    checks, facts = vxlan_checks(felix, calico_node_env, calico_node_daemonset)
    plan.checks.extend(checks)
    plan.facts.update(facts)
    plan.facts["pools"] = ",".join(
        f"{_name(p)}={(p.get('spec') or {}).get('cidr', '')}" for p in pools)
    plan.facts["pools_direct"] = ",".join(direct)
    plan.facts["pools_operator_managed"] = ",".join(managed)
    plan.facts["pools_skipped"] = ",".join(skipped)
    has_v4 = bool(direct) or (installation is not None and any(
        is_ipv4_cidr(p.get("cidr"))
        for p in ((installation.get("spec") or {}).get("calicoNetwork") or {}).get("ipPools") or []))
    plan.checks.append(Check(
        name="ipv4-pool", ok=has_v4,
        observed=f"{len(pools)} pool(s): {plan.facts['pools'] or 'none'}",
        expected="at least one enabled IPv4 IPPool (Windows pods get IPv4 addresses only)",
        fix="" if has_v4 else "create an enabled IPv4 IPPool (e.g. 192.168.0.0/16) with vxlanMode Always"))
    return plan


def felix_patch_json(spec: dict[str, Any]) -> str:
    """The `-p` argument of `calicoctl patch felixconfiguration default`."""
    return json.dumps({"spec": spec}, separators=(",", ":"))
