"""The `WindowsHost` block: a Windows Server host reached over WinRM, and the PowerShell session it opens.

The block holds the fields (address, TLS, auth, the password as a secret); the session itself — pypsrp in worker
threads, typed errors, plain-object output — lives in `prefect_windows_nodes.blocks._psrp`.

Decisions documented here:
- `ca_bundle` is PEM *text* (not a path), so a block saved on a Prefect server works on any runner.
- Basic auth is refused over plain HTTP (the password would travel in clear).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Literal

from prefect.blocks.core import Block
from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from prefect_windows_nodes.blocks._psrp import PowerShellSession


# ------------------------------------------------------------------------------------------------- the block
class WindowsHost(Block):
    """A Windows Server host reachable over WinRM (PowerShell Remoting), and the credentials to manage it.

    HTTPS with certificate validation is the default; `ca_bundle` (PEM text) adds the CA that signed the
    host's WinRM certificate. The password is a secret and never appears in logs, reprs or errors.

    Examples:
        Run a cmdlet with named parameters on the host:
        ```python
        from prefect_windows_nodes.blocks.windows import WindowsHost

        host = WindowsHost.load("BLOCK_NAME")
        async with host.open_session() as ps:
            services = await ps.run("Get-Service", Name="kubelet")
        ```
    """

    _block_type_name = "Windows Host"
    _block_type_slug = "windows-host"
    _logo_url = "https://upload.wikimedia.org/wikipedia/commons/thumb/5/5f/Windows_logo_-_2012.svg/240px-Windows_logo_-_2012.svg.png"  # noqa: E501
    _documentation_url = "https://github.com/jborean93/pypsrp"
    _description = "A Windows Server host managed over WinRM/PSRP (HTTPS, validated certificate by default)."

    # Validation errors must not echo the input: it holds the password.
    model_config = ConfigDict(hide_input_in_errors=True)

    address: str = Field(description="Host name or IP address of the WinRM endpoint.")
    port: int = Field(default=5986, ge=1, le=65535, description="WinRM port (5986 for HTTPS, 5985 for HTTP).")
    use_https: bool = Field(default=True, description="Connect over HTTPS (recommended; required for basic auth).")
    cert_validation: bool = Field(
        default=True, description="Validate the host's TLS certificate (disable only for throw-away lab hosts).")
    ca_bundle: str | None = Field(
        default=None,
        description="PEM text of the CA certificate(s) that signed the WinRM certificate; system trust when empty.")
    auth: Literal["ntlm", "kerberos", "credssp", "basic"] = Field(
        default="ntlm", description="WinRM authentication protocol.")
    username: str = Field(description="User name (DOMAIN\\user, user@domain or a local user).")
    password: SecretStr = Field(description="Password of the user.")
    connection_timeout: int = Field(default=30, ge=1, description="Seconds to wait for a TCP/TLS connection.")
    operation_timeout: int = Field(
        default=20, ge=1, description="WSMan OperationTimeout in seconds (a long-poll Receive waits this long).")
    read_timeout: int = Field(
        default=30, ge=2, description="Seconds to wait for an HTTP reply; must exceed operation_timeout.")

    @field_validator("ca_bundle")
    @classmethod
    def _pem_only(cls, v: str | None) -> str | None:
        if v is not None and v.strip() and "-----BEGIN CERTIFICATE-----" not in v:
            raise ValueError("ca_bundle must be PEM text containing at least one CERTIFICATE block (not a path).")
        return v or None

    @model_validator(mode="after")
    def _consistent(self) -> "WindowsHost":
        if self.auth == "basic" and not self.use_https:
            raise ValueError("basic auth over plain HTTP would send the password in clear; use HTTPS.")
        if self.read_timeout <= self.operation_timeout:
            raise ValueError("read_timeout must be greater than operation_timeout.")
        return self

    def client_kwargs(self, ca_path: str | None = None) -> dict[str, Any]:
        """The pypsrp `Client`/`WSMan` keyword arguments for this host (includes the password: don't log)."""
        verify: bool | str = self.cert_validation
        if self.cert_validation and ca_path:
            verify = ca_path
        return dict(
            server=self.address, port=self.port, ssl=self.use_https, auth=self.auth,
            username=self.username, password=self.password.get_secret_value(),
            cert_validation=verify, connection_timeout=self.connection_timeout,
            operation_timeout=self.operation_timeout, read_timeout=self.read_timeout,
            encryption="auto", no_proxy=True, reconnection_retries=0,
        )

    @asynccontextmanager
    async def open_session(self) -> AsyncIterator["PowerShellSession"]:
        """Open a PowerShell session (one runspace pool) on the host; closed on exit.

        Raises WinRMAuthError, WinRMCertificateError, WinRMTransientError or WinRMProtocolError when the
        session cannot be opened."""
        session = PowerShellSession(self)
        try:
            await session.open()
            yield session
        finally:
            await session.close()


