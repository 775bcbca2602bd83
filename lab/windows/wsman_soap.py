"""WS-Management SOAP envelopes as a WinRM service reads and writes them ([MS-WSMV]).

`parse_request` extracts what the endpoint needs from a client envelope; `response` and `fault` build the answer.
`RelatesTo` always echoes the request's MessageID (pypsrp rejects anything else).
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "xml": "http://www.w3.org/XML/1998/namespace",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "wsman": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "wsmv": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "wsmanfault": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "wst": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "cfg": "http://schemas.microsoft.com/wbem/wsman/1/config",
    "pwsh": "http://schemas.microsoft.com/powershell",
}
for _prefix, _uri in NS.items():
    if _prefix != "xml":
        ET.register_namespace(_prefix, _uri)

TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
CREATE, DELETE, GET = TRANSFER + "Create", TRANSFER + "Delete", TRANSFER + "Get"
COMMAND, SEND, RECEIVE, SIGNAL = SHELL + "Command", SHELL + "Send", SHELL + "Receive", SHELL + "Signal"
ACTION_NAMES = {CREATE: "Create", DELETE: "Delete", GET: "Get", COMMAND: "Command", SEND: "Send",
                RECEIVE: "Receive", SIGNAL: "Signal"}
FAULT_ACTION = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
COMMAND_STATE_DONE = SHELL + "CommandState/Done"
COMMAND_STATE_RUNNING = SHELL + "CommandState/Running"

# Fault codes WinRM returns (decimal, as pypsrp's WSManFaultError.code shows them).
ERROR_OPERATION_TIMEDOUT = 2150858793  # 0x80338029
ERROR_INVALID_SELECTORS = 2150858843  # 0x8033805B: shell not found
ERROR_ACTION_NOT_SUPPORTED = 2150858771  # 0x80338013
ERROR_INVALID_XML = 2150858799  # 0x8033802F
ERROR_MAX_ENVELOPE_SIZE = 2150859025  # 0x80338111


@dataclass
class WSManRequest:
    """The parts of a WSMan request the endpoint acts on."""

    action: str
    message_id: str
    resource_uri: str
    selectors: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    operation_timeout: float = 60.0
    max_envelope_size: int = 153600
    body: ET.Element | None = None

    @property
    def action_name(self) -> str:
        return ACTION_NAMES.get(self.action, self.action.rsplit("/", 1)[-1])


class WSManFault(Exception):
    """A WSMan fault to answer with HTTP 500."""

    def __init__(self, code: int, subcode: str, reason: str, value: str = "s:Receiver") -> None:
        super().__init__(reason)
        self.code, self.subcode, self.reason, self.value = code, subcode, reason, value


def _duration_seconds(text: str | None, default: float) -> float:
    match = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?", (text or "").strip())
    if not match or not any(match.groups()):
        return default
    h, m, s = match.groups()
    return int(h or 0) * 3600 + int(m or 0) * 60 + float(s or 0)


def parse_request(raw: bytes) -> WSManRequest:
    """Parse a SOAP envelope; an unparseable one raises a WSManFault the endpoint answers with."""
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise WSManFault(ERROR_INVALID_XML, "w:SchemaValidationError",
                         f"The WS-Management service cannot process the request because the XML is invalid. {exc}",
                         "s:Sender") from None
    header = root.find("s:Header", NS)
    if header is None:
        raise WSManFault(ERROR_INVALID_XML, "w:SchemaValidationError", "The SOAP header is missing.", "s:Sender")

    def text(path: str) -> str:
        el = header.find(path, NS)
        return (el.text or "").strip() if el is not None else ""

    selectors = {s.attrib.get("Name", ""): (s.text or "") for s in header.findall("wsman:SelectorSet/wsman:Selector", NS)}
    options = {o.attrib.get("Name", ""): (o.text or "") for o in header.findall("wsman:OptionSet/wsman:Option", NS)}
    try:
        max_env = int(text("wsman:MaxEnvelopeSize") or 153600)
    except ValueError:
        max_env = 153600
    return WSManRequest(
        action=text("wsa:Action"),
        message_id=text("wsa:MessageID"),
        resource_uri=text("wsman:ResourceURI"),
        selectors=selectors,
        options=options,
        operation_timeout=_duration_seconds(text("wsman:OperationTimeout"), 60.0),
        max_envelope_size=max_env,
        body=root.find("s:Body", NS),
    )


def q(prefix: str, name: str) -> str:
    """`{namespace}name` for ElementTree."""
    return f"{{{NS[prefix]}}}{name}"


def _envelope(action: str, relates_to: str) -> tuple[ET.Element, ET.Element]:
    env = ET.Element(q("s", "Envelope"))
    header = ET.SubElement(env, q("s", "Header"))
    ET.SubElement(header, q("wsa", "Action")).text = action
    ET.SubElement(header, q("wsa", "MessageID")).text = f"uuid:{str(uuid.uuid4()).upper()}"
    ET.SubElement(header, q("wsa", "To")).text = ANONYMOUS
    ET.SubElement(header, q("wsa", "RelatesTo")).text = relates_to
    body = ET.SubElement(env, q("s", "Body"))
    return env, body


def response(request: WSManRequest, *children: ET.Element) -> bytes:
    """A `<Action>Response` envelope related to `request`, with `children` in the body."""
    env, body = _envelope(request.action + "Response", request.message_id)
    for child in children:
        body.append(child)
    return ET.tostring(env, encoding="utf-8", xml_declaration=False)


def fault(fault: WSManFault, relates_to: str, machine: str) -> bytes:
    """A SOAP Fault with the WSManFault detail pypsrp parses into `WSManFaultError(code, machine, reason)`."""
    env, body = _envelope(FAULT_ACTION, relates_to)
    f = ET.SubElement(body, q("s", "Fault"))
    code = ET.SubElement(f, q("s", "Code"))
    ET.SubElement(code, q("s", "Value")).text = fault.value
    sub = ET.SubElement(code, q("s", "Subcode"))
    ET.SubElement(sub, q("s", "Value")).text = fault.subcode
    reason = ET.SubElement(f, q("s", "Reason"))
    ET.SubElement(reason, q("s", "Text"), {q("xml", "lang"): "en-US"}).text = fault.reason
    detail = ET.SubElement(f, q("s", "Detail"))
    wf = ET.SubElement(detail, q("wsmanfault", "WSManFault"), {"Code": str(fault.code), "Machine": machine})
    ET.SubElement(wf, q("wsmanfault", "Message")).text = fault.reason
    return ET.tostring(env, encoding="utf-8", xml_declaration=False)


def operation_timeout_fault() -> WSManFault:
    return WSManFault(ERROR_OPERATION_TIMEDOUT, "w:TimedOut",
                      "The WS-Management service cannot complete the operation within the time specified in "
                      "OperationTimeout.")


def shell_not_found_fault(shell_id: str) -> WSManFault:
    return WSManFault(ERROR_INVALID_SELECTORS, "w:InvalidSelectors",
                      f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was "
                      "not found on the server. Possible causes are: the specified ShellId is incorrect or the shell "
                      "no longer exists on the server. Provide the correct ShellId or create a new shell and retry "
                      "the operation.", "s:Sender")


def action_not_supported_fault(action: str) -> WSManFault:
    return WSManFault(ERROR_ACTION_NOT_SUPPORTED, "a:ActionNotSupported",
                      f"The action is not supported by the service. Action: {action}", "s:Sender")


def envelope_too_large_fault(size: int, limit: int) -> WSManFault:
    return WSManFault(ERROR_MAX_ENVELOPE_SIZE, "w:EncodingLimit",
                      f"The WS-Management service cannot process the request. The request size ({size}) exceeds "
                      f"the maximum envelope size that is allowed ({limit}).", "s:Sender")
