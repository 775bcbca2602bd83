"""The join tasks end to end against the real lab (`lab.world.Lab(windows=1)`): pypsrp and the kubernetes client
talk to the emulated Windows host and API server over real sockets; the host and the API count what changed."""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("lab.kube.cluster")
pytest.importorskip("lab.windows.node")

from prefect.logging import disable_run_logger  # noqa: E402

from prefect_windows_nodes.blocks import JoinSettings, kubeconfig_identity  # noqa: E402
from lab.world import Lab  # noqa: E402
from prefect_windows_nodes.tasks.calico_reconfigure import calico_reconfigure  # noqa: E402
from prefect_windows_nodes.tasks.install_calico_windows import install_calico_windows  # noqa: E402
from prefect_windows_nodes.tasks.install_kube_services import install_kube_services  # noqa: E402
from prefect_windows_nodes.tasks.wait_node_ready import wait_node_ready  # noqa: E402
from prefect_windows_nodes.tasks._host.node_state import read_calico_state, wait_for_state  # noqa: E402
from prefect_windows_nodes.tasks._core.results import StepFailed  # noqa: E402
from prefect_windows_nodes.tasks.windows_prereqs import windows_prereqs  # noqa: E402

from .conftest import lab_blocks  # noqa: E402

NODE = "k8s-ww"


async def join(host, cluster, settings, *, plan: bool = False) -> dict[str, object]:
    """The four Windows join steps (after calico_reconfigure), as the flow runs them."""
    with disable_run_logger():
        pre = await windows_prereqs.fn(host, cluster, settings, plan=plan)
        inst = await install_calico_windows.fn(host, cluster, settings, host_facts=pre.host, plan=plan)
        svc = await install_kube_services.fn(host, settings, plan=plan)
        ready = await wait_node_ready.fn(cluster, NODE, settings, host=host, plan=plan)
    return {"windows_prereqs": pre, "install_calico_windows": inst, "install_kube_services": svc,
            "wait_node_ready": ready}


async def reconfigure(cluster) -> None:
    with disable_run_logger():
        await calico_reconfigure.fn(cluster)


async def calico_state(host):
    async with host.open_session() as ps:
        return await read_calico_state(ps)


# Calico version: discovered (the runbook cluster's ClusterInformation says v3.22.1).
SETTINGS = JoinSettings(calico_start_timeout_s=120, node_ready_timeout_s=120)


async def test_prereqs_pass_on_a_default_host():
    async with Lab(windows=1) as lab:
        host, cluster = lab_blocks(lab)
        node = lab.windows_host(NODE)
        with disable_run_logger():
            result = await windows_prereqs.fn(host, cluster)
        assert all(c.ok for c in result.checks), [c.describe() for c in result.checks]
        assert result.facts["node_name"] == NODE
        assert result.facts["os_build"] == node.os_build


async def test_missing_hotfix_stops_at_prereqs_with_nothing_changed():
    async with Lab(windows=1, faults={NODE: {"missing_hotfix": True}}) as lab:
        host, cluster = lab_blocks(lab)
        node = lab.windows_host(NODE)
        with disable_run_logger(), pytest.raises(StepFailed) as info:
            await windows_prereqs.fn(host, cluster)
        failed = {c.name: c for c in info.value.result.failed_checks}
        assert "overlay-hotfix" in failed and "KB4489899" in failed["overlay-hotfix"].fix
        assert info.value.result.status == "failed"
        assert node.records.mutations() == []
        assert node.records.commands  # the facts were read: the check really talked to the host


async def test_plan_mode_changes_nothing_on_a_fresh_host():
    async with Lab(windows=1) as lab:
        host, cluster = lab_blocks(lab)
        node = lab.windows_host(NODE)
        results = await join(host, cluster, SETTINGS, plan=True)
        assert results["install_calico_windows"].status == "planned"
        assert any("install-calico-windows.ps1" in c for c in results["install_calico_windows"].changes)
        assert node.records.mutations() == []


