"""The Linux control plane `k8s-m` over SSH (asyncssh server): what an operator or a flow reaches with `ssh root@k8s-m`.

- Key authentication only: one ed25519 client key pair and one host key per lab, written to `state_dir/ssh/`
  (`id_ed25519` mode 0600, `id_ed25519.pub`, `known_hosts` with the `[host]:port` line). Passwords and other keys
  are refused; user `root`.
- Exec requests run through `lab.shell` (pipelines, redirections) with the host's programs: `lab.coreutils`
  (`cat`, `sed`, `grep`, ...), `calicoctl` (`lab.calicoctl`) and `kubeadm` (`lab.kubeadm`); a shell request without a command reads command lines from
  stdin. SFTP (and legacy `scp`) serve the host's files, among them `/root/.kube/config` and
  `/etc/kubernetes/admin.conf`: the lab's admin kubeconfig, refreshed from `kube.kubeconfig_path` per session.
- Every command line received is kept in `records` (command, exit code, user, time, whether it changed state).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from .calicoctl import Calicoctl
from .coreutils import COREUTILS
from .kubeadm import Kubeadm
from .cp_faults import ConnectionDropped, ControlPlaneFaults
from .shell import BytesStdin, Invocation, Result, RootFS, SessionState, Shell

log = logging.getLogger(__name__)

HOSTNAME = "k8s-m"
USERNAME = "root"
PROGRAM_PATHS = {"calicoctl": "/usr/local/bin/calicoctl", "kubeadm": "/usr/bin/kubeadm"}


@dataclass(frozen=True)
class CommandRecord:
    """One thing the control plane was asked to do over SSH."""

    command: str  # the command line as received; for SFTP, "sftp <op> <path>"
    exit_code: int
    user: str
    at: float  # time.time() when it finished
    changed: bool = False  # it changed cluster (or Calico datastore) state
    kind: str = "exec"  # "exec" | "shell" (a line read by a shell session) | "sftp"


class _ProcessStdin:
    """The SSH channel's stdin, read to EOF only when a command asks for it."""

    def __init__(self, process: asyncssh.SSHServerProcess) -> None:
        self._process = process
        self._data: bytes | None = None

    async def read(self) -> bytes:
        if self._data is None:
            self._data = await self._process.stdin.read()
        return self._data


class _Auth(asyncssh.SSHServer):
    """Authentication for one connection: `root` with the lab's client key; passwords always refused."""

    def __init__(self, lab: "ControlPlaneSSH") -> None:
        self._lab = lab
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._lab._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lab._connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == USERNAME and key.public_data == self._lab._client_key.public_data


class _RootSFTP(asyncssh.SFTPServer):
    """SFTP over the host's RootFS: relative paths start in /root, links are refused, opens are recorded."""

    def __init__(self, chan: asyncssh.SSHServerChannel, lab: "ControlPlaneSSH") -> None:
        lab.sync_files()
        super().__init__(chan, chroot=str(lab.fs.root).encode())
        self._lab = lab
        self._user = chan.get_extra_info("username") or ""

    def map_path(self, path: bytes) -> bytes:
        if path == b"~" or path.startswith(b"~/"):  # legacy `scp -f ~/x` arrives unexpanded (no shell runs it)
            path = self._lab.fs.home.encode() + path[1:]
        if not path.startswith(b"/"):
            path = self._lab.fs.home.encode() + b"/" + path
        return super().map_path(path)

    def _shown(self, path: bytes) -> str:
        text = path.decode("utf-8", "replace")
        if text == "~" or text.startswith("~/"):
            text = self._lab.fs.home + text[1:]
        return self._lab.fs.normalize(text)

    def _sftp_error(self, path: bytes, exc: OSError) -> asyncssh.SFTPError:
        """The OS error with the emulated path in its message, never the lab machine's."""
        reason = exc.strerror or str(exc)
        cls = {FileNotFoundError: asyncssh.SFTPNoSuchFile,
               PermissionError: asyncssh.SFTPPermissionDenied}.get(type(exc), asyncssh.SFTPFailure)
        return cls(f"{reason}: {self._shown(path)}")

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        mode = "write" if pflags & (asyncssh.FXF_WRITE | asyncssh.FXF_APPEND | asyncssh.FXF_CREAT) else "read"
        try:
            handle = super().open(path, pflags, attrs)
        except OSError as e:
            self._lab._record(f"sftp {mode} {self._shown(path)}", 1, self._user, kind="sftp")
            raise self._sftp_error(path, e) from None
        self._lab._record(f"sftp {mode} {self._shown(path)}", 0, self._user, kind="sftp")
        return handle

    def stat(self, path: bytes):
        try:
            return super().stat(path)
        except OSError as e:
            raise self._sftp_error(path, e) from None

    def lstat(self, path: bytes):
        try:
            return super().lstat(path)
        except OSError as e:
            raise self._sftp_error(path, e) from None

    def exit(self) -> None:
        # sshd reports the sftp-server's exit status; OpenSSH's scp (SFTP mode) fails without one.
        self.channel.exit(0)

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("links are not allowed on this host")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPPermissionDenied("links are not allowed on this host")


