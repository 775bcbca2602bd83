"""install-calico-windows.ps1, install-calico.ps1 and uninstall-calico.ps1, step by step as the real scripts run.

The behaviour follows the release the script text carries (see releases.py): its parameters, where the Kubernetes
binaries are prepared, how the backend is chosen, whether it starts the services itself, what it prints, and
whether errors stop it. The zip that gets extracted decides what `install-calico.ps1` does (a pre-staged
`c:\\calico-windows.zip` is used as-is, whatever its version). Every cluster read is a real API call with the
credential in `c:\\k\\config` (then the calico-node token in `C:\\CalicoWindows\\calico-kube-config`).
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

from lab.windows.dispatch import ErrorRecord, PipelineFailed
from lab.windows.host import FirewallRule, ServiceError

from . import config as cfgmod
from .calico_services import wait_for_calico_init
from .catalog import (CALICO_KUBECONFIG_TEMPLATE, SDN_HELPER_URL, SDN_HELPER_V2_URL, SDN_HNS_URL, DownloadError,
                      identify, tarball_members, zip_members, zip_release_version)
from .kubectl import Kubectl, b64decode_text, not_recognized
from .nssm import NSSM_REL_PATH, Nssm, emit
from .releases import CALICO_VERSIONS, CalicoRelease, release
from .runtime import (CALICO_ROOT, CALICO_ZIP, KUBE_DIR, HostRuntime, ScriptExit, ScriptIO, method_exception,
                      service_object, throw)

POWERSHELL = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
PAUSE_IMAGE = "mcr.microsoft.com/oss/kubernetes/pause:3.6"
TEMP_DIR = "C:\\Users\\Administrator\\AppData\\Local\\Temp"
SEVEN_ZIP_MODULE = "C:\\Users\\Administrator\\Documents\\WindowsPowerShell\\Modules\\7Zip4PowerShell"

# extracted file → logical size on disk (the real release is ~200 MB unpacked)
_LOGICAL_SIZES = {"calico-node.exe": 92 << 20, "calico.exe": 48 << 20, "calico-ipam.exe": 46 << 20,
                  "nssm.exe": 360_000, "kubelet.exe": 118 << 20, "kube-proxy.exe": 46 << 20,
                  "kubeadm.exe": 44 << 20, "kubectl.exe": 46 << 20}


def ps_str(value: Any) -> str:
    """How PowerShell turns a parameter value into a string ("$x")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (list, tuple)):
        return " ".join(ps_str(v) for v in value)
    return str(value)


def ps_eq(a: Any, b: str) -> bool:
    """`$a -EQ "b"` (case-insensitive string comparison)."""
    return ps_str(a).lower() == b.lower()


def _extract(rt: HostRuntime, members: dict[str, bytes], dest_root: str) -> None:
    fs = rt.host.fs
    for path, data in members.items():
        target = dest_root.rstrip("\\") + "\\" + path
        name = path.rsplit("\\", 1)[-1].lower()
        fs.write_bytes(target, data, logical_size=_LOGICAL_SIZES.get(name), create_parents=True)


