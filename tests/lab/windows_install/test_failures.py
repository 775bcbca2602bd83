"""The installers' failure behaviours, through pypsrp: re-run guard, VNI < 4096, IPIP, the WinRM drop while the
vSwitch is created, unknown parameters, a 3.22 installer on Kubernetes ≥ 1.24, and kubelet with a bad credential."""

from __future__ import annotations

from lab.windows.installers.runtime import runtime_for

from .conftest import (INSTALLER_PATH, Remote, run_installer, runbook_calico_steps, stage_runbook_files,
                       wait_file_contains, wait_node)

INSTALL_CALICO = "C:\\CalicoWindows\\install-calico.ps1"


async def test_rerun_while_calico_runs_prints_the_guard_and_changes_nothing(lab, node, remote):
    runbook_calico_steps(lab, vxlan_enabled=True)
    await stage_runbook_files(lab, node, remote, "3.26.4")
    first = await run_installer(remote, node, KubeVersion="1.22.6", CalicoBackend="vxlan")
    assert first.failure is None and "Done, the Calico services are running:" in first.lines
    node.host.fs.write_text("C:\\CalicoWindows\\marker.txt", "still here")
    config_before = node.host.fs.read_text("C:\\CalicoWindows\\config.ps1")

    again = await remote.run(INSTALLER_PATH, KubeVersion="1.22.6", CalicoBackend="vxlan")
    assert not again.had_errors and not again.errors, again.errors
    assert again.information[-1] == (
        "Calico services are still running. In order to re-run the installation script, stop the CalicoNode and "
        "CalicoFelix services or uninstall them by running: c:\\CalicoWindows\\uninstall-calico.ps1")
    assert "Unzip Calico for Windows release..." not in again.text()
    assert node.host.fs.read_text("C:\\CalicoWindows\\marker.txt") == "still here"
    assert node.host.fs.read_text("C:\\CalicoWindows\\config.ps1") == config_before
    assert runtime_for(node.host).last_exit_code == 0


async def test_vni_below_4096_stops_install_calico_with_exit_1(lab, node, remote):
    runbook_calico_steps(lab, vxlan_enabled=True)
    await stage_runbook_files(lab, node, remote, "3.22.5")
    r = await remote.run(INSTALLER_PATH, KubeVersion="1.22.6", DownloadOnly="yes")
    assert not r.had_errors
    assert "Downloaded Calico for Windows. Update c:\\CalicoWindows\\config.ps1" in r.text()
    cfg = "C:\\CalicoWindows\\config.ps1"
    node.host.fs.write_text(cfg, node.host.fs.read_text(cfg).replace("$env:VXLAN_VNI = 4096", "$env:VXLAN_VNI = 4000"))

    r = await remote.run(INSTALL_CALICO)
    assert not r.had_errors, r.errors
    assert r.information[-1] == "Windows does not support VXLANVNI < 4096."
    assert runtime_for(node.host).last_exit_code == 1
    assert node.host.service("CalicoNode").status == "Stopped"
    assert node.host.hns.network("External") is None


async def test_ipip_enabled_in_felix_makes_the_installer_throw(lab, node, remote):
    # The runbook's starting state: IPIP pool, Felix ipipEnabled true.
    await stage_runbook_files(lab, node, remote, "3.22.5")
    r = await remote.run(INSTALLER_PATH, KubeVersion="1.22.6")
    assert r.had_errors
    failure = r.raw.streams.error[-1]
    assert str(failure) == "Calico on Linux has IPIP enabled. IPIP is not supported on Windows nodes."
    assert node.host.service("CalicoNode") is None


async def test_323_installer_refuses_ipip_pools_when_felix_says_nothing(lab, node, remote):
    def no_ipip_field(obj: dict) -> None:
        obj["spec"].pop("ipipEnabled", None)
    lab.kube.store.mutate(lab.kube.registry.get("crd.projectcalico.org", "felixconfigurations"), None, "default",
                          no_ipip_field)
    await stage_runbook_files(lab, node, remote, "3.23.5")
    r = await remote.run(INSTALLER_PATH, KubeVersion="1.22.6")
    assert r.had_errors
    assert "Failed to auto detect backend type. IPIP is not supported on Windows nodes" in str(
        r.raw.streams.error[-1])


async def test_explicit_backend_wins_over_ipip_detection(lab, node, remote):
    await stage_runbook_files(lab, node, remote, "3.22.5")
    run = await run_installer(remote, node, KubeVersion="1.22.6", CalicoBackend="vxlan")
    assert run.failure is None and "Backend networking is vxlan" in run.text()


