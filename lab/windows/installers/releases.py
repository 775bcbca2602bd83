"""What differs between the Calico for Windows releases the lab serves, as facts about each release.

The manual installer changed across releases (calico-windows.md §2 and the scripts in projectcalico/calico):
- ≤ 3.22: `install-calico.ps1` (inside the zip) starts the services; the outer installer prints
  "Calico for Windows Started". Backend auto-detection reads only FelixConfiguration `ipipEnabled`/`vxlanEnabled`.
  The Kubernetes binaries are prepared before the re-run guard. `config.ps1` assigns `$env:X = "..."`.
- 3.23+: `-StartCalico` (default "yes"); the outer installer starts the services after printing "Calico for
  Windows installed"; auto-detection also reads the IPPools; `$ErrorActionPreference = "Stop"`, so a kubectl
  error outside the guarded spots ends the script; `config.ps1` uses `Set-EnvVarIfNotSet`.
- 3.24+: `-AutoCreateServiceAccountTokenSecret` (default "yes"): creates `calico-node-token` when Kubernetes
  ≥ 1.24 no longer made one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The newest patch of each minor the project supports.
NEWEST_PATCHES: tuple[str, ...] = (
    "3.21.6", "3.22.5", "3.23.5", "3.24.6", "3.25.2", "3.26.4", "3.27.4", "3.28.2", "3.29.1", "3.30.3",
)
#: Every release the lab's download catalog serves: each patch release of those minors, as on GitHub (a cluster
#: runs whatever patch it was installed with, e.g. v3.22.1, and the Windows node must match it).
CALICO_VERSIONS: tuple[str, ...] = tuple(
    f"{v.rsplit('.', 1)[0]}.{patch}" for v in NEWEST_PATCHES for patch in range(int(v.rsplit(".", 1)[1]) + 1)
)


@dataclass(frozen=True)
class CalicoRelease:
    """One Calico for Windows release and the installer behaviours that depend on it."""

    version: str  # "3.22.5", no leading v

    @property
    def tag(self) -> str:
        """The GitHub release tag, e.g. `v3.22.5`."""
        return f"v{self.version}"

    @property
    def minor(self) -> tuple[int, int]:
        major, minor, *_ = (int(p) for p in self.version.split("."))
        return (major, minor)

    @property
    def reads_pools(self) -> bool:
        """3.23+: backend auto-detection also looks at every IPPool's ipipMode/vxlanMode."""
        return self.minor >= (3, 23)

    @property
    def installer_starts_services(self) -> bool:
        """3.23+: install-calico-windows.ps1 itself starts CalicoNode/CalicoFelix (`-StartCalico yes`)."""
        return self.minor >= (3, 23)

    @property
    def auto_creates_token_secret(self) -> bool:
        """3.24+: the installer creates the calico-node token Secret when none exists."""
        return self.minor >= (3, 24)

    @property
    def stops_on_errors(self) -> bool:
        """3.23+: the installer runs with `$ErrorActionPreference = "Stop"`."""
        return self.minor >= (3, 23)

    @property
    def config_if_not_set(self) -> bool:
        """3.23+: config.ps1 lines are `Set-EnvVarIfNotSet -var "X" -defaultValue "v"`."""
        return self.minor >= (3, 23)

    @property
    def pulls_pause_image_for_docker(self) -> bool:
        """3.23+: with -KubeVersion and Docker, the installer pulls and tags the pause image (Docker must run)."""
        return self.minor >= (3, 23)

    @property
    def zip_name(self) -> str:
        """The release asset name, e.g. `calico-windows-v3.22.5.zip`."""
        return f"calico-windows-{self.tag}.zip"

    @property
    def release_base_url(self) -> str:
        """The installer's default `-ReleaseBaseURL` (with its trailing slash, as the script has it)."""
        return f"https://github.com/projectcalico/calico/releases/download/{self.tag}/"

    def installer_parameters(self) -> list[tuple[str, str]]:
        """install-calico-windows.ps1's parameters in declaration order, with their default values."""
        params = [("ReleaseBaseURL", self.release_base_url), ("ReleaseFile", self.zip_name),
                  ("KubeVersion", ""), ("DownloadOnly", "no")]
        if self.installer_starts_services:
            params.append(("StartCalico", "yes"))
        if self.auto_creates_token_secret:
            params.append(("AutoCreateServiceAccountTokenSecret", "yes"))
        params += [("Datastore", "kubernetes"), ("EtcdEndpoints", ""), ("EtcdTlsSecretName", ""), ("EtcdKey", ""),
                   ("EtcdCert", ""), ("EtcdCaCert", ""), ("ServiceCidr", "10.96.0.0/12"),
                   ("DNSServerIPs", "10.96.0.10"), ("CalicoBackend", "")]
        return params


_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


def release(version: str) -> CalicoRelease:
    """The release for `version` ("3.22.5" or "v3.22.5"); ValueError when the lab does not serve it."""
    m = _VERSION_RE.match(version.strip())
    if not m or ".".join(m.groups()) not in CALICO_VERSIONS:
        raise ValueError(f"unknown Calico release {version!r}")
    return CalicoRelease(".".join(m.groups()))