class Installer:
    """One run of install-calico-windows.ps1 for `rel` with bound `params`."""

    def __init__(self, rt: HostRuntime, rel: CalicoRelease, params: dict[str, Any], io: ScriptIO) -> None:
        self.rt = rt
        self.host = rt.host
        self.rel = rel
        self.p = {name: ps_str(params.get(name, default)) for name, default in rel.installer_parameters()}
        self.io = io
        self.helpers_loaded = False
        self.backend = ""

    # ---- the script -------------------------------------------------------------------------------------------
    async def run(self) -> int:
        """Run to the end; returns the exit code (PipelineFailed for a terminating error)."""
        try:
            await self._main()
        except ScriptExit as exc:
            return exc.code
        return self.rt.last_exit_code

    async def _main(self) -> None:
        io, rel, p, fs = self.io, self.rel, self.p, self.host.fs
        self.rt.last_exit_code = 0
        fs.mkdir(KUBE_DIR)
        await self._load_helpers()
        if not fs.exists(CALICO_ZIP):
            io.host(f"{CALICO_ZIP.lower()} not found, downloading Calico for Windows release...")
            await self._download_file(f"{p['ReleaseBaseURL']}/{p['ReleaseFile']}", "c:\\calico-windows.zip")
        platform = await self._platform()
        if not rel.reads_pools and p["KubeVersion"] and platform != "eks":
            await self._prepare_kubernetes()
        if self._calico_running():
            io.host("Calico services are still running. In order to re-run the installation script, stop the "
                    "CalicoNode and CalicoFelix services or uninstall them by running: "
                    "c:\\CalicoWindows\\uninstall-calico.ps1")
            raise ScriptExit(0)
        if fs.exists(CALICO_ROOT):
            fs.remove(CALICO_ROOT, recurse=True)
        io.host("Unzip Calico for Windows release...")
        zip_rel = self._expand_zip()
        if rel.reads_pools and p["KubeVersion"] and platform != "eks":
            await self._prepare_kubernetes()
        io.host("Setup Calico for Windows...")
        self._set_config("CALICO_DATASTORE_TYPE", p["Datastore"], "<your datastore type>", zip_rel)
        self._set_config("ETCD_ENDPOINTS", p["EtcdEndpoints"], "<your etcd endpoints>", zip_rel)
        if p["EtcdTlsSecretName"]:
            ns = await self._calico_namespace()
            await self._etcd_tls(ns, p["EtcdTlsSecretName"])
        self._set_config("ETCD_KEY_FILE", p["EtcdKey"], "<your etcd key>", zip_rel)
        self._set_config("ETCD_CERT_FILE", p["EtcdCert"], "<your etcd cert>", zip_rel)
        self._set_config("ETCD_CA_CERT_FILE", p["EtcdCaCert"], "<your etcd ca cert>", zip_rel)
        self._set_config("K8S_SERVICE_CIDR", p["ServiceCidr"], "<your service cidr>", zip_rel)
        self._set_config("DNS_NAME_SERVERS", p["DNSServerIPs"], "<your dns server ips>", zip_rel)

        if platform == "aks":
            io.host("Setup Calico for Windows for AKS...")
            self.backend = "none"
            self._set_backend_config("none", zip_rel)
            await self._calico_kube_config("calico-system")
        else:  # bare-metal (the lab has no cloud metadata servers)
            ns = await self._calico_namespace()
            await self._calico_kube_config(ns)
            self.backend = await self._backend_type(ns)
            io.host(f"Backend networking is {self.backend}")
            if ps_eq(self.backend, "bgp"):
                self._set_backend_config("windows-bgp", zip_rel)

        if ps_eq(p["DownloadOnly"], "yes"):
            if rel.installer_starts_services:
                io.host("Downloaded Calico for Windows installation zip file.")
            else:
                io.host("Downloaded Calico for Windows. Update c:\\CalicoWindows\\config.ps1 and run "
                        "c:\\CalicoWindows\\install-calico.ps1")
            raise ScriptExit(0)

        if rel.installer_starts_services:
            io.host("\nStart Calico for Windows install...\n")
            await self._child(run_install_calico(self.rt, io))
            io.host("\nCalico for Windows installed\n")
            if ps_eq(p["StartCalico"], "yes"):
                await start_calico(self.rt, io)
        else:
            io.host("\nStart Calico for Windows...\n")
            await self._child(run_install_calico(self.rt, io))
            io.host("\nCalico for Windows Started\n")

        if not ps_eq(self.backend, "none") and self.host.firewall_rule("KubectlExec10250") is None:
            self.host.add_firewall_rule(FirewallRule("KubectlExec10250", "kubectl exec 10250", protocol="TCP",
                                                     local_port="10250"))

    async def _child(self, coro: Any) -> None:
        """`.\\install-calico.ps1` from the outer script: its `exit N` ends only it ($LASTEXITCODE = N)."""
        try:
            await coro
        except ScriptExit as exc:
            self.rt.last_exit_code = exc.code

    # ---- steps ------------------------------------------------------------------------------------------------
    async def _load_helpers(self) -> None:
        fs = self.host.fs
        helpers = ((SDN_HELPER_URL, KUBE_DIR + "\\helper.psm1"), (SDN_HELPER_V2_URL, KUBE_DIR + "\\helper.v2.psm1"))
        for url, path in helpers:
            if not fs.exists(path):
                try:
                    await self.rt.download(url, path)
                except DownloadError as exc:
                    self.io.error(_iwr_error(exc))
        missing = [p for p in (KUBE_DIR + "\\helper.psm1", KUBE_DIR + "\\helper.v2.psm1") if not fs.is_file(p)]
        for path in missing:
            self.io.error(ErrorRecord(
                message=(f"The specified module '{path.lower()}' was not loaded because no valid module file was "
                         f"found in any module directory."), category="ResourceUnavailable",
                fqid="Modules_ModuleNotFound,Microsoft.PowerShell.Commands.ImportModuleCommand",
                exception_type="System.IO.FileNotFoundException", target=path))
        self.helpers_loaded = not missing

    async def _download_file(self, url: str, destination: str, *, force: bool = False) -> bool:
        """helper.v2.psm1's `DownloadFile`: skip an existing file, else download; a failure writes
        "Failed to download <url>" and rethrows WebClient's exception."""
        if not self.helpers_loaded:
            self.io.error(_not_recognized("DownloadFile"))
            return False
        if not force and self.host.fs.exists(destination):
            self.io.host(f"[DownloadFile] File {destination} already exists.")
            return True
        try:
            await self.rt.download(url, destination)
        except DownloadError as exc:
            self.io.error(ErrorRecord(message=f"Failed to download {url}", category="NotSpecified",
                                      fqid="Microsoft.PowerShell.Commands.WriteErrorException,DownloadFile",
                                      exception_type="Microsoft.PowerShell.Commands.WriteErrorException"))
            raise method_exception("DownloadFile", 2, exc.message) from None
        self.io.host(f"Downloaded [{url}] => [{destination}]")
        return True

    async def _platform(self) -> str:
        hns = self.host.hns
        if any(n.name == "azure" for n in hns.networks):
            return "aks"
        if any(n.name.lower().startswith("vpcbr") for n in hns.networks):
            return "eks"
        # The EC2 and GCE metadata probes fail on a bare-metal host; the failures are caught by the script.
        await self.host.delay("metadata", 2.0)
        return "bare-metal"

    async def _prepare_kubernetes(self) -> None:
        io, fs, version = self.io, self.host.fs, self.p["KubeVersion"]
        io.host("Creating CNI directory")
        fs.mkdir(KUBE_DIR + "\\cni\\config")
        io.host("Downloading Windows Kubernetes scripts")
        await self._download_file(SDN_HNS_URL, KUBE_DIR + "\\hns.psm1")
        if not fs.is_dir(SEVEN_ZIP_MODULE):
            io.verbose("Using the provider 'PowerShellGet' for searching packages.")
            io.verbose("Installing package '7Zip4PowerShell'.")
            await self.host.delay("download", 2.0)
            fs.mkdir(SEVEN_ZIP_MODULE)
        # helper.v2's InstallKubernetesBinaries puts the "v" in front itself: "-KubeVersion v1.22.6" is a 404.
        url = f"https://dl.k8s.io/v{version}/kubernetes-node-windows-amd64.tar.gz"
        tmp = f"{TEMP_DIR}\\tmp{zlib.crc32(url.encode()) % 0xFFFF:X}.tar.gz"
        if not await self._download_file(url, tmp, force=True):
            return
        data = fs.read_bytes(tmp)
        fs.remove(tmp)
        try:
            members = tarball_members(data)
        except Exception:  # noqa: BLE001 - a corrupt archive: 7-Zip's error
            self.io.error(ErrorRecord(message="Can not open the file as archive", category="NotSpecified",
                                      fqid="System.Exception", exception_type="System.Exception"))
            return
        _extract(self.rt, members, KUBE_DIR)
        for path, payload in members.items():
            if path.lower().startswith("kubernetes\\node\\bin\\") and path.lower().endswith(".exe"):
                name = path.rsplit("\\", 1)[-1]
                fs.write_bytes(f"{KUBE_DIR}\\{name}", payload, logical_size=_LOGICAL_SIZES.get(name.lower()))
        if self.rel.pulls_pause_image_for_docker and not self.rt.service_running("containerd"):
            svc = self.host.service("docker")
            if svc is None:
                io.host("Docker service is not installed. Cannot prepare kubernetes pause image.")
                raise ScriptExit(1)
            if svc.status != "Running":
                io.host("Docker service is not running. Cannot prepare kubernetes pause image. Run "
                        "'Start-Service docker' and try again.")
                raise ScriptExit(1)
            await self.host.delay("image_pull", 8.0)
            digest = "sha256:3d380ca8864549e74af4b29c10f9cb0956236dfb01c40ca076fb6c37253234db"
            for line in ("3.6: Pulling from oss/kubernetes/pause", f"Digest: {digest}",
                         f"Status: Downloaded newer image for {PAUSE_IMAGE}", PAUSE_IMAGE):
                io.output(line)
            for image in (PAUSE_IMAGE, "kubeletwin/pause:latest"):
                if image not in self.host.runtime.images:
                    self.host.runtime.images.append(image)

    def _calico_running(self) -> bool:
        """`Get-Service -exclude 'CalicoUpgrade' | where Name -Like 'Calico*' | where Status -EQ Running`."""
        for svc in self.host.services.values():
            if svc.name.lower().startswith("calico") and svc.name.lower() != "calicoupgrade":
                if svc.status == "Running":
                    return True
        return False

    def _expand_zip(self) -> CalicoRelease:
        fs = self.host.fs
        if not fs.is_file(CALICO_ZIP):
            raise PipelineFailed(ErrorRecord(
                message=(f"The path '{CALICO_ZIP.lower()}' either does not exist or is not a valid file system "
                         f"path."), category="InvalidArgument", fqid="ArchiveCmdletPathNotFound,Expand-Archive",
                exception_type="System.InvalidOperationException", target=CALICO_ZIP.lower()))
        data = fs.read_bytes(CALICO_ZIP)
        version = zip_release_version(data)
        try:
            members = zip_members(data)
        except Exception:  # noqa: BLE001 - not a zip archive
            members = None
        if members is None or version is None or version not in CALICO_VERSIONS:
            raise PipelineFailed(ErrorRecord(
                message=('New-Object : Exception calling ".ctor" with "3" argument(s): "End of Central Directory '
                         'record could not be found."'), category="InvalidArgument",
                fqid="InvalidArchiveFile,Expand-Archive", exception_type="System.IO.InvalidDataException"))
        _extract(self.rt, members, "C:\\")
        self.host.drop_point("extract")
        return release(version)

    def _config_text(self) -> str:
        return self.host.fs.read_text(CALICO_ROOT + "\\config.ps1")

    def _set_config(self, var: str, value: str, placeholder: str, zip_rel: CalicoRelease) -> None:
        text = self._config_text()
        if zip_rel.config_if_not_set:
            new = cfgmod.set_var(text, var, value)
        else:
            new = cfgmod.replace_text(text, placeholder, value)
        self.host.fs.write_text(CALICO_ROOT + "\\config.ps1", new)

    def _set_backend_config(self, backend: str, zip_rel: CalicoRelease) -> None:
        text = self._config_text()
        if zip_rel.config_if_not_set:
            new = cfgmod.set_var(text, "CALICO_NETWORKING_BACKEND", backend)
        else:
            new = cfgmod.replace_text(text, 'CALICO_NETWORKING_BACKEND="vxlan"',
                                      f'CALICO_NETWORKING_BACKEND="{backend}"')
        self.host.fs.write_text(CALICO_ROOT + "\\config.ps1", new)

    def _kubectl(self, kubeconfig: str) -> Kubectl:
        return Kubectl(self.rt, kubeconfig)

    def _kubectl_error(self, res: Any, *, guarded: bool) -> None:
        """Report what kubectl printed on stderr. `guarded`: the call sits in a `$ErrorActionPreference =
        'Continue'` section of a 3.23+ script (its errors are not fatal there)."""
        if res.missing:
            rec = _not_recognized(KUBE_DIR.lower() + "\\kubectl.exe")
            if guarded:
                self.io._safe("error", rec)
            else:
                self.io.error(rec)
            return
        if res.stderr:
            self.io.native_stderr(res.stderr, stop=False if guarded else None)

    async def _calico_namespace(self, kubeconfig: str = "c:\\k\\config") -> str:
        res = await self._kubectl(kubeconfig).get_namespace("calico-system")
        self._kubectl_error(res, guarded=True)
        if not res.stdout.strip():
            self.io.host("Calico running in kube-system namespace")
            return "kube-system"
        self.io.host("Calico running in calico-system namespace")
        return "calico-system"

    async def _calico_kube_config(self, namespace: str, kubeconfig: str = "c:\\k\\config") -> None:
        kc = self._kubectl(kubeconfig)
        res = await kc.token_secret_names(namespace)
        self._kubectl_error(res, guarded=self.rel.stops_on_errors)
        names = [n for n in res.stdout.splitlines() if "calico-node" in n]
        name = names[0] if names else ""
        if not name:
            if not self.rel.auto_creates_token_secret:
                raise throw("calico-node service account does not exist.")
            if not self.p.get("AutoCreateServiceAccountTokenSecret"):
                raise throw(" service account token secret does not exist.")
            name = "calico-node-token"
            tmp = f"{TEMP_DIR}\\tmp{zlib.crc32(namespace.encode()) % 0xFFFF:X}.tmp"
            self.io.host(f"Created temp file {tmp}")
            applied = await kc.apply_token_secret(name, namespace, "calico-node")
            self._kubectl_error(applied, guarded=False)
            if applied.stdout:
                self.io.output(applied.stdout.rstrip("\n"))
            await self._wait_token_populated(kc, namespace, name)
        secret = await kc.secret(namespace, name)
        self._kubectl_error(secret, guarded=False)
        data = ((secret.data or {}).get("data") or {}) if secret.data else {}
        ca = data.get("ca.crt", "")
        token = b64decode_text(data.get("token", ""))
        server = self._findstr_server(kubeconfig)
        if server is None:
            raise PipelineFailed(ErrorRecord(message="You cannot call a method on a null-valued expression.",
                                             category="InvalidOperation", fqid="InvokeMethodOnNull",
                                             exception_type="System.Management.Automation.RuntimeException"))
        template = self.host.fs.read_text(CALICO_ROOT + "\\calico-kube-config.template") \
            if self.host.fs.is_file(CALICO_ROOT + "\\calico-kube-config.template") else CALICO_KUBECONFIG_TEMPLATE
        text = template.replace("<ca>", ca).replace("<server>", server).replace("<token>", token)
        self.host.fs.write_text(CALICO_ROOT + "\\calico-kube-config", text)

    async def _wait_token_populated(self, kc: Kubectl, namespace: str, name: str) -> None:
        """The token controller fills a new token Secret within moments; the script reads it right after."""
        for _ in range(20):
            res = await kc.secret(namespace, name)
            if res.data and ((res.data.get("data") or {}).get("token")):
                return
            await self.host.clock.sleep(0.05)

    def _findstr_server(self, kubeconfig: str) -> str | None:
        """`findstr https:// c:\\k\\config`, trimmed (several lines join with spaces, as an array does)."""
        fs = self.host.fs
        if not fs.is_file(kubeconfig):
            self.io.native_stderr(f"FINDSTR: Cannot open {kubeconfig}", stop=False)
            return None
        lines = [ln.strip() for ln in fs.read_text(kubeconfig).splitlines() if "https://" in ln]
        if not lines:
            return None
        return " ".join(lines)

    async def _backend_type(self, namespace: str) -> str:
        p = self.p
        if p["CalicoBackend"]:
            return p["CalicoBackend"]
        kc = self._kubectl(CALICO_ROOT + "\\calico-kube-config")
        if ps_eq(p["Datastore"], "kubernetes"):
            ipip = await kc.felix_field("ipipEnabled")
            self._kubectl_error(ipip, guarded=False)
            if ipip.stdout.strip() == "true":
                raise throw("Calico on Linux has IPIP enabled. IPIP is not supported on Windows nodes.")
            vx = await kc.felix_field("vxlanEnabled")
            self._kubectl_error(vx, guarded=False)
            value = vx.stdout.strip()
            if value == "true":
                return "vxlan"
            if not self.rel.reads_pools or value == "false":
                return "bgp"
            ipip_modes = await kc.ippool_fields("ipipMode")
            self._kubectl_error(ipip_modes, guarded=False)
            if re.search(r"Always|CrossSubnet", ipip_modes.stdout):
                raise throw("Failed to auto detect backend type. IPIP is not supported on Windows nodes but found IP "
                            "pools with IPIP enabled. Rerun install script with the CalicoBackend param provided")
            vx_modes = await kc.ippool_fields("vxlanMode")
            self._kubectl_error(vx_modes, guarded=False)
            return "vxlan" if re.search(r"Always|CrossSubnet", vx_modes.stdout) else "bgp"
        res = await kc.configmap_value(namespace, "calico-config", "calico_backend")
        self._kubectl_error(res, guarded=False)
        return "vxlan" if res.stdout.strip() == "vxlan" else "bgp"

    async def _etcd_tls(self, namespace: str, secret_name: str) -> None:
        kc = self._kubectl("c:\\k\\config")
        res = await kc.secret(namespace, secret_name)
        self._kubectl_error(res, guarded=True)
        if not res.data:
            raise throw(f"{secret_name} does not exist.")
        data = res.data.get("data") or {}
        path = CALICO_ROOT + "\\etcd-tls"
        self.host.fs.mkdir(path)
        for key, fname in (("etcd-key", "server.key"), ("etcd-cert", "server.crt"), ("etcd-ca", "ca.crt")):
            self.host.fs.write_text(f"{path}\\{fname}", b64decode_text(data.get(key, "")))
        self.p["EtcdKey"], self.p["EtcdCert"], self.p["EtcdCaCert"] = (
            f"{path}\\server.key", f"{path}\\server.crt", f"{path}\\ca.crt")


