"""The download catalog: every URL an emulated Windows host can fetch, and the bytes it gets.

Emulated hosts have no internet. What the real installers download — the Calico for Windows release scripts and
zips on GitHub, the Kubernetes node binaries on dl.k8s.io, Microsoft's SDN helper modules — is generated here,
small but structurally real (the zip is a real zip with the `CalicoWindows\\` tree; the tarball a real .tar.gz with
`kubernetes\\node\\bin\\*.exe`). Every generated file carries a `lab-script:`/`lab-binary:` marker naming what it
is and its version, so the host model can tell which installer a script on its disk is and which version got
installed. Anything not in the catalog fails the way a real download fails (404 from a known host, a DNS failure
otherwise). Nominal sizes let downloads take realistic (scaled) time.
"""

from __future__ import annotations

import functools
import io
import re
import tarfile
import zipfile
from dataclasses import dataclass
from urllib.parse import urlsplit

from .releases import CALICO_VERSIONS, CalicoRelease, release

MB = 1024 * 1024

#: Last patch release of each Kubernetes minor the catalog serves node binaries for.
KUBERNETES_LAST_PATCH: dict[tuple[int, int], int] = {
    (1, 20): 15, (1, 21): 14, (1, 22): 17, (1, 23): 17, (1, 24): 17, (1, 25): 16, (1, 26): 15, (1, 27): 16,
    (1, 28): 15, (1, 29): 15, (1, 30): 14, (1, 31): 10, (1, 32): 6, (1, 33): 2,
}

SDN_HELPER_URL = "https://raw.githubusercontent.com/Microsoft/SDN/master/Kubernetes/windows/helper.psm1"
SDN_HELPER_V2_URL = "https://raw.githubusercontent.com/Microsoft/SDN/master/Kubernetes/windows/helper.v2.psm1"
SDN_HNS_URL = "https://github.com/Microsoft/SDN/raw/master/Kubernetes/windows/hns.psm1"
#: The docs' "latest" installer URLs as they were in the runbook's time (Kubernetes 1.22, early 2022).
DOCS_INSTALLER_URLS = (
    "https://docs.projectcalico.org/scripts/install-calico-windows.ps1",
    "https://projectcalico.docs.tigera.io/scripts/install-calico-windows.ps1",
)
DOCS_LATEST_VERSION = "3.22.5"

#: Hosts a real Windows node could resolve; an unknown path there is a 404, any other host a DNS failure.
KNOWN_HOSTS = frozenset({"github.com", "objects.githubusercontent.com", "raw.githubusercontent.com", "dl.k8s.io",
                         "docs.projectcalico.org", "projectcalico.docs.tigera.io", "docs.tigera.io",
                         "www.powershellgallery.com"})


class DownloadError(Exception):
    """A failed download, worded as .NET's WebClient words it (the text PowerShell shows)."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(message)
        self.url = url
        self.message = message


@dataclass(frozen=True)
class Entry:
    """One downloadable file: how to make its bytes and how big the real one is (for download timing)."""

    url: str
    kind: str            # "calico-installer" | "calico-zip" | "kubernetes-node" | "helper"
    version: str
    nominal_bytes: int


# --- generated content -----------------------------------------------------------------------------------------

def marker(kind: str, version: str = "") -> str:
    """The marker line every generated file carries: `lab-script: <kind> v<version>`."""
    return f"lab-script: {kind}" + (f" v{version}" if version else "")


_MARKER_RE = re.compile(r"lab-(?:script|binary): ([\w.-]+)(?: v([\w.]+))?")


def identify(data: bytes | str) -> tuple[str, str] | None:
    """(kind, version) of a file the catalog generated, from its marker; None for anything else."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    m = _MARKER_RE.search(text[:4096])
    return (m.group(1), m.group(2) or "") if m else None


def _ps_param_block(params: list[tuple[str, str]]) -> str:
    lines = [f'    [parameter(Mandatory = $false)] ${name}="{default}"' for name, default in params]
    return "Param(\n" + ",\n".join(lines) + "\n)\n"


def installer_script(rel: CalicoRelease) -> str:
    """The text of install-calico-windows.ps1 for `rel`: its parameter block and the lab marker.

    The lab performs the installer's steps natively; the text is what a host's disk holds and what tells the
    host model which release's behaviour to run."""
    return (
        f"# Calico for Windows manual installer, release {rel.tag} (prefect-windows-nodes lab stand-in).\n"
        f"# {marker('install-calico-windows', rel.version)}\n"
        "# Installs and starts Calico for Windows on this node. The lab emulates the steps of the real script.\n"
        + _ps_param_block(rel.installer_parameters())
        + f'Write-Host "Calico for Windows installer {rel.tag}"\n'
    )