async def test_join_ends_ready_with_vxlan_and_a_second_run_changes_nothing(caplog):
    caplog.set_level(logging.DEBUG)
    async with Lab(windows=1) as lab:
        host, cluster = lab_blocks(lab)
        node = lab.windows_host(NODE)
        await reconfigure(cluster)
        first = await join(host, cluster, SETTINGS)
        assert first["install_calico_windows"].status == "changed"
        assert first["install_calico_windows"].facts["installed_version"] == "3.22.1"  # the cluster's release
        assert first["install_calico_windows"].facts["backend"] == "vxlan"
        state = await calico_state(host)
        assert state.calico_running and state.config["CALICO_NETWORKING_BACKEND"] == "vxlan"
        assert state.status("CalicoConfd") == "absent"
        assert state.running("kubelet", "kube-proxy")
        assert first["wait_node_ready"].facts["os_image"]
        # The runbook's way (default mode): the admin kubeconfig is the node's credential.
        assert lab.kube.authenticate_kubeconfig(node.host.fs.read_bytes("c:\\k\\config").decode()) == \
            "kubernetes-admin"

        host_mutations = len(node.records.mutations())
        api_mutations = lab.kube.requests.count(mutating=True)
        second = await join(host, cluster, SETTINGS)
        assert {k: r.status for k, r in second.items()} == {k: "unchanged" for k in second}
        assert len(node.records.mutations()) == host_mutations
        assert lab.kube.requests.count(mutating=True) == api_mutations

        # No secret of the run in the client-side logs.
        text = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("psrpcore", "lab")))
        for secret in (host.password.get_secret_value(), lab.kube.admin_token):
            assert secret not in text


async def test_calico_322_installer_ends_with_vxlan_not_bgp():
    async with Lab(windows=1) as lab:
        host, cluster = lab_blocks(lab)
        await reconfigure(cluster)
        settings = SETTINGS.model_copy(update={"calico_version": "3.22.5"})
        with disable_run_logger():
            pre = await windows_prereqs.fn(host, cluster)
            result = await install_calico_windows.fn(host, cluster, settings, host_facts=pre.host)
        state = await calico_state(host)
        assert state.installed_version == "3.22.5"
        assert state.config["CALICO_NETWORKING_BACKEND"] == "vxlan"
        assert state.status("CalicoConfd") == "absent"
        assert result.facts["installer_url"].endswith("/v3.22.5/install-calico-windows.ps1")


async def test_winrm_drop_during_hns_creation_is_survived():
    async with Lab(windows=1, faults={NODE: {"drop_during": "hns-create"}}) as lab:
        host, cluster = lab_blocks(lab)
        node = lab.windows_host(NODE)
        await reconfigure(cluster)
        with disable_run_logger():
            pre = await windows_prereqs.fn(host, cluster)
            result = await install_calico_windows.fn(host, cluster, SETTINGS, host_facts=pre.host)
        assert node.faults.drops_done == ["hns-create"]
        assert result.status == "changed"
        assert (await calico_state(host)).calico_running


async def test_least_privilege_leaves_no_admin_credential_on_the_host(caplog):
    from kubernetes.aio import client as kclient
    from pydantic import SecretStr

    from prefect_windows_nodes.blocks import KubernetesCluster

    caplog.set_level(logging.DEBUG)
    async with Lab(windows=1) as lab:
        host, cluster = lab_blocks(lab)
        node = lab.windows_host(NODE)
        await reconfigure(cluster)
        settings = SETTINGS.model_copy(update={"least_privilege": True})
        results = await join(host, cluster, settings)
        assert results["wait_node_ready"].status in ("changed", "unchanged")
        config = node.host.fs.read_bytes("c:\\k\\config").decode()
        ident = kubeconfig_identity(config)
        assert (ident.kind, ident.common_name) == ("certificate", f"system:node:{NODE}")
        assert lab.kube.authenticate_kubeconfig(config) == f"system:node:{NODE}"
        assert lab.kube.admin_token not in config
        # kube-proxy reads c:\k\config too: the node's user holds kube-proxy's rights, and nothing more is on disk.
        assert not node.host.fs.exists("c:\\k\\kube-proxy.conf")
        async with KubernetesCluster(kubeconfig=SecretStr(config)).get_client() as node_api:
            review = await kclient.AuthorizationV1Api(node_api).create_self_subject_access_review(
                kclient.V1SelfSubjectAccessReview(spec=kclient.V1SelfSubjectAccessReviewSpec(
                    resource_attributes=kclient.V1ResourceAttributes(group="discovery.k8s.io", resource="endpointslices",
                                                                     verb="watch"))))
            assert review.status.allowed, "kube-proxy (as the node) cannot watch EndpointSlices"
        # Idempotent in this mode too.
        mutations = len(node.records.mutations())
        again = await join(host, cluster, settings)
        assert {r.status for r in again.values()} == {"unchanged"}
        assert len(node.records.mutations()) == mutations
        # Neither the node's private key nor the password reached the client-side logs.
        import yaml

        key_data = yaml.safe_load(config)["users"][0]["user"]["client-key-data"]
        text = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("psrpcore", "lab")))
        for secret in (key_data[:40], host.password.get_secret_value(), lab.kube.admin_token):
            assert secret not in text


