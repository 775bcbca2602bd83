"""`calico_reconfigure`: make the cluster's Calico ready for Windows nodes (VXLAN, no IPIP, strict affinity).

The rules live in `tasks/calico_plan.py` (pure); the datastore access in `tasks/calico_store.py`. This module reads
the cluster, plans, checks, and applies the edits with optimistic concurrency.
"""

from __future__ import annotations

from typing import Any, Literal

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from prefect_windows_nodes.blocks.kubernetes import KubernetesCluster
from prefect_windows_nodes.blocks.ssh import ControlPlaneSSH

from prefect_windows_nodes.tasks._calico.plan import ObjectEdit, felix_edit, installation_edit, ipam_edit, plan_calico, pool_edit
from prefect_windows_nodes.tasks._calico.store import CalicoctlStore, Conflict, KubeCalicoStore
from prefect_windows_nodes.tasks._kube.discovery import ClusterFacts, discover_cluster
from prefect_windows_nodes.tasks._core.results import StepFailed, StepRecorder, StepResult
from prefect_windows_nodes.tasks._core.retry import retry_on_transient

STEP = "calico_reconfigure"
MAX_CONFLICT_RETRIES = 5


# NO_CACHE: a reconcile step must really run every time (and its inputs hold secrets not worth hashing).
@task(name=STEP, retries=3, retry_delay_seconds=[1, 2, 4], retry_jitter_factor=0.5,
      retry_condition_fn=retry_on_transient, cache_policy=NO_CACHE)
async def calico_reconfigure(
    cluster: KubernetesCluster,
    ssh: ControlPlaneSSH | None = None,
    *,
    plan: bool = False,
    datastore: Literal["kubernetes", "etcdv3"] | None = None,
    calico_api_group: str | None = None,
    operator_managed: bool | None = None,
) -> StepResult:
    """Configure Calico for Windows nodes, or (with `plan=True`) report what would change and change nothing.

    Discovers the datastore, Calico API group (v3 only when projectcalico.org is served and crd.projectcalico.org
    is not) and whether the Tigera operator manages Calico; `datastore`, `calico_api_group` and `operator_managed`
    override what was discovered. Then:

    - every enabled IPv4 IPPool gets `ipipMode: Never` and `vxlanMode: Always`. A pool in `vxlanMode: CrossSubnet`
      is refused (StepFailed naming the pool and the fix) and nothing at all is changed: Windows cannot do
      cross-subnet VXLAN, and turning it into Always changes how every Linux node encapsulates, which is the
      cluster owner's decision;
    - operator installs: Installation `default` gets `encapsulation: VXLAN` on its IPv4 pools and `bgp: Disabled`;
      pools the operator manages are never patched directly;
    - FelixConfiguration `default`: `ipipEnabled: false`, `vxlanEnabled: true`;
    - checks VXLAN VNI >= 4096 and port 4789 (FelixConfiguration and calico-node's FELIX_VXLANVNI /
      FELIX_VXLANPORT env); a failed check raises StepFailed before any change;
    - IPAM config: `strictAffinity: true`, other fields kept (absent → created like calicoctl does).

    A failed check raises StepFailed before anything is written; in plan mode its result still lists the changes
    that would be made for the objects that passed.

    Writes go through the Kubernetes API (merge patches carrying the resourceVersion read, re-read and re-planned
    on 409) on the Kubernetes datastore, and through calicoctl over `ssh` on etcd. A second run sends no write
    and returns status "unchanged". Retried only for transient errors (429/5xx, connection failures).

    Args:
        cluster: the cluster to configure.
        ssh: control-plane SSH access; required for an etcd datastore (calicoctl runs there).
        plan: only report the changes (status "planned"), change nothing.

    Returns:
        StepResult with the checks, the changes (e.g. "IPPool default-ipv4-ippool: ipipMode Always → Never") and
        facts (datastore, calico_api_group, operator_managed, calico_version, pools, vxlan_vni, vxlan_port, via).

    Example:
        ```python
        from prefect_windows_nodes.blocks import KubernetesCluster
        from prefect_windows_nodes.tasks.calico_reconfigure import calico_reconfigure

        result = await calico_reconfigure(KubernetesCluster.load("BLOCK_NAME"), plan=True)
        print("\\n".join(result.changes))
        ```
    """
    logger = get_run_logger()
    rec = StepRecorder(STEP, target=cluster.server_url(), plan=plan)
    async with cluster.get_client() as api:
        facts = (await discover_cluster(api)).with_overrides(
            datastore=datastore, calico_api_group=calico_api_group, operator_managed=operator_managed)
        kube_store = KubeCalicoStore(api, facts.calico_api_group)
        if facts.datastore == "etcdv3":
            if ssh is None:
                _record_facts(rec, facts, via="calicoctl-ssh")
                rec.check("control-plane-ssh", ok=False, observed="no ControlPlaneSSH block given",
                          expected="SSH access to a control-plane host with calicoctl",
                          fix="the cluster's Calico uses an etcd datastore, which only calicoctl can change: pass "
                              "a ControlPlaneSSH block (ssh=ControlPlaneSSH.load(...))")
                rec.raise_if_failed()
            async with ssh.connect() as conn:
                await _reconcile(rec, facts, CalicoctlStore(ssh, conn), kube_store, plan)
        else:
            if facts.calico_api_group is None:
                _record_facts(rec, facts, via="kubernetes-api")
                rec.check("calico-api", ok=False, observed="neither crd.projectcalico.org nor projectcalico.org "
                          "is served", expected="Calico installed with the Kubernetes datastore",
                          fix="install Calico first, or pass datastore='etcdv3' with a ControlPlaneSSH block")
                rec.raise_if_failed()
            await _reconcile(rec, facts, kube_store, kube_store, plan)
    result = rec.result()
    logger.info("%s", result.summary())
    for line in result.changes:
        logger.info("%s %s", "would change" if plan else "changed", line)
    return result


def _record_facts(rec: StepRecorder, facts: ClusterFacts, via: str) -> None:
    rec.fact("datastore", facts.datastore)
    rec.fact("calico_api_group", facts.calico_api_group or "")
    rec.fact("operator_managed", str(facts.operator_managed).lower())
    rec.fact("calico_version", facts.calico_version)
    rec.fact("calico_node_daemonset", facts.calico_node_daemonset)
    rec.fact("via", via)


async def _reconcile(rec: StepRecorder, facts: ClusterFacts, store: Any, kube_store: KubeCalicoStore,
                     plan: bool) -> None:
    """Read, plan, check, and (unless planning) apply."""
    _record_facts(rec, facts, via=store.via)
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

