"""k8s-m over real SSH: Debian's OpenSSH client (`ssh`, `scp`) and asyncssh, host keys checked, key auth only."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import asyncssh
import pytest

from .conftest import POOL

pytestmark = pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the OpenSSH client (openssh-client)")

RUNBOOK_ROW = ["default-ipv4-ippool", "192.168.0.0/16", "true", "Always", "Never", "false", "false", "all()"]


def ssh_argv(cp, *, key: Path | None = None, known_hosts: Path | None = None, program: str = "ssh") -> list[str]:
    port_flag = "-P" if program == "scp" else "-p"
    return [program, "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={known_hosts or cp.known_hosts_file}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR", "-i", str(key or cp.private_key_file),
            port_flag, str(cp.port)]


async def run(argv: list[str], stdin: bytes = b"") -> tuple[int, bytes, bytes]:
    """Run a client program without blocking the event loop the server lives on."""
    proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin), timeout=60)
    return proc.returncode, out, err


def other_key(tmp_path: Path) -> Path:
    path = tmp_path / "stranger_ed25519"
    path.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key("openssh"))
    path.chmod(0o600)
    return path


async def test_openssh_client_runs_calicoctl_and_prints_the_runbook_row(cp):
    code, out, err = await run(ssh_argv(cp) + [f"root@{cp.host}",
                                               f"calicoctl get ippool {POOL} -o wide"])
    assert code == 0, err
    assert out.decode().splitlines()[1].split() == RUNBOOK_ROW
    assert cp.records[-1].command == f"calicoctl get ippool {POOL} -o wide"
    assert (cp.records[-1].user, cp.records[-1].exit_code) == ("root", 0)


async def test_openssh_client_pipes_stdin_into_calicoctl_apply(cp, kube):
    code, pool_yaml, _ = await run(ssh_argv(cp) + [f"root@{cp.host}", f"calicoctl get ippool {POOL} -o yaml"])
    assert code == 0
    edited = pool_yaml.replace(b"ipipMode: Always", b"ipipMode: Never")
    code, out, err = await run(ssh_argv(cp) + [f"root@{cp.host}", "calicoctl apply -f -"], stdin=edited)
    assert (code, out) == (0, b"Successfully applied 1 'IPPool' resource(s)\n"), err
    rt = kube.registry.get("crd.projectcalico.org", "ippools")
    assert kube.store.get(rt, None, POOL)["spec"]["ipipMode"] == "Never"


async def test_openssh_exit_codes_and_stderr_come_through(fake_cp):
    code, out, err = await run(ssh_argv(fake_cp) + [f"root@{fake_cp.host}", "kubectl get nodes"])
    assert (code, err) == (127, b"bash: kubectl: command not found\n")


async def test_scp_copies_the_admin_kubeconfig_like_the_runbook(cp, kube, tmp_path):
    for mode, flags in (("sftp", []), ("legacy scp", ["-O"])):
        dest = tmp_path / f"config-{mode.replace(' ', '-')}"
        code, _, err = await run(ssh_argv(cp, program="scp") + flags + [f"root@{cp.host}:~/.kube/config", str(dest)])
        assert code == 0, (mode, err)
        assert dest.read_bytes() == kube.kubeconfig_path.read_bytes(), mode


async def test_a_key_the_host_does_not_know_is_refused(fake_cp, tmp_path):
    code, out, err = await run(ssh_argv(fake_cp, key=other_key(tmp_path)) + [f"root@{fake_cp.host}", "hostname"])
    assert code == 255 and out == b""
    assert b"Permission denied" in err
    assert all(r.command != "hostname" for r in fake_cp.records)


async def test_openssh_detects_a_host_key_mismatch(fake_cp, tmp_path):
    wrong = tmp_path / "known_hosts_wrong"
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode().strip()
    wrong.write_text(f"[{fake_cp.host}]:{fake_cp.port} {impostor}\n")
    code, out, err = await run(ssh_argv(fake_cp, known_hosts=wrong) + [f"root@{fake_cp.host}", "hostname"])
    assert code == 255 and out == b""
    assert b"Host key verification failed" in err


def asyncssh_options(cp, **overrides):
    opts = {"port": cp.port, "username": "root", "client_keys": [str(cp.private_key_file)],
            "known_hosts": str(cp.known_hosts_file), "agent_path": None, "config": []}
    opts.update(overrides)
    return opts


async def test_asyncssh_client_with_known_hosts_checking(cp):
    async with asyncssh.connect(cp.host, **asyncssh_options(cp)) as conn:
        result = await conn.run(f"calicoctl get ippool {POOL} -o wide", check=False)
        assert result.exit_status == 0, result.stderr
        assert result.stdout.splitlines()[1].split() == RUNBOOK_ROW
        assert (await conn.run("hostname", check=True)).stdout == "k8s-m\n"
        strict = await conn.run("calicoctl ipam configure --strictaffinity=true", check=True)
        assert strict.stdout == "Successfully set StrictAffinity to: true\n"
    assert cp.records[-1].changed is True


async def test_asyncssh_sftp_get_of_the_kubeconfig(cp, kube, tmp_path):
    async with asyncssh.connect(cp.host, **asyncssh_options(cp)) as conn:
        async with conn.start_sftp_client() as sftp:
            assert await sftp.realpath(".") == "/root"
            await sftp.get("/root/.kube/config", str(tmp_path / "config"))
            await sftp.get(".kube/config", str(tmp_path / "config-relative"))
    expected = kube.kubeconfig_path.read_bytes()
    assert (tmp_path / "config").read_bytes() == expected
    assert (tmp_path / "config-relative").read_bytes() == expected
    assert [r.command for r in cp.records if r.kind == "sftp"] == ["sftp read /root/.kube/config"] * 2


async def test_asyncssh_detects_a_host_key_mismatch(fake_cp):
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode().strip()
    known = asyncssh.import_known_hosts(f"[{fake_cp.host}]:{fake_cp.port} {impostor}\n")
    with pytest.raises(asyncssh.HostKeyNotVerifiable):
        await asyncssh.connect(fake_cp.host, **asyncssh_options(fake_cp, known_hosts=known))


async def test_asyncssh_wrong_key_and_password_are_refused(fake_cp, tmp_path):
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect(fake_cp.host, **asyncssh_options(fake_cp, client_keys=[str(other_key(tmp_path))]))
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect(fake_cp.host, **asyncssh_options(fake_cp, client_keys=None, password="kubernetes"))
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect(fake_cp.host, **asyncssh_options(fake_cp, username="ubuntu"))


async def test_lab_json_describes_the_endpoint(fake_cp):
    info = fake_cp.lab_json()
    assert {k: info[k] for k in ("host", "port", "username")} == {"host": fake_cp.host, "port": fake_cp.port,
                                                                   "username": "root"}
    assert Path(info["private_key_file"]).stat().st_mode & 0o777 == 0o600
    line = Path(info["known_hosts_file"]).read_text().strip()
    assert line.startswith(f"[{fake_cp.host}]:{fake_cp.port} ssh-ed25519 ")
    key = asyncssh.import_public_key(line.split(" ", 1)[1])
    assert info["host_key_fingerprint"] == key.get_fingerprint("sha256")


async def test_a_session_without_a_command_runs_the_script_on_stdin(fake_cp):
    code, out, err = await run(ssh_argv(fake_cp) + ["-T", f"root@{fake_cp.host}"],
                               stdin=b"hostname\ncalicoctl ipam configure --strictaffinity=true\nexit\nhostname\n")
    assert (code, out, err) == (0, b"k8s-m\nSuccessfully set StrictAffinity to: true\n", b"")
    assert [(r.command, r.kind, r.changed) for r in fake_cp.records] == [
        ("hostname", "shell", False), ("calicoctl ipam configure --strictaffinity=true", "shell", True)]


async def test_a_file_put_over_sftp_is_what_calicoctl_apply_reads(fake_cp, fake_kube, tmp_path):
    manifest = tmp_path / "pool.yaml"
    manifest.write_text("apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: windows-pool\n"
                        "spec:\n  cidr: 10.250.0.0/16\n  vxlanMode: Always\n")
    async with asyncssh.connect(fake_cp.host, **asyncssh_options(fake_cp)) as conn:
        async with conn.start_sftp_client() as sftp:
            await sftp.put(str(manifest), "/tmp/pool.yaml")
            with pytest.raises(asyncssh.SFTPNoSuchFile, match="^No such file or directory: /etc/nope$"):
                await sftp.get("/etc/nope", str(tmp_path / "nope"))
        applied = await conn.run("calicoctl apply -f /tmp/pool.yaml", check=False)
    assert (applied.exit_status, applied.stdout) == (0, "Successfully applied 1 'IPPool' resource(s)\n")
    rt = fake_kube.registry.get("crd.projectcalico.org", "ippools")
    assert fake_kube.store.get(rt, None, "windows-pool")["spec"]["vxlanMode"] == "Always"
    assert [(r.command, r.exit_code) for r in fake_cp.records] == [
        ("sftp write /tmp/pool.yaml", 0), ("calicoctl apply -f /tmp/pool.yaml", 0)]