# ---- install-calico.ps1 (from the zip) ---------------------------------------------------------------------------
def _zip_release(rt: HostRuntime) -> CalicoRelease | None:
    path = CALICO_ROOT + "\\install-calico.ps1"
    if not rt.host.fs.is_file(path):
        return None
    found = identify(rt.host.fs.read_text(path))
    return release(found[1]) if found and found[1] in CALICO_VERSIONS else None


def test_configuration(rt: HostRuntime, io: ScriptIO, env: dict[str, str]) -> None:
    """calico.psm1's `Test-CalicoConfiguration`."""
    fs = rt.host.fs
    io.host("Validating configuration...")
    if not env.get("CNI_BIN_DIR"):
        raise throw("Config not loaded?.")
    backend = env.get("CALICO_NETWORKING_BACKEND", "")
    if backend in ("windows-bgp", "vxlan"):
        if not fs.is_dir(env["CNI_BIN_DIR"]):
            raise throw(f"CNI binary directory {env['CNI_BIN_DIR']} doesn't exist.  Please create it and ensure "
                        f"kubelet is configured with matching --cni-bin-dir.")
        if not env.get("CNI_CONF_DIR") or not fs.is_dir(env["CNI_CONF_DIR"]):
            raise throw(f"CNI config directory {env.get('CNI_CONF_DIR', '')} doesn't exist.  Please create it and "
                        f"ensure kubelet is configured with matching --cni-conf-dir.")
    if backend == "vxlan" and env.get("CNI_IPAM_TYPE") != "calico-ipam":
        raise throw(f"Calico VXLAN requires IPAM type calico-ipam, not {env.get('CNI_IPAM_TYPE', '')}.")
    ds = env.get("CALICO_DATASTORE_TYPE", "")
    if ds == "kubernetes":
        if not env.get("KUBECONFIG") or not fs.is_file(env["KUBECONFIG"]):
            raise throw(f"kubeconfig file {env.get('KUBECONFIG', '')} doesn't exist.  Please update the configuration "
                        f"to match. the location of your kubeconfig file.")
    elif ds == "etcdv3":
        if env.get("ETCD_ENDPOINTS", "") in ("", "<your etcd endpoints>"):
            raise throw("Etcd endpoint not set, please update the configuration.")
    else:
        raise throw(f"Please set datastore type to 'etcdv3' or 'kubernetes'; current value: {ds}.")


