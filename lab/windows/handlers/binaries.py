"""Executables the emulated host can run by path, answering the way the real programs do: the version flags of
the container runtimes and of Calico's calico-node.exe. Each file's version comes from what its bytes on the
host's disk say (the lab writes `MZ containerd 1.7.20`, `lab-binary: calico-node v3.22.5`, ...)."""

from __future__ import annotations

import re

from .core import Invocation, register

_VERSION = re.compile(rb"v?(\d+\.\d+\.\d+)")
#: The commit each emulated program reports beside its version (what the real `--version` prints is a hash).
_COMMIT = "8fc6bcff51318944179630522a095cc9dbf9f353"


def _file_version(inv: Invocation) -> str:
    path = inv.script_path or inv.command.name
    m = _VERSION.search(inv.host.fs.read_bytes(path)[:512])
    return m.group(1).decode() if m else "0.0.0"


def _arguments(inv: Invocation) -> list[str]:
    return [str(a) for a in inv.get("Arguments") or []]


def _unknown_flag(inv: Invocation, program: str, args: list[str]) -> None:
    flag = next((a for a in args if a.startswith("-")), args[0] if args else "")
    inv.error(f"flag provided but not defined: {flag}", "NativeCommandError", "NotSpecified",
              exception_type="System.Management.Automation.RemoteException", target=program)


@register("*\\containerd.exe", native=True)
def containerd(inv: Invocation) -> None:
    """`containerd.exe --version` (also `-v`): `containerd github.com/containerd/containerd v1.7.20 <commit>`."""
    args = _arguments(inv)
    if args in (["--version"], ["-v"]):
        inv.output(f"containerd github.com/containerd/containerd v{_file_version(inv)} {_COMMIT}")
        return
    _unknown_flag(inv, "containerd", args)


@register("*\\dockerd.exe", native=True)
def dockerd(inv: Invocation) -> None:
    """`dockerd.exe --version` (also `-v`): `Docker version 20.10.9, build 79ea9d3`."""
    args = _arguments(inv)
    if args in (["--version"], ["-v"]):
        inv.output(f"Docker version {_file_version(inv)}, build {_COMMIT[:7]}")
        return
    _unknown_flag(inv, "dockerd", args)


@register("*\\calico-node.exe", native=True)
def calico_node(inv: Invocation) -> None:
    """`calico-node.exe -v`: the version, e.g. `v3.22.5` (the services run it with -startup / -felix, which the
    installer's service model does, not this command)."""
    args = _arguments(inv)
    if args == ["-v"]:
        inv.output(f"v{_file_version(inv)}")
        return
    _unknown_flag(inv, "calico-node", args)
