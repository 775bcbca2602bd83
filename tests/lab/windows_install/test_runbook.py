"""The runbook replayed on one emulated host through pypsrp and the cluster's API (issue 3 acceptance)."""

from __future__ import annotations

from lab.windows.installers.runtime import CALICO_REG_KEY, runtime_for

from .conftest import (node_condition, ready_status, run_installer, runbook_calico_steps, set_strict_affinity,
                       set_vxlan_enabled, stage_runbook_files, wait_file_contains, wait_node)

INSTALL_KUBE_SERVICES = "C:\\CalicoWindows\\kubernetes\\install-kube-services.ps1"


def _status(obj) -> str:
    props = {**getattr(obj, "adapted_properties", {}), **getattr(obj, "extended_properties", {})}
    return str(props.get("Status"))


async def _statuses(remote, *names: str) -> dict[str, str]:
    out = {}
    for n in names:
        r = await remote.run("Get-Service", Name=n)
        assert not r.had_errors and not r.errors, (n, r.errors)
        out[n] = _status(r.output[0])
    return out


async def test_runbook_with_vxlan_enabled_ends_with_a_ready_windows_node(lab, node, remote):
    runbook_calico_steps(lab, vxlan_enabled=True)
    await stage_runbook_files(lab, node, remote, "3.22.5")

    run = await run_installer(remote, node, KubeVersion="1.22.6", ServiceCidr="10.96.0.0/12",
                              DNSServerIPs="10.96.0.10")
    # creating the vSwitch dropped the WinRM connection; the script finished on the host
    assert run.dropped and run.failure is None and run.exit_code == 0
    text = run.text()
    assert "Backend networking is vxlan" in text
    assert "Waiting for Calico initialisation to finish...StoredLastBootTime , CurrentLastBootTime" in text
    assert text.index("Calico initialisation finished.") < text.index("Calico for Windows Started")
    assert await _statuses(remote, "CalicoNode", "CalicoFelix") == {"CalicoNode": "Running",
                                                                    "CalicoFelix": "Running"}
    assert node.host.firewall_rule("KubectlExec10250") is not None
    assert node.host.hns.network("External").type == "Overlay"
    assert node.host.registry.get_value(CALICO_REG_KEY, "LastBootTime") == node.host.boot_time_text()

    r = await remote.run(INSTALL_KUBE_SERVICES)
    assert not r.had_errors, r.errors
    assert 'Service "kubelet" installed successfully!' in [str(o) for o in r.output]
    assert 'Set parameter "AppStderr" for service "kubelet".' in [str(o) for o in r.output]
    assert await _statuses(remote, "kubelet", "kube-proxy") == {"kubelet": "Stopped", "kube-proxy": "Stopped"}

    for svc in ("kubelet", "kube-proxy"):
        r = await remote.run("Start-Service", Name=svc)
        assert not r.had_errors and not r.errors, r.errors
    assert await _statuses(remote, "kubelet", "kube-proxy") == {"kubelet": "Running", "kube-proxy": "Running"}

    ready = await wait_node(lab, "k8s-ww", lambda n: ready_status(n) == "True")
    info = ready["status"]["nodeInfo"]
    assert info["osImage"] == "Windows Server 2019 Datacenter Evaluation"
    assert info["kernelVersion"] == "10.0.17763.1999"
    assert info["kubeletVersion"] == "v1.22.6"
    assert info["containerRuntimeVersion"] == "docker://20.10.9"
    labels = ready["metadata"]["labels"]
    assert labels["kubernetes.io/os"] == "windows"
    assert labels["node.kubernetes.io/windows-build"] == "10.0.17763"
    assert {"type": "InternalIP", "address": "172.16.3.172"} in ready["status"]["addresses"]
    assert node.host.hns.endpoint("Calico_ep") is not None
    assert runtime_for(node.host).kubelet.proxy_ready


async def test_node_is_ready_only_once_vxlan_is_enabled_and_strict_affinity_is_on(lab, node, remote):
    runbook_calico_steps(lab, vxlan_enabled=False, strict_affinity=False)
    await stage_runbook_files(lab, node, remote, "3.22.5")
    run = await run_installer(remote, node, KubeVersion="1.22.6", CalicoBackend="vxlan")
    assert run.failure is None and "Backend networking is vxlan" in run.text()
    await remote.run(INSTALL_KUBE_SERVICES)
    await remote.run("Start-Service", Name="kubelet")

    not_ready = await wait_node(lab, "k8s-ww", lambda n: ready_status(n) == "False")
    assert "container runtime network not ready" in node_condition(not_ready)["message"]
    assert "cni config uninitialized" in node_condition(not_ready)["message"]
    await wait_file_contains(node.host, "C:\\CalicoWindows\\logs\\calico-node.err.log",
                             "global strict affinity should not be false for Windows node")

    set_strict_affinity(lab, True)
    kubelet = runtime_for(node.host).kubelet
    await wait_node(lab, "k8s-ww", lambda n: runtime_for(node.host).calico.startup_ok)
    kubelet.poke()
    assert "vxlanEnabled" in (kubelet.cni_problem() or "")
    assert ready_status(lab.kube.store.get(lab.kube.registry.get("", "nodes"), None, "k8s-ww")) == "False"

    set_vxlan_enabled(lab)
    kubelet.poke()
    await wait_node(lab, "k8s-ww", lambda n: ready_status(n) == "True")


