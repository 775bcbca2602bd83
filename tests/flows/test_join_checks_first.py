"""A join checks everything it can before its first change, and reads the cluster's facts once: the layering of
issue 8 seen from the outside, through Prefect, against the lab."""

from __future__ import annotations

import pytest

from prefect_windows_nodes.blocks import JoinSettings
from prefect_windows_nodes.flows.join import join_windows_node
from prefect_windows_nodes.tasks import StepFailed

from .conftest import started_lab
from .test_join_flow import PRODUCT_UA, node_ready, product_mutations, request_for

pytestmark = pytest.mark.usefixtures("prefect_api")


async def test_an_installer_refused_for_the_kubernetes_version_changes_nothing():
    """Calico 3.22's installer cannot work on Kubernetes 1.30 (no auto-created ServiceAccount token Secrets): the
    join fails before calico_reconfigure switches the cluster to VXLAN and before the host is touched."""
    async with started_lab("k8s-1.30") as (lab, names):
        await JoinSettings(calico_version="3.22.5").save("calico-3-22", overwrite=True)
        host = lab.windows_host("k8s-ww")
        lab.kube.requests.clear()
        host.records.clear()
        with pytest.raises(StepFailed) as err:
            await join_windows_node(request_for(names, settings_block="calico-3-22"))
        result = err.value.result
        assert result.step == "windows_prereqs"
        assert [c.name for c in result.failed_checks] == ["installer-kubernetes-compat"]
        assert "3.24" in result.failed_checks[0].fix
        assert product_mutations(lab, include_checks=True) == []
        assert host.records.mutations() == []
        assert host.records.commands, "the host was read (its facts), just not changed"
        pool = lab.kube.store.get(lab.kube.registry.get("crd.projectcalico.org", "ippools"), None,
                                  "default-ipv4-ippool")
        assert pool["spec"].get("vxlanMode") != "Always", "the cluster was reconfigured before the refusal"


async def test_a_join_discovers_the_cluster_once():
    async with started_lab() as (lab, names):
        lab.kube.requests.clear()
        summary = await join_windows_node(request_for(names, smoke=True, netpol=True))
        assert summary.outcome == "joined" and node_ready(lab, "k8s-ww") is not None

        def product_reads(**kw) -> int:
            return len([e for e in lab.kube.requests.find(verb="get", **kw) if e.user_agent.startswith(PRODUCT_UA)])

        assert product_reads(resource="configmaps", name="kubeadm-config") == 1
        assert product_reads(resource="services", name="kube-dns") == 1
        assert product_reads(resource="clusterinformations", name="default") == 1
        assert product_reads(resource="configmaps", name="calico-config") == 1
        version_reads = [e for e in lab.kube.requests.entries
                         if e.path.rstrip("/") == "/version" and e.user_agent.startswith(PRODUCT_UA)]
        assert len(version_reads) == 1
