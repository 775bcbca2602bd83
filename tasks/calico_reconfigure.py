"""`calico_reconfigure`: make the cluster's Calico ready for Windows nodes (VXLAN, no IPIP, strict affinity).

The rules live in `tasks/_calico/plan.py` (pure); the datastore access in `tasks/_calico/store.py`; reading,
planning and applying with optimistic concurrency in `tasks/_calico/reconcile.py`. This module picks the store.
"""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from prefect_windows_nodes.blocks import ControlPlaneSSH, KubernetesCluster
from prefect_windows_nodes.tasks._calico.reconcile import reconcile, record_facts
from prefect_windows_nodes.tasks._calico.store import CalicoctlStore, KubeCalicoStore
from prefect_windows_nodes.tasks._core.results import StepRecorder, StepResult
from prefect_windows_nodes.tasks._core.retry import retry_on_transient
from prefect_windows_nodes.tasks._kube.discovery import ClusterFacts, discover_cluster

STEP = "calico_reconfigure"


# NO_CACHE: a reconcile step must really run every time (and its inputs hold secrets not worth hashing).
@task(name=STEP, retries=3, retry_delay_seconds=[1, 2, 4], retry_jitter_factor=0.5,
      retry_condition_fn=retry_on_transient, cache_policy=NO_CACHE)
async def calico_reconfigure(
    cluster: KubernetesCluster,
    ssh: ControlPlaneSSH | None = None,
    *,
    cluster_facts: ClusterFacts | None = None,
    plan: bool = False,
) -> StepResult:
    """Configure Calico for Windows nodes, or (with `plan=True`) report what would change and change nothing.

    Uses the cluster's datastore, Calico API group (v3 only when projectcalico.org is served and
    crd.projectcalico.org is not) and whether the Tigera operator manages Calico, from `cluster_facts` (the join's
    discovery) or discovered here. Then:

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
        cluster_facts: the cluster's facts as the join discovered them; discovered here when omitted.
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
        facts = cluster_facts or await discover_cluster(api)
        kube_store = KubeCalicoStore(api, facts.calico_api_group)
        if facts.datastore == "etcdv3":
            if ssh is None:
                record_facts(rec, facts, via="calicoctl-ssh")
                rec.check("control-plane-ssh", ok=False, observed="no ControlPlaneSSH block given",
                          expected="SSH access to a control-plane host with calicoctl",
                          fix="the cluster's Calico uses an etcd datastore, which only calicoctl can change: pass "
                              "a ControlPlaneSSH block (ssh=ControlPlaneSSH.load(...))")
                rec.raise_if_failed()
            async with ssh.connect() as conn:
                await reconcile(rec, facts, CalicoctlStore(ssh, conn), kube_store, plan)
        else:
            if facts.calico_api_group is None:
                record_facts(rec, facts, via="kubernetes-api")
                rec.check("calico-api", ok=False, observed="neither crd.projectcalico.org nor projectcalico.org "
                          "is served", expected="Calico installed with the Kubernetes datastore",
                          fix="install Calico first, or pass datastore='etcdv3' with a ControlPlaneSSH block")
                rec.raise_if_failed()
            await reconcile(rec, facts, kube_store, kube_store, plan)
    result = rec.result()
    logger.info("%s", result.summary())
    for line in result.changes:
        logger.info("%s %s", "would change" if plan else "changed", line)
    return result