def _install_service(rt: HostRuntime, io: ScriptIO, nssm: Nssm, name: str, script: str, display: str,
                     description: str, log_dir: str, log_name: str, depends: str | None = None) -> None:
    if not nssm.present:
        io.error(_not_recognized(nssm.path))
        return
    emit(io, nssm.install(name, POWERSHELL))
    emit(io, nssm.set(name, "AppParameters", f"{CALICO_ROOT}\\{script}"))
    emit(io, nssm.set(name, "AppDirectory", CALICO_ROOT))
    if depends:
        emit(io, nssm.set(name, "DependOnService", depends))
    emit(io, nssm.set(name, "DisplayName", display))
    emit(io, nssm.set(name, "Description", description))
    for param, value in (("Start", "SERVICE_AUTO_START"), ("ObjectName", "LocalSystem"),
                         ("Type", "SERVICE_WIN32_OWN_PROCESS"), ("AppThrottle", "1500")):
        emit(io, nssm.set(name, param, value))
    if not rt.host.fs.is_dir(log_dir):
        io.output("Creating log directory.")
        rt.host.fs.mkdir(log_dir)
    emit(io, nssm.set(name, "AppStdout", f"{log_dir}\\{log_name}.log"))
    emit(io, nssm.set(name, "AppStderr", f"{log_dir}\\{log_name}.err.log"))
    for param, value in (("AppRotateFiles", "1"), ("AppRotateOnline", "1"), ("AppRotateSeconds", "86400"),
                         ("AppRotateBytes", "10485760")):
        emit(io, nssm.set(name, param, value))


