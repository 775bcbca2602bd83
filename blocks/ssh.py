"""`ControlPlaneSSH`: an SSH login to a control-plane host (for calicoctl with an etcd datastore), via asyncssh.

Commands are argv lists; every argument is shell-quoted with `shlex.join`, so no value is ever spliced into shell
text. The host key is checked against the block's known_hosts content unless `check_host_key` is turned off.
Only the block's own key is used: no ~/.ssh/config, no default keys, no agent.
"""

from __future__ import annotations

import contextlib
import shlex
import warnings
from dataclasses import dataclass
from typing import AsyncIterator

import asyncssh
from prefect.blocks.core import Block
from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator


@dataclass
class SSHCommandResult:
    """What a remote command printed and how it exited."""

    argv: list[str]
    stdout: str
    stderr: str
    exit_status: int

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.exit_status == 0


class ControlPlaneSSH(Block):
    """SSH access to a Kubernetes control-plane host: address, user, private key (secret, optional passphrase)
    and the host's known_hosts lines. Host-key checking is on by default.

    Example:
        Run calicoctl on the control plane:
        ```python
        from prefect_windows_nodes.blocks import ControlPlaneSSH

        ssh = ControlPlaneSSH.load("BLOCK_NAME")
        result = await ssh.run(["calicoctl", "get", "ippool", "-o", "yaml"])
        print(result.stdout)
        ```
    """

    _block_type_name = "Control Plane SSH"
    _block_type_slug = "control-plane-ssh"
    _logo_url = "https://cdn.sanity.io/images/3ugk85nk/production/0b47a017e1b40381de770c17647c49cdf6388d1c-250x250.png"  # noqa: E501
    _documentation_url = "https://asyncssh.readthedocs.io/en/latest/api.html#connect"

    # Validation errors must not echo the input: it holds the secret.
    model_config = ConfigDict(hide_input_in_errors=True)

    host: str = Field(description="Host name or IP address of the control-plane host.")
    port: int = Field(default=22, ge=1, le=65535, description="SSH port.")
    username: str = Field(default="root", description="User to log in as (calicoctl needs datastore access).")
    private_key: SecretStr = Field(description="The private key (OpenSSH or PEM text) used to log in.")
    passphrase: SecretStr | None = Field(default=None, description="Passphrase of the private key, if it has one.")
    known_hosts: str | None = Field(
        default=None,
        description="known_hosts lines for the host (e.g. the output of ssh-keyscan -p PORT HOST); required while "
                    "host-key checking is on.",
    )
    check_host_key: bool = Field(
        default=True,
        description="Verify the host key against known_hosts; turn off only for throw-away test hosts.",
    )
    connect_timeout_s: float = Field(default=30.0, gt=0, description="Seconds allowed to connect and log in.")

    @field_validator("private_key")
    @classmethod
    def _key_present(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().strip():
            raise ValueError("private_key is empty; paste the private key text (e.g. the content of ~/.ssh/id_ed25519)")
        return v

    @model_validator(mode="after")
    def _host_key_policy(self) -> "ControlPlaneSSH":
        if self.check_host_key and not (self.known_hosts or "").strip():
            raise ValueError("known_hosts is empty while check_host_key is on; give the host's known_hosts lines "
                             f"(ssh-keyscan -p {self.port} {self.host}) or set check_host_key False (not recommended)")
        return self

    def _options(self) -> dict:
        try:
            key = asyncssh.import_private_key(
                self.private_key.get_secret_value(),
                self.passphrase.get_secret_value() if self.passphrase else None)
        except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
            # The message names the problem (format, wrong passphrase) and never the key itself.
            raise ValueError(f"private_key could not be loaded: {exc}; check the key text and passphrase") from None
        if self.check_host_key:
            known = asyncssh.import_known_hosts(self.known_hosts or "")
        else:
            warnings.warn(f"host-key checking is off for {self.host}:{self.port}: the connection can be intercepted",
                          stacklevel=3)
            known = None
        return dict(host=self.host, port=self.port, username=self.username, client_keys=[key], known_hosts=known,
                    config=None, agent_path=None, password_auth=False, kbdint_auth=False,
                    connect_timeout=self.connect_timeout_s, login_timeout=self.connect_timeout_s)

    @contextlib.asynccontextmanager
    async def connect(self) -> AsyncIterator[asyncssh.SSHClientConnection]:
        """An open, authenticated asyncssh connection; closed on exit."""
        conn = await asyncssh.connect(**self._options())
        try:
            yield conn
        finally:
            conn.close()
            await conn.wait_closed()

    async def run(self, argv: list[str], *, input: str | None = None,
                  conn: asyncssh.SSHClientConnection | None = None) -> SSHCommandResult:
        """Run `argv` on the host (each argument shell-quoted) with optional stdin; never raises on exit status.

        Pass `conn` (from `connect()`) to reuse one connection for several commands.
        """
        if not argv or not all(isinstance(a, str) for a in argv):
            raise TypeError("argv must be a non-empty list of strings")
        command = shlex.join(argv)
        if conn is None:
            async with self.connect() as own:
                completed = await own.run(command, input=input, check=False)
        else:
            completed = await conn.run(command, input=input, check=False)
        return SSHCommandResult(argv=list(argv), stdout=_text(completed.stdout), stderr=_text(completed.stderr),
                                exit_status=completed.exit_status if completed.exit_status is not None else -1)


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
