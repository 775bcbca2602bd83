"""Container image references: normalisation, the OS an image is built for, and the IDs runtimes report."""

from __future__ import annotations

import hashlib

WINDOWS_MARKERS = ("mcr.microsoft.com/windows", "servercore", "nanoserver", "ltsc2019", "ltsc2022", ":1809",
                   "windows/")


def normalize(image: str) -> str:
    """`nginx` → `docker.io/library/nginx:latest`; references with a registry or digest are kept."""
    ref = image.strip()
    name, digest = (ref.split("@", 1) + [""])[:2]
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif not ("." in first or ":" in first or first == "localhost"):
        name = f"docker.io/{name}"
    if digest:
        return f"{name}@{digest}"
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        name += ":latest"
    return name


def short_name(image: str) -> str:
    """The repository's last path element without tag: `mcr.microsoft.com/windows/servercore/iis:x` → `iis`."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    return last.split(":", 1)[0].lower()


def tag(image: str) -> str:
    ref = normalize(image)
    if "@" in ref:
        return ""
    return ref.rsplit(":", 1)[-1]


def image_os(image: str) -> str:
    """"windows" for Windows container images (mcr.microsoft.com/windows/..., ltsc tags), else "linux"."""
    low = image.lower()
    return "windows" if any(m in low for m in WINDOWS_MARKERS) else "linux"


def digest(image: str) -> str:
    return "sha256:" + hashlib.sha256(normalize(image).split("@", 1)[0].encode()).hexdigest()


def image_id(image: str, runtime: str) -> str:
    """The containerStatus `imageID` a runtime reports ("docker" or "containerd")."""
    repo = normalize(image).split("@", 1)[0].rsplit(":", 1)[0]
    if runtime == "docker":
        short = repo.removeprefix("docker.io/library/").removeprefix("docker.io/")
        return f"docker-pullable://{short}@{digest(image)}"
    return f"{repo}@{digest(image)}"


def status_image(image: str, runtime: str) -> str:
    """The containerStatus `image` a runtime reports."""
    if runtime == "docker":
        ref = normalize(image).removeprefix("docker.io/library/").removeprefix("docker.io/")
        return ref
    return normalize(image)


def runtime_of(node: dict) -> str:
    """"docker" or "containerd", from the node's containerRuntimeVersion."""
    ver = ((node.get("status") or {}).get("nodeInfo") or {}).get("containerRuntimeVersion") or "containerd://"
    return ver.split("://", 1)[0] or "containerd"