def _install_cni(rt: HostRuntime, io: ScriptIO, env: dict[str, str]) -> None:
    fs = rt.host.fs
    bin_dir, conf_dir = env["CNI_BIN_DIR"], env["CNI_CONF_DIR"]
    io.host(f"Copying CNI binaries to {bin_dir}")
    for e in fs.list(CALICO_ROOT + "\\cni"):
        if e.name.lower().endswith(".exe"):
            fs.write_bytes(f"{bin_dir}\\{e.name}", e.data, logical_size=e.logical_size)
    conf_file = f"{conf_dir}\\{env.get('CNI_CONF_FILENAME', '10-calico.conf')}"
    io.host(f"Writing CNI configuration to {conf_file}.")
    vxlan = env.get("CALICO_NETWORKING_BACKEND") == "vxlan"
    try:
        vni = int(env.get("VXLAN_VNI") or 4096)
    except ValueError:
        vni = 4096
    conf = {
        "name": "Calico", "windows_use_single_network": True, "cniVersion": "0.3.1", "type": "calico",
        "mode": "vxlan" if vxlan else "", "vxlan_mac_prefix": env.get("VXLAN_MAC_PREFIX", "0E-2A"),
        "vxlan_vni": vni, "policy": {"type": "k8s"}, "log_level": "info", "capabilities": {"dns": True},
        "DNS": {"Nameservers": [s for s in env.get("DNS_NAME_SERVERS", "").split(",") if s],
                "Search": ["svc.cluster.local"]},
        "nodename_file": CALICO_ROOT + "\\nodename", "datastore_type": env.get("CALICO_DATASTORE_TYPE", ""),
        "etcd_endpoints": env.get("ETCD_ENDPOINTS", ""), "kubernetes": {"kubeconfig": env.get("KUBECONFIG", "")},
        "ipam": {"type": env.get("CNI_IPAM_TYPE", "calico-ipam"), "subnet": "usePodCidr"},
        "policies": [{"Name": "EndpointPolicy", "Value": {"Type": "OutBoundNAT",
                                                         "ExceptionList": [env.get("K8S_SERVICE_CIDR", "")]}},
                     {"Name": "EndpointPolicy", "Value": {"Type": "SDNROUTE" if rt.service_running("containerd")
                                                          else "ROUTE",
                                                          "DestinationPrefix": env.get("K8S_SERVICE_CIDR", ""),
                                                          "NeedEncap": True}}],
    }
    fs.write_text(conf_file, json.dumps(conf, indent=2))
    io.host("Wrote CNI configuration.")


