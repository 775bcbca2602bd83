"""pypsrp's Client.copy / Client.fetch against the emulated host, through `FileTransfer`."""

from __future__ import annotations

import asyncio
import base64
import os

import pytest
from pypsrp.exceptions import WinRMError

from lab.windows.dispatch import FileTransfer, PipelineCommand, is_pypsrp_copy_script, is_pypsrp_fetch_script

TWO_MB = 2 * 1024 * 1024


@pytest.mark.parametrize("https", [True, False])
async def test_copy_and_fetch_two_megabytes_byte_identical(start_host, tmp_path, https):
    host = await start_host(https=https)
    data = os.urandom(TWO_MB)
    src = tmp_path / "calico-windows.zip"
    src.write_bytes(data)
    back = tmp_path / "fetched.zip"

    def run() -> str:
        with host.client(auth="ntlm") as client:
            remote = client.copy(str(src), "C:\\calico-windows.zip")
            client.fetch("C:\\calico-windows.zip", str(back))
            return remote

    remote = await asyncio.to_thread(run)

    assert remote == "C:\\calico-windows.zip"
    assert host.host.fs.files["c:\\calico-windows.zip"] == data
    assert back.read_bytes() == data
    copy_cmds, copy_input = host.host.calls[0]
    assert is_pypsrp_copy_script(copy_cmds[0].name) and copy_cmds[0].args == ["C:\\calico-windows.zip", False]
    assert len(copy_input) > 2  # the file arrived as several base64 chunks, then its hash
    assert is_pypsrp_fetch_script(host.host.calls[1][0][0].name)


async def test_copy_to_a_relative_path_returns_the_absolute_one(https_host, tmp_path):
    src = tmp_path / "empty.txt"
    src.write_bytes(b"")

    def run() -> str:
        with https_host.client() as client:
            return client.copy(str(src), "sub\\empty.txt")

    assert await asyncio.to_thread(run) == "C:\\Users\\Administrator\\Documents\\sub\\empty.txt"
    assert https_host.host.fs.files["c:\\users\\administrator\\documents\\sub\\empty.txt"] == b""


async def test_fetch_of_a_missing_file_fails_like_fetch_ps1(https_host, tmp_path):
    def run() -> None:
        with https_host.client() as client:
            client.fetch("C:\\k\\missing.log", str(tmp_path / "x"))

    with pytest.raises(WinRMError, match=r"Failed to fetch file C:\\k\\missing.log: The path at 'C:\\k\\missing.log' "
                                         r"does not exist"):
        await asyncio.to_thread(run)
    assert not (tmp_path / "x").exists()


async def test_fetch_of_a_directory_fails(https_host, tmp_path):
    def run() -> None:
        with https_host.client() as client:
            client.fetch("C:\\", str(tmp_path / "x"))

    with pytest.raises(WinRMError, match="is a directory, src must be a file"):
        await asyncio.to_thread(run)


class _Streams:
    def __init__(self) -> None:
        self.out: list = []

    def output(self, obj) -> None:
        self.out.append(obj)


def test_copy_with_a_corrupted_hash_fails():
    from lab.windows.dispatch import PipelineFailed

    class FS:
        def __init__(self) -> None:
            self.written: dict = {}

        def write_bytes(self, path, data):
            self.written[path] = data

    fs = FS()
    cmd = PipelineCommand("copy", True, {}, ["C:\\x.bin", False])
    with pytest.raises(PipelineFailed, match="hash mismatch"):
        FileTransfer(fs).copy(cmd, [base64.b64encode(b"data").decode(), base64.b64encode(b"0" * 40).decode()],
                              _Streams())
    assert fs.written == {}


def test_path_resolution_and_variable_expansion():
    transfer = FileTransfer(None, cwd="C:\\Users\\Administrator\\Documents", env={"TEMP": "C:\\Windows\\Temp"})
    assert transfer.resolve("..\\x.txt") == "C:\\Users\\Administrator\\x.txt"
    assert transfer.resolve("\\k\\config") == "C:\\k\\config"
    assert transfer.resolve("c:/k/config") == "c:\\k\\config"
    assert transfer.resolve("%TEMP%\\a.zip", expand_variables=True) == "C:\\Windows\\Temp\\a.zip"
    assert transfer.resolve("%TEMP%\\a.zip") == "C:\\Users\\Administrator\\Documents\\%TEMP%\\a.zip"