class ControlPlaneSSH:
    """The SSH endpoint of the emulated control plane `k8s-m`, bound to one Kubernetes lab."""

    def __init__(self, kube: Any, *, state_dir: Path, host: str, faults: ControlPlaneFaults | None = None) -> None:
        self.kube = kube
        self.faults = faults or ControlPlaneFaults()
        self.host = host
        self.port = 0
        self.username = USERNAME
        self.ssh_dir = Path(state_dir) / "ssh"
        self.private_key_file = self.ssh_dir / "id_ed25519"
        self.public_key_file = self.ssh_dir / "id_ed25519.pub"
        self.known_hosts_file = self.ssh_dir / "known_hosts"
        self.records: list[CommandRecord] = []
        self.fs = RootFS(self.ssh_dir / "rootfs")
        self.calicoctl = Calicoctl(kube)
        self.kubeadm = Kubeadm(kube)
        self._host_key = asyncssh.generate_private_key("ssh-ed25519")
        self._client_key = asyncssh.generate_private_key("ssh-ed25519", comment=f"lab@{HOSTNAME}")
        self._server: asyncssh.SSHAcceptor | None = None
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._tasks: set[asyncio.Task] = set()

    @classmethod
    async def start(cls, kube: Any, *, state_dir: Path, host: str = "127.0.0.1",
                    faults: ControlPlaneFaults | None = None) -> "ControlPlaneSSH":
        """Listen on a free port of `host`, write the client key and known_hosts, and return the running server
        (with `faults` pending, see `lab.cp_faults`)."""
        self = cls(kube, state_dir=state_dir, host=host, faults=faults)
        self.ssh_dir.mkdir(parents=True, exist_ok=True)
        self.ssh_dir.chmod(0o700)
        self.private_key_file.write_bytes(self._client_key.export_private_key("openssh"))
        self.private_key_file.chmod(0o600)
        self.public_key_file.write_bytes(self._client_key.export_public_key("openssh"))
        for directory, mode in (("/root", 0o700), ("/tmp", 0o1777), ("/var/tmp", 0o1777), ("/home", 0o755)):
            self.fs.local(directory).mkdir(parents=True, exist_ok=True)
            self.fs.local(directory).chmod(mode)
        self.sync_files()
        self._server = await asyncssh.listen(
            host, 0, server_host_keys=[self._host_key], server_factory=lambda: _Auth(self),
            process_factory=self._session, sftp_factory=lambda chan: _RootSFTP(chan, self), allow_scp=True,
            encoding=None, agent_forwarding=False, x11_forwarding=False, allow_pty=True,
            login_timeout=30, keepalive_interval=0)
        self.port = self._server.sockets[0].getsockname()[1]
        self.known_hosts_file.write_text(self.known_hosts_line() + "\n")
        self.known_hosts_file.chmod(0o600)
        return self

    # --- what other parts read -------------------------------------------------------------------------------
    @property
    def host_key_fingerprint(self) -> str:
        """`SHA256:...` of the host key, as `ssh-keygen -lf` prints it."""
        return self._host_key.get_fingerprint("sha256")

    def known_hosts_line(self) -> str:
        """The known_hosts entry for this endpoint (`[host]:port ssh-ed25519 AAAA...`)."""
        key = self._host_key.export_public_key("openssh").decode().strip()
        return f"[{self.host}]:{self.port} {key}"

    def lab_json(self) -> dict[str, Any]:
        """Endpoint and credential locations for `lab.json` (`control_plane_ssh`)."""
        return {"host": self.host, "port": self.port, "username": self.username,
                "private_key_file": str(self.private_key_file), "known_hosts_file": str(self.known_hosts_file),
                "host_key_fingerprint": self.host_key_fingerprint, "hostname": HOSTNAME}

    def mutations(self) -> list[CommandRecord]:
        """The records of commands that changed state."""
        return [r for r in self.records if r.changed]

    def sync_files(self) -> None:
        """Put the cluster's admin kubeconfig and CA certificate where kubeadm leaves them on a control plane."""
        kubeconfig = Path(self.kube.kubeconfig_path).read_bytes()
        for path in ("/root/.kube/config", "/etc/kubernetes/admin.conf"):
            self.fs.write_bytes(path, kubeconfig, mode=0o600)
        ca = getattr(self.kube, "ca", None)
        if ca is not None:
            self.fs.write_bytes("/etc/kubernetes/pki/ca.crt", ca.ca_pem)

    def new_shell(self) -> Shell:
        """A fresh shell for one session, with the host's programs installed."""
        return Shell(self.fs, hostname=HOSTNAME, user=USERNAME,
                     commands={**COREUTILS, "calicoctl": self._calicoctl, "kubeadm": self.kubeadm},
                     paths=PROGRAM_PATHS)

    async def _calicoctl(self, inv: Invocation) -> Result:
        result = await self.calicoctl(inv)
        if self.faults.take_calicoctl_drop():
            raise ConnectionDropped("k8s-m: the SSH connection dropped during calicoctl")
        return result

    async def run(self, command: str, stdin: bytes = b"", *, user: str = USERNAME) -> Result:
        """Run a command line as an exec request would (for in-process callers); it is recorded the same way.
        A dropped connection (fault) raises ConnectionResetError."""
        session = SessionState()
        self.sync_files()
        try:
            result = await self.new_shell().run(command, BytesStdin(stdin), session)
        except ConnectionDropped as exc:
            self._record(command, 255, user, changed=session.changed)
            raise ConnectionResetError(str(exc)) from None
        self._record(command, result.exit_code, user, changed=session.changed)
        return result

    async def stop(self) -> None:
        """Close every connection and the listener."""
        for conn in list(self._connections):
            conn.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()

    # --- sessions --------------------------------------------------------------------------------------------
    def _record(self, command: str, exit_code: int, user: str, *, changed: bool = False,
                kind: str = "exec") -> None:
        self.records.append(CommandRecord(command, exit_code, user, time.time(), changed, kind))

    async def _session(self, process: asyncssh.SSHServerProcess) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        user = process.get_extra_info("username") or ""
        try:
            self.sync_files()
            if process.command is None:
                code = await self._shell_session(process, user)
            else:
                code = await self._exec(process, process.command, user)
        except (asyncssh.BreakReceived, asyncssh.SignalReceived, asyncssh.TerminalSizeChanged):
            code = 130
        except (BrokenPipeError, ConnectionError, asyncssh.DisconnectError):
            code = 255
        except ConnectionDropped:
            self._record(process.command or "", 255, user, changed=True)
            process.channel.get_connection().abort()  # no exit status: the client sees the connection go
            return
        except Exception:  # a lab bug must not look like a hang to the client
            log.exception("k8s-m ssh session failed")
            process.stderr.write(b"lab: internal error on k8s-m (see the lab log)\n")
            code = 1
        finally:
            if task is not None:
                self._tasks.discard(task)
        process.exit(code)

    async def _exec(self, process: asyncssh.SSHServerProcess, command: str, user: str) -> int:
        session = SessionState()
        result = await self.new_shell().run(command, _ProcessStdin(process), session)
        self._record(command, result.exit_code, user, changed=session.changed)
        process.stdout.write(result.stdout)
        process.stderr.write(result.stderr)
        await process.stdout.drain()
        return result.exit_code

    async def _shell_session(self, process: asyncssh.SSHServerProcess, user: str) -> int:
        """`ssh host` without a command: read command lines (a script on stdin, or a terminal) until EOF."""
        shell = self.new_shell()
        interactive = process.get_terminal_type() is not None
        prompt = f"{user}@{HOSTNAME}:~# ".encode()
        code = 0
        while True:
            if interactive:
                process.stdout.write(prompt)
            raw = await process.stdin.readline()
            if not raw:
                break
            line = raw.decode("utf-8", "replace").strip()
            if not line or line.startswith("#"):
                continue
            if line in ("exit", "logout"):
                break
            session = SessionState()
            result = await shell.run(line, BytesStdin(), session)
            self._record(line, result.exit_code, user, changed=session.changed, kind="shell")
            out, err = result.stdout, result.stderr
            if interactive:  # a terminal wants CRLF line ends
                out, err = out.replace(b"\n", b"\r\n"), err.replace(b"\n", b"\r\n")
            process.stdout.write(out)
            process.stderr.write(err)
            code = result.exit_code
        return code