async def run_install_calico(rt: HostRuntime, io: ScriptIO) -> None:
    """C:\\CalicoWindows\\install-calico.ps1: validate config.ps1, install the services and the CNI plugin, and
    (≤ 3.22 zips) start Calico. `exit 1` (as ScriptExit) when the VXLAN VNI is below 4096."""
    zip_rel = _zip_release(rt)
    services = rt.calico
    env = services.config()
    test_configuration(rt, io, env)
    nssm = Nssm(rt, f"{CALICO_ROOT}\\{NSSM_REL_PATH}")
    log_dir = env.get("CALICO_LOG_DIR") or CALICO_ROOT + "\\logs"
    rt.host.drop_point("install-services")
    io.host("Installing node startup service...")
    rt.host.registry.create_key("HKLM:\\Software\\Tigera\\Calico")
    _install_service(rt, io, nssm, "CalicoNode", "node\\node-service.ps1", "Calico Windows Startup",
                     "Calico Windows Startup, configures Calico datamodel resources for this node.", log_dir,
                     "calico-node")
    io.host("Done installing startup service.")
    io.host("Installing Felix service...")
    _install_service(rt, io, nssm, "CalicoFelix", "felix\\felix-service.ps1", "Calico Windows Agent",
                     "Calico Windows Per-host Agent, Felix, provides network policy enforcement for Kubernetes.",
                     log_dir, "calico-felix", depends="CalicoNode")
    io.host("Done installing Felix service.")
    backend = env.get("CALICO_NETWORKING_BACKEND", "")
    if backend == "vxlan":
        try:
            vni = int(env.get("VXLAN_VNI") or 0)
        except ValueError:
            vni = 0
        if vni < 4096:
            io.host("Windows does not support VXLANVNI < 4096.")
            raise ScriptExit(1)
        _install_cni(rt, io, env)
    elif backend == "windows-bgp":
        io.host("Installing confd service...")
        _install_service(rt, io, nssm, "CalicoConfd", "confd\\confd-service.ps1", "Calico BGP Agent",
                         "Calico BGP Agent, confd, configures BGP routing.", log_dir, "calico-confd",
                         depends="CalicoNode")
        io.host("Done installing confd service.")
        _install_cni(rt, io, env)
    else:
        io.host("Using third party CNI plugin.")
    if zip_rel is not None and not zip_rel.installer_starts_services:
        await start_calico(rt, io)