async def test_runbook_calico_steps_with_a_322_installer_end_with_bgp(lab, node, remote):
    """calico#6996: the runbook never sets vxlanEnabled, so the 3.22 installer picks BGP."""
    runbook_calico_steps(lab, vxlan_enabled=False)
    await stage_runbook_files(lab, node, remote, "3.22.5")
    run = await run_installer(remote, node, KubeVersion="1.22.6")
    assert run.failure is None and run.dropped
    assert "Backend networking is bgp" in run.text()
    assert "Calico for Windows Started" in run.text()
    assert runtime_for(node.host).calico.config()["CALICO_NETWORKING_BACKEND"] == "windows-bgp"
    assert await _statuses(remote, "CalicoNode", "CalicoFelix", "CalicoConfd") == {
        "CalicoNode": "Running", "CalicoFelix": "Running", "CalicoConfd": "Running"}
    assert node.host.hns.network("External").type == "L2Bridge"

    await remote.run(INSTALL_KUBE_SERVICES)
    await remote.run("Start-Service", Name="kubelet")
    not_ready = await wait_node(lab, "k8s-ww", lambda n: ready_status(n) == "False")
    assert not_ready["status"]["nodeInfo"]["osImage"] == "Windows Server 2019 Datacenter Evaluation"
    assert "not vxlan" in runtime_for(node.host).kubelet.cni_problem()


async def test_same_steps_with_a_323_installer_read_the_pools_and_choose_vxlan(lab, node, remote):
    runbook_calico_steps(lab, vxlan_enabled=False)
    await stage_runbook_files(lab, node, remote, "3.23.5")
    run = await run_installer(remote, node, KubeVersion="1.22.6")
    assert run.failure is None and run.exit_code == 0
    assert "Backend networking is vxlan" in run.text()
    assert "\nCalico for Windows installed\n" in run.lines
    assert "Done, the Calico services are running:" in run.lines
    assert node.host.service("CalicoConfd") is None


async def test_kubelet_registers_with_a_node_client_certificate(lab, node, remote):
    """The least-privilege path: c:\\k\\config holds a `system:node:k8s-ww` client certificate, not the admin
    token; kubelet registers and updates its Node with it."""
    runbook_calico_steps(lab, vxlan_enabled=True)
    await stage_runbook_files(lab, node, remote, "3.22.5")
    run = await run_installer(remote, node, KubeVersion="1.22.6")
    assert run.failure is None
    cert, key = lab.ca.issue_client_cert("system:node:k8s-ww", ["system:nodes"])
    kubeconfig = lab.kube.kubeconfig(user="system:node:k8s-ww", client_cert=(cert, key))
    assert lab.kube.admin_token not in kubeconfig
    await remote.copy(kubeconfig.encode(), "c:\\k\\config")
    await remote.run(INSTALL_KUBE_SERVICES)
    await remote.run("Start-Service", Name="kubelet")
    await wait_node(lab, "k8s-ww", lambda n: ready_status(n) == "True")
    users = {e.user for e in lab.kube.requests.entries if e.resource == "nodes" and e.verb in ("create", "patch")}
    assert users == {"system:node:k8s-ww"}


async def test_after_a_reboot_calico_reinitialises_and_the_node_comes_back(lab, node, remote):
    runbook_calico_steps(lab, vxlan_enabled=True)
    await stage_runbook_files(lab, node, remote, "3.22.5")
    assert (await run_installer(remote, node, KubeVersion="1.22.6")).failure is None
    await remote.run(INSTALL_KUBE_SERVICES)
    await remote.run("Start-Service", Name="kubelet")
    await remote.run("Start-Service", Name="kube-proxy")
    await wait_node(lab, "k8s-ww", lambda n: ready_status(n) == "True")
    old_boot = node.host.boot_time_text()
    calico = runtime_for(node.host).calico

    await node.host.reboot()
    assert node.host.boot_time_text() != old_boot
    # every service is Automatic (nssm SERVICE_AUTO_START): CalicoNode runs its first-boot path again, kubelet
    # finds its Node already registered, and CalicoNode's startup recreates the pod network.
    await wait_node(lab, "k8s-ww", lambda n: calico.startup_ok and calico.initialised()
                    and node.host.hns.network("Calico") is not None)
    assert node.host.hns.network("External") is not None
    assert {s: node.host.service(s).status for s in ("CalicoNode", "CalicoFelix", "kubelet", "kube-proxy")} == {
        "CalicoNode": "Running", "CalicoFelix": "Running", "kubelet": "Running", "kube-proxy": "Running"}
    assert ready_status(lab.kube.store.get(lab.kube.registry.get("", "nodes"), None, "k8s-ww")) == "True"