def _script(kind: str, version: str, body: str = "", params: str = "") -> str:
    body = body or f'Write-Verbose "{kind}: the lab emulates this script\'s behaviour"\n'
    return f"# {marker(kind, version)}\n{params}{body}"


def config_template(rel: CalicoRelease) -> str:
    """C:\\CalicoWindows\\config.ps1 as shipped in the zip (placeholders the installer fills in)."""
    from .config import render_config

    return render_config(rel, {}, template=True)


CALICO_KUBECONFIG_TEMPLATE = """apiVersion: v1
kind: Config
clusters:
- name: kubernetes
  cluster:
    certificate-authority-data: <ca>
    <server>
users:
- name: calico-windows
  user:
    token: <token>
contexts:
- name: calico-windows@kubernetes
  context:
    cluster: kubernetes
    namespace: kube-system
    user: calico-windows
current-context: calico-windows@kubernetes
"""


def binary(name: str, version: str) -> bytes:
    """A stand-in executable: PE magic, a marker naming the program and version, and some padding."""
    return b"MZ" + f"\n{_binary_marker(name, version)}\n".encode() + b"\0" * 256


def _binary_marker(name: str, version: str) -> str:
    return f"lab-binary: {name} v{version}"


def binary_identity(data: bytes) -> tuple[str, str] | None:
    """(program, version) of a stand-in executable, or None."""
    found = identify(data[:512])
    return found