async def start_calico(rt: HostRuntime, io: ScriptIO) -> None:
    """Start CalicoNode, wait for its initialisation, start CalicoFelix (and CalicoConfd for BGP), wait until every
    Calico service runs, then list them (as install-calico.ps1 ≤ 3.22 and install-calico-windows.ps1 3.23+ do)."""
    host = rt.host
    io.host("Starting Calico...")
    io.host("This may take several seconds if the vSwitch needs to be created.")
    host.drop_point("start-calico")
    await _start_service(rt, io, "CalicoNode")
    await wait_for_calico_init(rt.calico, io)
    await _start_service(rt, io, "CalicoFelix")
    if rt.calico.config().get("CALICO_NETWORKING_BACKEND") == "windows-bgp":
        await _start_service(rt, io, "CalicoConfd")
    while any(s.status != "Running" for s in _calico_services(rt)):
        io.host("Waiting for the Calico services to be running...")
        await host.clock.sleep(1.0)
    io.host("Done, the Calico services are running:")
    for svc in _calico_services(rt):
        io.output(service_object(svc))


def _calico_services(rt: HostRuntime) -> list[Any]:
    return sorted((s for s in rt.host.services.values() if s.name.lower().startswith("calico")),
                  key=lambda s: s.name.lower())


async def _start_service(rt: HostRuntime, io: ScriptIO, name: str) -> None:
    """`Start-Service NAME` inside a script (a failure is Start-Service's error record)."""
    try:
        await rt.host.start_service(name)
    except ServiceError as exc:
        io.error(ErrorRecord(message=exc.message, category=exc.category, fqid=exc.fqid,
                             exception_type=exc.exception_type, target=name))


