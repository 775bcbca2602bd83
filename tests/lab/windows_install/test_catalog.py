"""The download catalog, the release facts and config.ps1 — no lab needed."""

from __future__ import annotations

import pytest

from lab.clock import LabClock
from lab.windows.installers import catalog as cat
from lab.windows.installers.config import evaluate, replace_text, set_var
from lab.windows.installers.releases import CALICO_VERSIONS, release

GH = "https://github.com/projectcalico/calico/releases/download"


@pytest.mark.parametrize("version", CALICO_VERSIONS)
def test_every_release_serves_its_installer_and_zip(version):
    rel = release(version)
    script = cat.fetch(f"{GH}/v{version}/install-calico-windows.ps1").decode()
    assert cat.identify(script) == ("install-calico-windows", version)
    assert f'$ReleaseFile="calico-windows-v{version}.zip"' in script
    # the installer builds "$ReleaseBaseURL/$ReleaseFile" with a doubled slash; GitHub serves it anyway
    data = cat.fetch(f"{rel.release_base_url}/{rel.zip_name}")
    assert cat.zip_release_version(data) == version
    members = cat.zip_members(data)
    assert "CalicoWindows\\kubernetes\\install-kube-services.ps1" in members
    assert "CalicoWindows\\nssm-2.24\\win64\\nssm.exe" in members


def test_parameters_differ_by_release():
    def names(v):
        return [n for n, _ in release(v).installer_parameters()]
    assert "StartCalico" not in names("3.22.5") and "AutoCreateServiceAccountTokenSecret" not in names("3.22.5")
    assert "StartCalico" in names("3.23.5") and "AutoCreateServiceAccountTokenSecret" not in names("3.23.5")
    assert "AutoCreateServiceAccountTokenSecret" in names("3.24.6")
    assert dict(release("3.26.4").installer_parameters())["ServiceCidr"] == "10.96.0.0/12"
    assert dict(release("3.26.4").installer_parameters())["DNSServerIPs"] == "10.96.0.10"
    assert not release("3.22.5").reads_pools and release("3.23.5").reads_pools
    with pytest.raises(ValueError):
        release("3.20.0")


def test_generated_scripts_are_valid_powershell():
    ts = pytest.importorskip("tree_sitter")
    tsp = pytest.importorskip("tree_sitter_powershell")
    parser = ts.Parser(ts.Language(tsp.language()))
    texts = [cat.installer_script(release(v)) for v in ("3.22.5", "3.28.2")]
    texts += [m.decode() for p, m in cat.zip_members(cat.release_zip("3.22.5")).items() if p.endswith(".ps1")]
    for text in texts:
        assert not parser.parse(text.encode()).root_node.has_error, text[:200]


def test_kubernetes_node_binaries_by_version():
    data = cat.fetch("https://dl.k8s.io/v1.22.6/kubernetes-node-windows-amd64.tar.gz")
    members = cat.tarball_members(data)
    assert cat.binary_identity(members["kubernetes\\node\\bin\\kubelet.exe"]) == ("kubelet", "1.22.6")
    assert cat.fetch("https://dl.k8s.io/v1.22.99/kubernetes-node-windows-amd64.tar.gz") is None


def test_anything_else_fails_like_a_real_download():
    with pytest.raises(cat.DownloadError, match=r"\(404\) Not Found"):
        cat.DEFAULT_CATALOG.download(f"{GH}/v9.9.9/calico-windows-v9.9.9.zip")
    with pytest.raises(cat.DownloadError, match="The remote name could not be resolved: 'mirror.example'"):
        cat.DEFAULT_CATALOG.download("https://mirror.example/calico-windows-v3.22.5.zip")
    mirror = cat.Catalog()
    mirror.add("https://mirror.example/calico-windows-v3.22.5.zip", cat.release_zip("3.22.5"))
    assert cat.zip_release_version(mirror.download("https://mirror.example//calico-windows-v3.22.5.zip")) == "3.22.5"


def test_config_ps1_edits_and_evaluation_per_style():
    old = cat.config_template(release("3.22.5"))
    old = replace_text(old, "<your service cidr>", "10.96.0.0/12")
    old = replace_text(old, 'CALICO_NETWORKING_BACKEND="vxlan"', 'CALICO_NETWORKING_BACKEND="windows-bgp"')
    env = evaluate(old, hostname="K8S-WW", containerd_running=False)
    assert env["K8S_SERVICE_CIDR"] == "10.96.0.0/12"
    assert env["CALICO_NETWORKING_BACKEND"] == "windows-bgp"
    assert env["NODENAME"] == "k8s-ww" and env["CALICO_K8S_NODE_REF"] == "k8s-ww"
    assert env["CNI_BIN_DIR"] == "c:\\k\\cni" and env["VXLAN_VNI"] == "4096"
    assert env["KUBECONFIG"] == "C:\\CalicoWindows\\calico-kube-config"

    new = set_var(cat.config_template(release("3.26.4")), "DNS_NAME_SERVERS", "10.96.0.10")
    env = evaluate(new, hostname="K8S-WW", containerd_running=True, preset={"VXLAN_VNI": "4095", "PATH": "x"})
    assert env["DNS_NAME_SERVERS"] == "10.96.0.10"
    assert env["CNI_CONF_DIR"] == "C:\\Program Files\\containerd\\cni\\conf"
    assert env["VXLAN_VNI"] == "4095"       # Set-EnvVarIfNotSet keeps a machine env var
    assert "PATH" not in env


def test_windows_node_runtime_refuses_images_of_another_os_build():
    from lab.windows.host import WindowsHost
    from lab.windows.installers.calico_services import CalicoServices
    from lab.windows.installers.runtime import HostRuntime
    from lab.windows.kubelet import attach_kubelet

    host = WindowsHost.create(name="K8S-WW", build=17763, clock=LabClock(0.001))
    rt = HostRuntime(host)
    rt.calico = CalicoServices(rt)
    runtime = attach_kubelet(rt).runtime

    def pod(image):
        return {"metadata": {"uid": "u1", "name": "iis"}, "spec": {"containers": [{"name": "iis", "image": image}]}}
    assert runtime.pod_start_error(pod("mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2019")) \
        is None
    err = runtime.pod_start_error(pod("mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022"))
    assert err.endswith("The container operating system does not match the host operating system.: unknown")
    assert runtime.requires_strict_affinity() is True
    assert runtime.cni_ready() == (False, "Network plugin returns error: cni plugin not initialized")
    assert runtime.policy_enforced() is False and runtime.overlay() is None
    assert runtime.node_name == "k8s-ww" and runtime.os == "windows"