@functools.lru_cache(maxsize=None)
def release_zip(version: str) -> bytes:
    """calico-windows-v<version>.zip: a real zip holding the `CalicoWindows\\` tree of that release."""
    rel = release(version)
    v = rel.version
    files: dict[str, bytes | str] = {
        "install-calico.ps1": _script("install-calico", v),
        "uninstall-calico.ps1": _script("uninstall-calico", v, params=(
            "param\n(\n    [bool][parameter(Mandatory=$false)]$ExceptUpgradeService = $false\n)\n")),
        "start-calico.ps1": _script("start-calico", v),
        "stop-calico.ps1": _script("stop-calico", v),
        "config.ps1": config_template(rel),
        "calico-kube-config.template": CALICO_KUBECONFIG_TEMPLATE,
        "cni.conf.template": _script("cni-conf-template", v),
        "calico-node.exe": binary("calico-node", v),
        "cni/calico.exe": binary("calico", v),
        "cni/calico-ipam.exe": binary("calico-ipam", v),
        "node/node-service.ps1": _script("node-service", v),
        "felix/felix-service.ps1": _script("felix-service", v),
        "confd/confd-service.ps1": _script("confd-service", v),
        "libs/calico/calico.psm1": _script("calico-psm1", v),
        "libs/hns/hns.psm1": _script("hns-psm1", v),
        "nssm-2.24/win64/nssm.exe": binary("nssm", "2.24"),
        "kubernetes/install-kube-services.ps1": _script("install-kube-services", v, params=(
            "param\n(\n     [string][parameter(Mandatory=$false)]$service\n)\n")),
        "kubernetes/uninstall-kube-services.ps1": _script("uninstall-kube-services", v, params=(
            "param\n(\n     [string][parameter(Mandatory=$false)]$service\n)\n")),
        "kubernetes/kubelet-service.ps1": _script("kubelet-service", v),
        "kubernetes/kube-proxy-service.ps1": _script("kube-proxy-service", v),
        "kubernetes/README.txt": "Scripts to install kubelet and kube-proxy as Windows services (nssm).\n",
        "README.txt": f"Calico for Windows {rel.tag}\n",
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, content in files.items():
            zf.writestr(f"CalicoWindows/{path}", content.encode() if isinstance(content, str) else content)
    return buf.getvalue()


def zip_release_version(data: bytes) -> str | None:
    """The Calico version inside a calico-windows zip (from its calico-node.exe), or None if not one."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            found = identify(zf.read("CalicoWindows/calico-node.exe"))
    except (zipfile.BadZipFile, KeyError):
        return None
    return found[1] if found else None


def zip_members(data: bytes) -> dict[str, bytes]:
    """Every file in a zip by its path with backslashes (`CalicoWindows\\install-calico.ps1`)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {n.replace("/", "\\"): zf.read(n) for n in zf.namelist() if not n.endswith("/")}


@functools.lru_cache(maxsize=None)
def kubernetes_node_tarball(version: str) -> bytes:
    """kubernetes-node-windows-amd64.tar.gz for `version` ("1.22.6"): `kubernetes/node/bin/*.exe`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for exe in ("kube-proxy", "kubeadm", "kubectl", "kubelet"):
            data = binary(exe, version)
            info = tarfile.TarInfo(f"kubernetes/node/bin/{exe}.exe")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def tarball_members(data: bytes) -> dict[str, bytes]:
    """Every file in a .tar.gz by its path with backslashes."""
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
        for m in tf.getmembers():
            if m.isfile():
                out[m.name.replace("/", "\\")] = tf.extractfile(m).read()
    return out


def _helper(kind: str) -> str:
    return _script(kind, "", "function DownloadFile() { }\n")


# --- the catalog ----------------------------------------------------------------------------------------------

def normalize(url: str) -> str:
    """Collapse duplicate slashes in the path (the installer builds `$ReleaseBaseURL/$ReleaseFile` with one
    too many) and lowercase the scheme and host, as the servers treat them."""
    parts = urlsplit(url.strip())
    path = re.sub(r"/{2,}", "/", parts.path)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}"


_K8S_RE = re.compile(r"^https://dl\.k8s\.io/v(\d+)\.(\d+)\.(\d+)/kubernetes-node-windows-amd64\.tar\.gz$")


class Catalog:
    """The URLs emulated hosts can download. `fetch` gives the bytes; `add` serves extra files (a mirror)."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        self._extra: dict[str, bytes] = {}
        for v in CALICO_VERSIONS:
            rel = release(v)
            base = f"https://github.com/projectcalico/calico/releases/download/{rel.tag}/"
            self._put(Entry(base + "install-calico-windows.ps1", "calico-installer", v, 20_000))
            self._put(Entry(base + rel.zip_name, "calico-zip", v, 75 * MB))
        for url in DOCS_INSTALLER_URLS:
            self._put(Entry(url, "calico-installer", DOCS_LATEST_VERSION, 20_000))
        for url, kind in ((SDN_HELPER_URL, "sdn-helper"), (SDN_HELPER_V2_URL, "sdn-helper-v2"),
                          (SDN_HNS_URL, "hns-psm1")):
            self._put(Entry(url, kind, "", 20_000))

    def _put(self, entry: Entry) -> None:
        self._entries[normalize(entry.url)] = entry

    def add(self, url: str, data: bytes) -> None:
        """Serve `data` at `url` too (e.g. a release mirror configured by a test)."""
        self._extra[normalize(url)] = data

    def entry(self, url: str) -> Entry | None:
        """What the catalog knows about `url` (generated files only)."""
        key = normalize(url)
        if key in self._entries:
            return self._entries[key]
        m = _K8S_RE.match(key)
        if m:
            major, minor, patch = (int(g) for g in m.groups())
            last = KUBERNETES_LAST_PATCH.get((major, minor))
            if last is not None and patch <= last:
                return Entry(key, "kubernetes-node", f"{major}.{minor}.{patch}", 110 * MB)
        return None

    def nominal_bytes(self, url: str) -> int:
        """How big the real file is (drives download time); the actual size for added files."""
        key = normalize(url)
        if key in self._extra:
            return len(self._extra[key])
        e = self.entry(url)
        return e.nominal_bytes if e else 0

    def fetch(self, url: str) -> bytes | None:
        """The bytes served at `url`, or None when nothing is (use `check` for the failure text)."""
        key = normalize(url)
        if key in self._extra:
            return self._extra[key]
        e = self.entry(url)
        if e is None:
            return None
        if e.kind == "calico-installer":
            return installer_script(release(e.version)).encode()
        if e.kind == "calico-zip":
            return release_zip(e.version)
        if e.kind == "kubernetes-node":
            return kubernetes_node_tarball(e.version)
        return _helper(e.kind).encode()

    def download(self, url: str) -> bytes:
        """The bytes at `url`, or DownloadError worded as WebClient's exception message."""
        data = self.fetch(url)
        if data is not None:
            return data
        host = (urlsplit(url.strip()).hostname or "").lower()
        if host in KNOWN_HOSTS:
            raise DownloadError(url, "The remote server returned an error: (404) Not Found.")
        raise DownloadError(url, f"The remote name could not be resolved: '{host}'")


#: The catalog every emulated host uses unless given another.
DEFAULT_CATALOG = Catalog()


def fetch(url: str) -> bytes | None:
    """The bytes the lab serves at `url` (default catalog), or None when a real download would fail."""
    return DEFAULT_CATALOG.fetch(url)
