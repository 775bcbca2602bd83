"""Downloads: Invoke-WebRequest (-Uri -OutFile -UseBasicParsing) and Start-BitsTransfer. The host has no internet:
URLs are served by the installers' download catalog (`lab/windows/installers/catalog.py`); anything else fails
as the real download fails. Download time scales with the file's real size and the `slow` fault (`download`)."""

from __future__ import annotations

from typing import Any

from lab.windows.dispatch import PSObj
from lab.windows.filesystem import WinPathError

from .core import Invocation, register
from .files import resolve, write_error_for

DOWNLOAD_BYTES_PER_SECOND = 20 * 1024 * 1024


class _DownloadFailed(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _catalog(inv: Invocation) -> Any:
    if inv.context.catalog is not None:
        return inv.context.catalog
    try:
        from lab.windows.installers import catalog
    except ImportError:
        return None
    return getattr(catalog, "DEFAULT_CATALOG", None)


async def download(inv: Invocation, url: str) -> tuple[bytes, int]:
    """(bytes, real size) served at `url`, after the (scaled) download time. Raises _DownloadFailed with the
    WebException message."""
    cat = _catalog(inv)
    if cat is None:
        raise _DownloadFailed("Unable to connect to the remote server")
    try:
        data = cat.download(url)
    except Exception as exc:  # the catalog's DownloadError carries WebClient's wording
        raise _DownloadFailed(getattr(exc, "message", None) or "Unable to connect to the remote server") from None
    size = max(int(cat.nominal_bytes(url) or 0), len(data))
    await inv.host.delay("download", size / DOWNLOAD_BYTES_PER_SECOND)
    return data, size


@register("Invoke-WebRequest", parameters=("Uri", "OutFile", "UseBasicParsing", "Method", "Headers", "TimeoutSec",
                                           "Proxy", "ProxyCredential", "ProxyUseDefaultCredentials", "UserAgent",
                                           "MaximumRedirection", "PassThru", "Body", "ContentType", "Credential",
                                           "UseDefaultCredentials", "DisableKeepAlive", "SessionVariable",
                                           "WebSession", "InFile", "TransferEncoding", "Certificate",
                                           "CertificateThumbprint"),
          positional=("Uri",), aliases={"SV": "SessionVariable"}, mandatory=("Uri",),
          command_aliases=("iwr", "curl", "wget"))
async def invoke_web_request(inv: Invocation) -> None:
    """Invoke-WebRequest -Uri U [-OutFile F]: with -OutFile writes the file (its real size counts against the
    disk: disk_full fails it) and outputs nothing unless -PassThru; a failed download is a terminating
    WebCmdletWebResponseException."""
    url = str(inv.get("Uri"))
    inv.streams.progress("Web request", f"Reading response stream... (Number of bytes read: 0)", 0)
    try:
        data, size = await download(inv, url)
    except _DownloadFailed as exc:
        inv.fail(exc.message, "WebCmdletWebResponseException", "InvalidOperation",
                 exception_type="System.Net.WebException", target=url)
        return
    inv.streams.progress("Web request", f"Reading response stream... (Number of bytes read: {size})", 100)
    if inv.has("OutFile"):
        path = resolve(inv, inv.get("OutFile"))
        try:
            inv.host.fs.write_bytes(path, data, logical_size=size)
        except WinPathError as exc:
            inv.fail(exc.message, "System.IO.IOException", "WriteError" if "space" in exc.message else "NotSpecified",
                     exception_type=exc.exception_type, target=path)
        if not inv.switch("PassThru"):
            return
    text: Any
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data
    inv.output(PSObj(["Microsoft.PowerShell.Commands.BasicHtmlWebResponseObject",
                      "Microsoft.PowerShell.Commands.WebResponseObject", "System.Object"], {
        "StatusCode": 200, "StatusDescription": "OK", "Content": text, "RawContentLength": size,
        "Headers": {"Content-Length": str(size), "Content-Type": "application/octet-stream"},
        "RawContent": f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n",
    }, text if isinstance(text, str) else "System.Byte[]"))


@register("Start-BitsTransfer", parameters=("Source", "Destination", "Asynchronous", "Authentication", "Credential",
                                            "Description", "DisplayName", "Priority", "ProxyAuthentication",
                                            "ProxyBypass", "ProxyCredential", "ProxyList", "ProxyUsage",
                                            "RetryInterval", "RetryTimeout", "TransferPolicy", "TransferType",
                                            "Suspended", "Dynamic", "CustomHeaders"),
          positional=("Source", "Destination"), mandatory=("Source",),
          cmdlet_type="Microsoft.BackgroundIntelligentTransfer.Management.NewBitsTransferCommand")
async def start_bits_transfer(inv: Invocation) -> None:
    """Start-BitsTransfer -Source U -Destination F (synchronous)."""
    url = inv.str_list("Source")[0]
    dest = inv.get("Destination") or inv.context.cwd + "\\" + url.rstrip("/").rsplit("/", 1)[-1]
    try:
        data, size = await download(inv, url)
    except _DownloadFailed as exc:
        inv.fail(exc.message, "StartBitsTransferCOMException", "InvalidOperation",
                 exception_type="System.Runtime.InteropServices.COMException", target=url)
        return
    try:
        inv.host.fs.write_bytes(resolve(inv, dest), data, logical_size=size)
    except WinPathError as exc:
        write_error_for(inv, exc, "StartBitsTransfer")
