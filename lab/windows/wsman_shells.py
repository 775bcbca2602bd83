"""The WSMan shell service of an emulated host: the actions pypsrp's RunspacePool uses (Create / Command / Send /
Receive / Signal / Delete, plus Get for `is_alive` and the server config), each shell being a PSRP runspace pool
(`lab/windows/psrp.py`). Transport and authentication live in `lab/windows/wsman.py`.
"""

from __future__ import annotations

import base64
import logging
import uuid
import xml.etree.ElementTree as ET
from typing import Callable

from psrpcore import PSRPCoreError

from . import wsman_soap as soap
from .dispatch import Dispatcher
from .psrp import OperationTimedOut, PSRPShell, UnknownCommand
from .wsman_soap import WSManFault, WSManRequest, q

log = logging.getLogger(__name__)

POWERSHELL_URI = "http://schemas.microsoft.com/powershell/"
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"


class ShellService:
    """The shells (runspace pools) of one endpoint and the WSMan actions on them.

    `records` is the endpoint's `WireRecords` (actions and faults are counted there); `address()` gives the
    endpoint URL for Create responses; `on_change()` is called whenever a Receive parks or returns.
    """

    def __init__(self, dispatcher: Dispatcher, *, records, address: Callable[[], str], machine: str,
                 max_envelope_size: int, on_change: Callable[[], None]) -> None:
        self.dispatcher = dispatcher
        self.records = records
        self.address = address
        self.machine = machine
        self.max_envelope_size = max_envelope_size
        self.on_change = on_change
        self.shells: dict[str, PSRPShell] = {}
        self.waiting_receives = 0  # Receives parked until their pipeline has output (pypsrp's long poll)

    def close_all(self) -> None:
        """Close every shell (their running pipelines are cancelled)."""
        for shell in self.shells.values():
            shell.close()
        self.shells.clear()

    async def handle(self, message: bytes, owner: str, client: str) -> tuple[int, bytes]:
        """Answer one decrypted SOAP envelope from `owner` (the authenticated user) at `client` (ip:port):
        (HTTP status, response envelope). Faults are answered with status 500."""
        relates_to = ""
        try:
            if len(message) > self.max_envelope_size:
                raise soap.envelope_too_large_fault(len(message), self.max_envelope_size)
            request = soap.parse_request(message)
            relates_to = request.message_id
            body = await self._action(request, owner, client)
            self.records.actions[request.action_name] += 1
            return 200, body
        except WSManFault as exc:
            self.records.faults[exc.code] += 1
            return 500, soap.fault(exc, relates_to, self.machine)
        except (PSRPCoreError, ValueError, KeyError, TypeError) as exc:
            # Undecodable PSRP data (e.g. pypsrp serializes ints beyond Int32 as <I32>): a fault, not a dead socket.
            log.warning("invalid PSRP data: %s", exc)
            fault = WSManFault(2152992672, "w:InternalError", f"The PowerShell remoting data was invalid: {exc}")
            self.records.faults[fault.code] += 1
            return 500, soap.fault(fault, relates_to, self.machine)

    async def _action(self, request: WSManRequest, owner: str, client: str) -> bytes:
        action = request.action
        if action == soap.CREATE:
            return self._create(request, owner, client)
        if action == soap.GET:
            return self._get(request)
        shell_id = request.selectors.get("ShellId", "").upper()
        shell = self.shells.get(shell_id)
        if shell is None:
            raise soap.shell_not_found_fault(shell_id)
        try:
            if action == soap.COMMAND:
                return self._command(request, shell)
            if action == soap.SEND:
                return self._send(request, shell)
            if action == soap.RECEIVE:
                return await self._receive(request, shell)
            if action == soap.SIGNAL:
                return self._signal(request, shell)
            if action == soap.DELETE:
                self.shells.pop(shell_id, None)
                shell.close()
                return soap.response(request)
        except UnknownCommand as exc:
            raise WSManFault(soap.ERROR_INVALID_SELECTORS, "w:InvalidSelectors",
                             f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the "
                             f"command with CommandId {exc.args[0]} was not found on the server.", "s:Sender") from None
        raise soap.action_not_supported_fault(action)

    def _create(self, request: WSManRequest, owner: str, client: str) -> bytes:
        if not request.resource_uri.startswith(POWERSHELL_URI):
            raise WSManFault(soap.ERROR_ACTION_NOT_SUPPORTED, "w:ActionNotSupported",
                             f"The WS-Management service does not support the resource {request.resource_uri} "
                             "in this lab: only PowerShell remoting shells are emulated.", "s:Sender")
        shell_el = request.body.find("rsp:Shell", soap.NS) if request.body is not None else None
        if shell_el is None:
            raise WSManFault(soap.ERROR_INVALID_XML, "w:SchemaValidationError", "The Shell element is missing.",
                             "s:Sender")
        shell_id = (shell_el.attrib.get("ShellId") or str(uuid.uuid4())).upper()
        creation = shell_el.find("pwsh:creationXml", soap.NS)
        shell = PSRPShell(shell_id, self.dispatcher)
        if creation is not None and creation.text:
            shell.create(base64.b64decode(creation.text))
        self.shells[shell_id] = shell

        created = ET.Element(q("wst", "ResourceCreated"))
        ET.SubElement(created, q("wsa", "Address")).text = self.address()
        ref = ET.SubElement(created, q("wsa", "ReferenceParameters"))
        ET.SubElement(ref, q("wsman", "ResourceURI")).text = request.resource_uri
        selectors = ET.SubElement(ref, q("wsman", "SelectorSet"))
        ET.SubElement(selectors, q("wsman", "Selector"), {"Name": "ShellId"}).text = shell_id
        info = self._shell_info(shell_id, request.resource_uri, owner, client)
        return soap.response(request, created, info)

    def _shell_info(self, shell_id: str, resource_uri: str, owner: str, client: str) -> ET.Element:
        info = ET.Element(q("rsp", "Shell"))
        for name, text in [("ShellId", shell_id), ("ResourceUri", resource_uri), ("Owner", owner),
                           ("ClientIP", client.rsplit(":", 1)[0]), ("IdleTimeOut", "PT7200.000S"),
                           ("InputStreams", "stdin pr"), ("OutputStreams", "stdout"),
                           ("ShellRunTime", "P0DT0H0M0S"), ("ShellInactivity", "P0DT0H0M0S"), ("State", "Connected")]:
            ET.SubElement(info, q("rsp", name)).text = text
        return info

    def _get(self, request: WSManRequest) -> bytes:
        if request.resource_uri.rstrip("/").endswith("/config"):
            config = ET.Element(q("cfg", "Config"))
            ET.SubElement(config, q("cfg", "MaxEnvelopeSizekb")).text = str(self.max_envelope_size // 1024)
            ET.SubElement(config, q("cfg", "MaxTimeoutms")).text = "60000"
            return soap.response(request, config)
        if request.resource_uri.startswith(SHELL_URI):
            shell_id = request.selectors.get("ShellId", "").upper()
            if shell_id not in self.shells:
                raise soap.shell_not_found_fault(shell_id)
            return soap.response(request, self._shell_info(shell_id, request.resource_uri, "", ""))
        raise soap.action_not_supported_fault(request.action)

    def _command(self, request: WSManRequest, shell: PSRPShell) -> bytes:
        line = request.body.find("rsp:CommandLine", soap.NS)
        if line is None:
            raise WSManFault(soap.ERROR_INVALID_XML, "w:SchemaValidationError", "The CommandLine element is missing.",
                             "s:Sender")
        command_id = (line.attrib.get("CommandId") or str(uuid.uuid4())).upper()
        args = line.find("rsp:Arguments", soap.NS)
        command_id = shell.command(command_id, base64.b64decode(args.text or "") if args is not None else b"")
        resp = ET.Element(q("rsp", "CommandResponse"))
        ET.SubElement(resp, q("rsp", "CommandId")).text = command_id
        return soap.response(request, resp)

    def _send(self, request: WSManRequest, shell: PSRPShell) -> bytes:
        for stream in request.body.findall("rsp:Send/rsp:Stream", soap.NS):
            shell.send(stream.attrib.get("CommandId"), base64.b64decode(stream.text or ""))
        return soap.response(request, ET.Element(q("rsp", "SendResponse")))

    async def _receive(self, request: WSManRequest, shell: PSRPShell) -> bytes:
        desired = request.body.find("rsp:Receive/rsp:DesiredStream", soap.NS)
        command_id = desired.attrib.get("CommandId") if desired is not None else None
        # What fits in the client's MaxEnvelopeSize once base64-encoded, leaving room for the SOAP around it.
        max_bytes = max((request.max_envelope_size - 2048) * 3 // 4, 1024)
        self.waiting_receives += 1
        self.on_change()
        try:
            data, done = await shell.receive(command_id, max_bytes, request.operation_timeout)
        except OperationTimedOut:
            raise soap.operation_timeout_fault() from None
        finally:
            self.waiting_receives -= 1
            self.on_change()
        resp = ET.Element(q("rsp", "ReceiveResponse"))
        attrs = {"Name": "stdout"}
        if command_id:
            attrs["CommandId"] = command_id.upper()
        if done:
            attrs["End"] = "true"
        ET.SubElement(resp, q("rsp", "Stream"), attrs).text = base64.b64encode(data).decode("ascii")
        if command_id:
            state = soap.COMMAND_STATE_DONE if done else soap.COMMAND_STATE_RUNNING
            ET.SubElement(resp, q("rsp", "CommandState"), {"CommandId": command_id.upper(), "State": state})
        return soap.response(request, resp)

    def _signal(self, request: WSManRequest, shell: PSRPShell) -> bytes:
        sig = request.body.find("rsp:Signal", soap.NS)
        code_el = sig.find("rsp:Code", soap.NS) if sig is not None else None
        shell.signal(sig.attrib.get("CommandId", "") if sig is not None else "",
                     (code_el.text or "").strip() if code_el is not None else "")
        return soap.response(request, ET.Element(q("rsp", "SignalResponse")))
