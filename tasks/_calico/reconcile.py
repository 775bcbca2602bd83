"""Reading Calico's objects, planning the Windows-ready edits and applying them with optimistic concurrency: merge
patches carrying the resourceVersion read (Kubernetes datastore) or calicoctl over SSH (etcd); on a conflict the
object is read again and re-planned."""

from __future__ import annotations

from typing import Any

from prefect_windows_nodes.tasks._calico.plan import (ObjectEdit, felix_edit, installation_edit, ipam_edit,
                                                      plan_calico, pool_edit)
from prefect_windows_nodes.tasks._calico.store import Conflict, KubeCalicoStore
from prefect_windows_nodes.tasks._core.results import StepFailed, StepRecorder
from prefect_windows_nodes.tasks._kube.discovery import ClusterFacts

MAX_CONFLICT_RETRIES = 5


def record_facts(rec: StepRecorder, facts: ClusterFacts, via: str) -> None:
    rec.fact("datastore", facts.datastore)
    rec.fact("calico_api_group", facts.calico_api_group or "")
    rec.fact("operator_managed", str(facts.operator_managed).lower())
    rec.fact("calico_version", facts.calico_version)
    rec.fact("calico_node_daemonset", facts.calico_node_daemonset)
    rec.fact("via", via)


async def reconcile(rec: StepRecorder, facts: ClusterFacts, store: Any, kube_store: KubeCalicoStore,
                     plan: bool) -> None:
    """Read, plan, check, and (unless planning) apply."""
    record_facts(rec, facts, via=store.via)
    pools = await store.read_pools()
    felix = await store.read("FelixConfiguration", "default")
    ipam = await store.read(store.ipam_kind, "default")
    installation = await kube_store.read("Installation", "default") if facts.operator_managed else None
    if not facts.calico_version:
        rec.fact("calico_version", await store.calico_version())
    if facts.operator_managed and installation is not None:
        rec.fact("via", f"{store.via}+installation")

    calico_plan = plan_calico(pools=pools, felix=felix, ipam=ipam, installation=installation,
                              calico_node_env=facts.calico_node_env,
                              calico_node_daemonset=facts.calico_node_daemonset, ipam_kind=store.ipam_kind)
    rec.checks.extend(calico_plan.checks)
    for key, value in calico_plan.facts.items():
        rec.fact(key, value)
    if plan:  # the diff is reported even when a check fails; nothing is written either way
        for line in calico_plan.changes:
            rec.change(line)
    rec.raise_if_failed()
    if plan:
        return
    for edit in calico_plan.edits:
        target = kube_store if edit.kind == "Installation" else store
        applied = await _apply(rec, target, edit)
        for line in applied.changes if applied else []:
            rec.change(line)


async def _apply(rec: StepRecorder, store: Any, edit: ObjectEdit) -> ObjectEdit | None:
    """Write one edit; on a conflict read the object again and re-plan it (None: nothing left to do)."""
    for _ in range(MAX_CONFLICT_RETRIES):
        try:
            await store.write(edit)
            return edit
        except Conflict:
            current = await store.read(edit.kind, edit.name)
            replanned = _replan(rec, edit.kind, current)
            if replanned is None:
                return None
            edit = replanned
    raise RuntimeError(f"{edit.kind} {edit.name} kept changing while being updated "
                       f"({MAX_CONFLICT_RETRIES} conflicts); re-run the step")


def _replan(rec: StepRecorder, kind: str, current: dict | None) -> ObjectEdit | None:
    if kind == "IPPool":
        if current is None:
            return None  # deleted meanwhile
        edit, check = pool_edit(current)
        if check is not None and not check.ok:
            rec.checks.append(check)
            raise StepFailed(rec.result("failed"))
        return edit
    if kind == "Installation":
        if current is None:
            return None
        edit, checks = installation_edit(current)
        if any(not c.ok for c in checks):
            rec.checks.extend(checks)
            raise StepFailed(rec.result("failed"))
        return edit
    if kind == "FelixConfiguration":
        return felix_edit(current)
    return ipam_edit(current, kind)

