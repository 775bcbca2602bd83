"""WindowsHost block and PowerShellSession behaviour that needs no Windows host: metadata, validation, secret
hygiene, PSRP object conversion, error mapping, and real connection failures against local sockets."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest
import trustme
from prefect.testing.standard_test_suites import BlockStandardTestSuite
from pypsrp.complex_objects import GenericComplexObject
from pypsrp.exceptions import AuthenticationError, WinRMTransportError
from pypsrp.messages import ErrorRecordMessage

from prefect_windows_nodes.blocks import (
    RemoteCommandError,
    RemoteErrorRecord,
    WindowsHost,
    WinRMAuthError,
    WinRMCertificateError,
    WinRMProtocolError,
    WinRMTransientError,
)
from prefect_windows_nodes.blocks._psrp import error_record_from_pypsrp, map_winrm_error, to_plain

SECRET = "Pa55-w0rd-never-logged"


class TestWindowsHostBlockStandards(BlockStandardTestSuite):
    @pytest.fixture
    def block(self):
        return WindowsHost


def make_host(**kw) -> WindowsHost:
    return WindowsHost(**{"address": "127.0.0.1", "username": "Administrator", "password": SECRET, **kw})


def test_password_is_secret_everywhere():
    host = make_host()
    assert SECRET not in repr(host) and SECRET not in str(host)
    assert SECRET not in host.model_dump_json()
    assert host.client_kwargs()["password"] == SECRET  # only the pypsrp kwargs carry it


def test_secure_defaults_and_no_proxy():
    kw = make_host().client_kwargs()
    assert kw["ssl"] is True and kw["cert_validation"] is True and kw["port"] == 5986
    assert kw["no_proxy"] is True and kw["auth"] == "ntlm"
    assert make_host(cert_validation=False).client_kwargs("/tmp/ca.pem")["cert_validation"] is False
    assert make_host().client_kwargs("/tmp/ca.pem")["cert_validation"] == "/tmp/ca.pem"


def test_validation_refuses_insecure_or_confusing_settings():
    with pytest.raises(ValueError, match="basic auth over plain HTTP"):
        make_host(auth="basic", use_https=False)
    with pytest.raises(ValueError, match="PEM text"):
        make_host(ca_bundle="/etc/ssl/certs/lab-ca.crt")
    with pytest.raises(ValueError, match="read_timeout"):
        make_host(operation_timeout=30, read_timeout=30)
    with pytest.raises(ValueError):
        make_host(auth="digest")


def _obj(adapted=None, extended=None, types=(), to_string=None, property_sets=()):
    o = GenericComplexObject()
    o.adapted_properties = dict(adapted or {})
    o.extended_properties = dict(extended or {})
    o.types = list(types)
    o.to_string = to_string
    o.property_sets = list(property_sets)
    return o


def test_to_plain_converts_psobjects_recursively():
    status = _obj(types=["System.ServiceProcess.ServiceControllerStatus", "System.Enum"], to_string="Running",
                  property_sets=[4])
    svc = _obj(adapted={"Name": "kubelet", "Status": status}, extended={"StartType": "Automatic"},
               types=["System.ServiceProcess.ServiceController"])
    facts = _obj(extended={"Services": [svc], "Config": {"K8S_SERVICE_CIDR": "10.96.0.0/12"}, "UBR": 1999,
                           "PendingReboot": False, "Nothing": None})
    assert to_plain([facts]) == [{
        "Services": [{"Name": "kubelet", "Status": "Running", "StartType": "Automatic"}],
        "Config": {"K8S_SERVICE_CIDR": "10.96.0.0/12"}, "UBR": 1999, "PendingReboot": False, "Nothing": None,
    }]
    assert to_plain(_obj(to_string="plain text")) == "plain text"
    assert to_plain(_obj(property_sets=["wrapped"], to_string="wrapped")) == "wrapped"


def test_error_records_are_reduced_to_message_category_fqid():
    exc = _obj(adapted={"Message": "Cannot find path 'c:\\nope' because it does not exist."})
    rec = ErrorRecordMessage(exception=exc, fq_error="PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand",
                             category=13, target_name="c:\\nope")
    r = error_record_from_pypsrp(rec)
    assert r == RemoteErrorRecord(message="Cannot find path 'c:\\nope' because it does not exist.",
                                  category="ObjectNotFound",
                                  fqid="PathNotFound,Microsoft.PowerShell.Commands.GetItemCommand",
                                  target="c:\\nope")
    err = RemoteCommandError("Get-Item", [r, RemoteErrorRecord("second")])
    assert str(err) == "Get-Item: Cannot find path 'c:\\nope' because it does not exist. (+1 more)"
    assert err.errors[1].message == "second"


def test_error_mapping():
    assert isinstance(map_winrm_error(AuthenticationError("no"), "x"), WinRMAuthError)
    assert isinstance(map_winrm_error(WinRMTransportError("http", 401, ""), "x"), WinRMAuthError)
    for code in (500, 503, 429):
        e = map_winrm_error(WinRMTransportError("http", code, "busy"), "x")
        assert isinstance(e, WinRMTransientError) and isinstance(e, ConnectionError)
    assert isinstance(map_winrm_error(WinRMTransportError("http", 400, "bad"), "x"), WinRMProtocolError)


def test_tls_cut_is_transient_but_an_untrusted_certificate_is_not():
    import requests
    from urllib3.exceptions import MaxRetryError
    from urllib3.exceptions import SSLError as Urllib3SSLError

    def wrapped(inner: BaseException) -> requests.exceptions.SSLError:
        return requests.exceptions.SSLError(MaxRetryError(None, "/wsman", Urllib3SSLError(inner)))

    eof = ssl.SSLEOFError(8, "EOF occurred in violation of protocol (_ssl.c:2427)")
    assert isinstance(map_winrm_error(wrapped(eof), "x"), WinRMTransientError)
    verify = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    assert isinstance(map_winrm_error(wrapped(verify), "x"), WinRMCertificateError)


async def test_the_task_retry_policy_retries_only_transient_winrm_errors():
    """The tasks' async retry_condition_fn, fed real Prefect Failed states."""
    from prefect.states import exception_to_failed_state

    from prefect_windows_nodes.tasks._core.results import StepFailed, StepResult
    from prefect_windows_nodes.tasks._core.retry import retry_on_transient

    async def retried(exc: BaseException) -> bool:
        return await retry_on_transient(None, None, await exception_to_failed_state(exc))

    assert await retried(WinRMTransientError("connection reset"))
    assert await retried(map_winrm_error(WinRMTransportError("http", 503, ""), "x"))
    assert not await retried(WinRMAuthError("401"))
    assert not await retried(WinRMCertificateError("untrusted"))
    assert not await retried(RemoteCommandError("Get-Item", [RemoteErrorRecord("nope")]))
    assert not await retried(StepFailed(StepResult(step="windows_prereqs", target="h", status="failed")))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_refused_connection_is_transient():
    host = make_host(port=_free_port(), connection_timeout=2, operation_timeout=2, read_timeout=3)
    with pytest.raises(WinRMTransientError) as info:
        async with host.open_session():
            pass
    assert SECRET not in str(info.value)


@pytest.fixture
def untrusted_tls_server():
    """A TLS server whose certificate no configured CA signed; it accepts, handshakes (fails), closes."""
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            try:
                with ctx.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield sock.getsockname()[1], trustme.CA()  # a different CA than the one that signed the server cert
    stop.set()
    t.join()
    sock.close()


async def test_untrusted_certificate_is_refused_and_not_retried(untrusted_tls_server):
    port, other_ca = untrusted_tls_server
    host = make_host(port=port, ca_bundle=other_ca.cert_pem.bytes().decode(), connection_timeout=2,
                     operation_timeout=2, read_timeout=3)
    with pytest.raises(WinRMCertificateError):
        async with host.open_session():
            pass


async def test_kerberos_without_its_libraries_says_what_to_install():
    pytest.importorskip("spnego")
    try:
        import gssapi  # noqa: F401
        pytest.skip("gssapi is installed here")
    except ImportError:
        pass
    with pytest.raises(WinRMProtocolError, match="pyspnego\\[kerberos\\]"):
        async with make_host(auth="kerberos").open_session():
            pass
