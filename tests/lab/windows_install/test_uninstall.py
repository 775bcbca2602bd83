"""uninstall-calico.ps1 and uninstall-kube-services.ps1 remove what the documentation says, and nothing more."""

from __future__ import annotations

from lab.windows.installers.runtime import CALICO_REG_KEY

from .conftest import run_installer, runbook_calico_steps, stage_runbook_files

KUBE = "C:\\CalicoWindows\\kubernetes\\"


async def test_uninstall_removes_services_and_cni_files_but_leaves_networks_rules_and_registry(lab, node, remote):
    runbook_calico_steps(lab, vxlan_enabled=True)
    await stage_runbook_files(lab, node, remote, "3.22.5")
    run = await run_installer(remote, node, KubeVersion="1.22.6")
    assert run.failure is None
    assert node.host.fs.is_file("c:\\k\\cni\\config\\10-calico.conf")
    r = await remote.run(KUBE + "install-kube-services.ps1")
    assert not r.had_errors, r.errors

    r = await remote.run(KUBE + "uninstall-kube-services.ps1", service="kube-proxy")
    assert not r.had_errors, r.errors
    assert node.host.service("kube-proxy") is None and node.host.service("kubelet") is not None
    r = await remote.run(KUBE + "install-kube-services.ps1", service="kubelets")
    assert r.information == ["Invalid -service value. Valid values are: 'kubelet' or 'kube-proxy'"]

    r = await remote.run("C:\\CalicoWindows\\uninstall-calico.ps1")
    assert not r.had_errors, r.errors
    assert r.information[-1] == "Done."
    assert 'Service "CalicoNode" removed successfully!' in [str(o) for o in r.output]
    assert node.host.service("CalicoNode") is None and node.host.service("CalicoFelix") is None
    assert not node.host.fs.exists("c:\\k\\cni\\config\\10-calico.conf")
    assert not node.host.fs.glob("c:\\k\\cni\\calico*.exe")
    # what it leaves behind
    assert node.host.hns.network("External") is not None
    assert node.host.firewall_rule("KubectlExec10250") is not None
    assert node.host.registry.try_get_value(CALICO_REG_KEY, "LastBootTime") == node.host.boot_time_text()
    assert node.host.fs.is_dir("C:\\CalicoWindows")

    # with Calico gone the installer runs again from scratch (no re-run guard)
    run = await run_installer(remote, node, KubeVersion="1.22.6")
    assert run.failure is None and not run.dropped      # the vSwitch already exists
    assert "Unzip Calico for Windows release..." in run.text()
    assert node.host.service("CalicoNode").status == "Running"