async def test_installer_token_is_scoped_to_what_the_installer_reads():
    from kubernetes.aio import client as kclient
    from kubernetes.aio.client.exceptions import ApiException
    from pydantic import SecretStr

    from prefect_windows_nodes.blocks import KubernetesCluster
    from prefect_windows_nodes.tasks._kube.credentials import installer_kubeconfig

    async with Lab(windows=0) as lab:
        _, cluster = lab_blocks_cluster_only(lab)
        async with cluster.get_client() as api:
            text = await installer_kubeconfig(api, server=cluster.server_url(), ca_pem=cluster.ca_pem(),
                                              calico_namespace="kube-system", creates_token_secret=False)
        assert lab.kube.authenticate_kubeconfig(text) == \
            "system:serviceaccount:kube-system:calico-windows-installer"
        scoped = KubernetesCluster(kubeconfig=SecretStr(text))
        async with scoped.get_client() as api:
            core = kclient.CoreV1Api(api)
            secrets = await core.list_namespaced_secret("kube-system",
                                                        field_selector="type=kubernetes.io/service-account-token")
            assert secrets.items is not None
            for forbidden in (core.list_node(), core.list_namespaced_secret("default"),
                              core.delete_namespaced_secret("anything", "kube-system")):
                with pytest.raises(ApiException) as info:
                    await forbidden
                assert info.value.status == 403


def lab_blocks_cluster_only(lab):
    from prefect_windows_nodes.blocks import KubernetesCluster

    return None, KubernetesCluster.from_file(lab.describe()["kubeconfig"])


async def test_wrong_password_fails_fast_as_an_auth_error():
    from prefect_windows_nodes.blocks import WinRMAuthError

    async with Lab(windows=1, faults={NODE: {"wrong_password": True}}) as lab:
        host, cluster = lab_blocks(lab)
        with disable_run_logger(), pytest.raises(WinRMAuthError) as info:
            await windows_prereqs.fn(host, cluster)
        assert host.password.get_secret_value() not in str(info.value)


async def test_node_not_ready_report_carries_conditions_events_and_log_tails():
    async with Lab(windows=1) as lab:
        host, cluster = lab_blocks(lab)
        await reconfigure(cluster)
        with disable_run_logger():
            pre = await windows_prereqs.fn(host, cluster)
            await install_calico_windows.fn(host, cluster, SETTINGS, host_facts=pre.host)
            async with host.open_session() as ps:  # break kubelet's credential
                await ps.copy_bytes(b"apiVersion: v1\nkind: Config\n", "c:\\k\\config")
            await install_kube_services.fn(host)
            with pytest.raises(StepFailed) as info:
                await wait_node_ready.fn(cluster, NODE, JoinSettings(node_ready_timeout_s=1.5), host=host)
        result = info.value.result
        assert [c.name for c in result.failed_checks] == ["node-ready"]
        assert result.failed_checks[0].observed == "node not registered"
        assert "unavailable" not in result.facts["events"]  # the events query itself worked
        assert "kubeconfig" in result.facts["log_Kubelet"]
        assert result.facts["log_CalicoNode"]  # Calico's log tail is there too


async def test_a_bgp_install_from_the_manual_runbook_is_replaced_by_vxlan():
    """Runbook pitfall 1: Felix has ipipEnabled false but no vxlanEnabled, the 3.22 installer run by hand picks BGP.
    The task sees the drift, uninstalls and reinstalls with the vxlan backend."""
    from kubernetes.aio import client as kclient

    async with Lab(windows=1) as lab:
        host, cluster = lab_blocks(lab)
        async with cluster.get_client() as api:  # the runbook's Felix edit, nothing more
            await kclient.CustomObjectsApi(api).patch_cluster_custom_object(
                "crd.projectcalico.org", "v1", "felixconfigurations", "default",
                {"spec": {"ipipEnabled": False, "vxlanEnabled": None}})
        with disable_run_logger():
            pre = await windows_prereqs.fn(host, cluster)
        async with host.open_session() as ps:  # the runbook, by hand
            await ps.run("New-Item", Path="c:\\k", ItemType="Directory", Force=True)
            await ps.copy_bytes(cluster.kubeconfig.get_secret_value().encode(), "c:\\k\\config")
            await ps.run("Invoke-WebRequest", Uri="https://github.com/projectcalico/calico/releases/download/"
                         "v3.22.1/install-calico-windows.ps1", OutFile="c:\\install-calico-windows.ps1",
                         UseBasicParsing=True)
            try:
                await ps.run("c:\\install-calico-windows.ps1", KubeVersion="1.22.6", ServiceCidr="10.96.0.0/12",
                             DNSServerIPs="10.96.0.10")
            except Exception:  # noqa: BLE001 - the HNS creation may cut this session; the install goes on
                await ps.reconnect()
            done, before = await wait_for_state(ps, lambda st: st.initialised and st.calico_running, timeout_s=60)
        assert done and before.config["CALICO_NETWORKING_BACKEND"] == "windows-bgp"
        assert before.status("CalicoConfd") == "Running"

        await reconfigure(cluster)
        with disable_run_logger():
            result = await install_calico_windows.fn(host, cluster, SETTINGS, host_facts=pre.host)
        assert any("uninstall-calico.ps1" in c for c in result.changes)
        assert "CALICO_NETWORKING_BACKEND is windows-bgp" in result.facts["calico_drift"]
        after = await calico_state(host)
        assert after.config["CALICO_NETWORKING_BACKEND"] == "vxlan"
        assert after.calico_running and after.status("CalicoConfd") != "Running"