# ---- uninstall-calico.ps1 ----------------------------------------------------------------------------------------
async def run_uninstall_calico(rt: HostRuntime, io: ScriptIO, except_upgrade: bool = False) -> None:
    """C:\\CalicoWindows\\uninstall-calico.ps1: stop Calico, remove its services and CNI files. Leaves HNS
    networks, firewall rules, the registry key and the directory."""
    services = rt.calico
    env = services.config()
    test_configuration(rt, io, env)
    quiet = ScriptIO(io._streams, stop_on_error=False)
    quiet.native_stderr = lambda text, stop=None: None  # $ErrorActionPreference = 'SilentlyContinue'
    quiet.lines = io.lines
    io.host("Stopping Calico if it is running...")
    for name in ("CalicoFelix", "CalicoConfd", "CalicoNode") + (() if except_upgrade else ("CalicoUpgrade",)):
        svc = rt.host.service(name)
        if svc is not None and svc.status != "Stopped":
            try:
                await rt.host.stop_service(name, force=True)
            except ServiceError:
                pass
    nssm = Nssm(rt, f"{CALICO_ROOT}\\{NSSM_REL_PATH}")
    backend = env.get("CALICO_NETWORKING_BACKEND", "")
    if backend == "windows-bgp":
        emit(quiet, await nssm.remove("CalicoConfd"))
    if backend != "none":
        fs = rt.host.fs
        conf = f"{env.get('CNI_CONF_DIR', '')}\\{env.get('CNI_CONF_FILENAME', '10-calico.conf')}"
        if fs.is_file(conf):
            io.host(f"Removing Calico CNI conf file at {conf} ...")
            fs.remove(conf)
        bins = [e for e in (fs.glob(f"{env.get('CNI_BIN_DIR', '')}\\calico*.exe") if env.get("CNI_BIN_DIR") else [])]
        if bins:
            io.host(f"Removing Calico CNI binaries at {env['CNI_BIN_DIR']}/calico*.exe ...")
            for e in bins:
                fs.remove(e.path)
    emit(quiet, await nssm.remove("CalicoNode"))
    emit(quiet, await nssm.remove("CalicoFelix"))
    if not except_upgrade and rt.host.service("CalicoUpgrade") is not None:
        io.host("Removing CalicoUpgrade service...")
        emit(quiet, await nssm.remove("CalicoUpgrade"))
    services.felix_ready = False
    services.startup_ok = False
    services.kick_pods()
    io.host("Done.")


# ---- helpers -----------------------------------------------------------------------------------------------------
def _not_recognized(name: str) -> ErrorRecord:
    return ErrorRecord(message=not_recognized(name), category="ObjectNotFound", fqid="CommandNotFoundException",
                       exception_type="System.Management.Automation.CommandNotFoundException", target=name)


def _iwr_error(exc: DownloadError) -> ErrorRecord:
    if "404" in exc.message:
        return ErrorRecord(message=exc.message, category="InvalidOperation",
                           fqid="WebCmdletWebResponseException,Microsoft.PowerShell.Commands.InvokeWebRequestCommand",
                           exception_type="System.Net.WebException", target=exc.url)
    return ErrorRecord(message=exc.message, category="NotSpecified",
                       fqid="System.Net.WebException,Microsoft.PowerShell.Commands.InvokeWebRequestCommand",
                       exception_type="System.Net.WebException", target=exc.url)