async def test_unknown_parameter_is_powershells_binding_error(lab, node, remote):
    await stage_runbook_files(lab, node, remote, "3.22.5")
    r = await remote.run(INSTALLER_PATH, StartCalico="yes")   # a 3.23+ parameter
    assert r.had_errors
    assert str(r.raw.streams.error[-1]) == "A parameter cannot be found that matches parameter name 'StartCalico'."
    assert not node.host.fs.exists("C:\\CalicoWindows")


async def test_vswitch_creation_drops_the_winrm_connection_once_and_the_install_completes(lab, node, remote):
    runbook_calico_steps(lab, vxlan_enabled=True)
    await stage_runbook_files(lab, node, remote, "3.26.4")
    dropped_before = node.server.records.dropped
    run = await run_installer(remote, node, KubeVersion="1.22.6", CalicoBackend="vxlan")
    assert run.dropped and run.result is None
    assert node.server.records.dropped > dropped_before
    assert run.failure is None and run.exit_code == 0
    assert "Start creating vSwitch. Note: Connection may get lost for RDP, please reconnect..." in \
        node.host.fs.read_text("C:\\CalicoWindows\\logs\\calico-node.log")
    # a new session sees the result
    r = await Remote(node).run("Get-Service", Name="Calico*")
    assert sorted((o.adapted_properties | o.extended_properties)["Name"] for o in r.output) == [
        "CalicoFelix", "CalicoNode"]
    # the vSwitch exists now: uninstalling and installing again does not drop the session
    r = await remote.run("C:\\CalicoWindows\\uninstall-calico.ps1")
    assert not r.had_errors, r.errors
    dropped = node.server.records.dropped
    again = await run_installer(remote, node, KubeVersion="1.22.6", CalicoBackend="vxlan")
    assert not again.dropped and again.failure is None
    assert node.server.records.dropped == dropped
    assert "Done, the Calico services are running:" in again.result.text()


async def test_322_installer_on_kubernetes_124_has_no_calico_node_token(tmp_path):
    from lab.world import Lab

    from .conftest import TIME_SCALE

    async with Lab("k8s-1.30", tmp_path, time_scale=TIME_SCALE, ssh=False) as lab:
        node = await lab.add_windows_host(runtime="containerd")
        remote = Remote(node)
        runbook_calico_steps(lab, vxlan_enabled=True)
        await stage_runbook_files(lab, node, remote, "3.22.5")
        r = await remote.run(INSTALLER_PATH, KubeVersion="1.30.2")
        assert r.had_errors
        assert str(r.raw.streams.error[-1]) == "calico-node service account does not exist."

        await stage_runbook_files(lab, node, remote, "3.28.2")
        node.host.fs.remove("C:\\calico-windows.zip")
        run = await run_installer(remote, node, KubeVersion="1.30.2", CalicoBackend="vxlan")
        assert run.failure is None, run.failure
        secret = lab.kube.store.get(lab.kube.registry.get("", "secrets"), "kube-system", "calico-node-token")
        assert secret["type"] == "kubernetes.io/service-account-token"


async def test_expired_credential_in_k_config_registers_no_node_and_kubelet_says_why(lab, node, remote):
    runbook_calico_steps(lab, vxlan_enabled=True)
    await stage_runbook_files(lab, node, remote, "3.22.5")
    run = await run_installer(remote, node, KubeVersion="1.22.6")
    assert run.failure is None
    await remote.run("C:\\CalicoWindows\\kubernetes\\install-kube-services.ps1", service="kubelet")

    # c:\k\config now holds a short-lived service-account token, and that token expires.
    kube = lab.kube
    sa = kube.store.get(kube.registry.get("", "serviceaccounts"), "kube-system", "default")
    token, _exp = kube.authn.token_request(sa, {"expirationSeconds": 600})
    text = kube.kubeconfig_path.read_text().replace(kube.admin_token, token)
    assert token in text
    node.host.fs.write_text("c:\\k\\config", text)
    real_now = kube.authn.now
    kube.authn.now = lambda: real_now() + 3600

    r = await remote.run("Start-Service", Name="kubelet")
    assert not r.had_errors and not r.errors, r.errors
    text = await wait_file_contains(node.host, "C:\\k\\kubelet.err.log", "Unauthorized")
    assert '"Unable to register node with API server" err="Unauthorized" node="k8s-ww"' in text
    assert kube.store.try_get(kube.registry.get("", "nodes"), None, "k8s-ww") is None

    # the credential is fixed: the node registers
    node.host.fs.write_text("c:\\k\\config", kube.kubeconfig_path.read_text())
    await wait_node(lab, "k8s-ww", lambda n: True)