async def test_stopped_calico_is_started_not_reinstalled():
    async with Lab(windows=1) as lab:
        host, cluster = lab_blocks(lab)
        node = lab.windows_host(NODE)
        await reconfigure(cluster)
        with disable_run_logger():
            pre = await windows_prereqs.fn(host, cluster)
            await install_calico_windows.fn(host, cluster, SETTINGS, host_facts=pre.host)
            async with host.open_session() as ps:
                await ps.run("Stop-Service", Name="CalicoFelix")
                await ps.run("Stop-Service", Name="CalicoNode")
            before = len(node.records.commands)
            result = await install_calico_windows.fn(host, cluster, SETTINGS, host_facts=pre.host)
        assert result.status == "changed"
        assert result.changes == ["Start-Service CalicoNode",
                                  "Start-Service CalicoFelix (after CalicoNode initialised)"]
        sent = [c.name for c in node.records.commands[before:] if c.changed]
        assert sent == ["Start-Service", "Start-Service"]
        assert (await calico_state(host)).calico_running


async def test_etcd_datastore_install_gets_the_etcd_endpoints():
    async with Lab("etcd", windows=1) as lab:
        host, cluster = lab_blocks(lab)
        with disable_run_logger():
            pre = await windows_prereqs.fn(host, cluster)
            result = await install_calico_windows.fn(host, cluster, SETTINGS, host_facts=pre.host)
        assert result.facts["datastore"] == "etcdv3"
        assert any("-Datastore etcdv3 -EtcdEndpoints http" in c for c in result.changes)
        state = await calico_state(host)
        assert state.config["CALICO_DATASTORE_TYPE"] == "etcdv3" and state.calico_running


async def test_prestaged_release_is_installed_without_downloading_calico():
    from lab.windows.installers.catalog import installer_script, release_zip
    from lab.windows.installers.releases import release

    async with Lab(windows=1) as lab:
        host, cluster = lab_blocks(lab)
        node = lab.windows_host(NODE)
        await reconfigure(cluster)
        async with host.open_session() as ps:  # what an admin copies to an air-gapped host beforehand
            await ps.copy_bytes(release_zip("3.22.1"), "c:\\calico-windows-v3.22.1.zip")
            await ps.copy_bytes(installer_script(release("3.22.1")).encode(), "c:\\install-calico-windows.ps1")
        settings = SETTINGS.model_copy(update={"install_source": "prestaged",
                                               "release_file": "c:\\calico-windows-v3.22.1.zip"})
        before = len(node.records.commands)
        with disable_run_logger():
            pre = await windows_prereqs.fn(host, cluster, settings)
            result = await install_calico_windows.fn(host, cluster, settings, host_facts=pre.host)
        sent = [c.name for c in node.records.commands[before:]]
        assert "Invoke-WebRequest" not in sent and "Copy-Item" in sent
        assert result.facts["install_source"] == "prestaged c:\\calico-windows-v3.22.1.zip"
        assert (await calico_state(host)).installed_version == "3.22.1"


async def test_basic_auth_over_https_and_plain_http_ntlm_hosts():
    """The other WinRM set-ups the block supports: Basic over HTTPS, and NTLM with message encryption over HTTP."""
    async with Lab(windows=0) as lab:
        await lab.add_windows_host("k8s-wb", auth="basic")
        await lab.add_windows_host("k8s-wh", https=False)
        for name in ("k8s-wb", "k8s-wh"):
            host, cluster = lab_blocks(lab, name)
            assert host.auth == ("basic" if name == "k8s-wb" else "ntlm")
            assert host.use_https == (name == "k8s-wb")
            with disable_run_logger():
                result = await windows_prereqs.fn(host, cluster)
            assert result.facts["node_name"] == name
