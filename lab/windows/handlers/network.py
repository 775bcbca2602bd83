"""Networking: Get-NetAdapter, Get-NetIPAddress, Test-NetConnection, Get-HnsNetwork / Get-HnsEndpoint /
Remove-HnsNetwork (HostNetworkingService module), Get-NetFirewallRule / Get-NetFirewallPortFilter /
New-NetFirewallRule / Remove-NetFirewallRule."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from lab.windows.dispatch import PSObj
from lab.windows.host import FirewallRule, HnsEndpoint, HnsNetwork, WindowsHost

from .core import Invocation, register
from .objects import cim, has_wildcard, match_any

_STD = "ROOT/StandardCimv2"
TCP_CONNECT_TIMEOUT_S = 21.0     # what a failed TCP connect costs Test-NetConnection on Windows


def _cdxml_not_found(inv: Invocation, cls: str, prop: str, value: Any) -> None:
    inv.error(f"No {cls} objects found with property '{prop}' equal to '{value}'.  Verify the value of the "
              f"property and retry.", f"CmdletizationQuery_NotFound_{prop}", "ObjectNotFound",
              exception_type="Microsoft.PowerShell.Cmdletization.Cim.CimJobException", target=value)


# ---- adapters and addresses --------------------------------------------------------------------------------------
@register("Get-NetAdapter", parameters=("Name", "InterfaceDescription", "InterfaceIndex", "IncludeHidden",
                                        "Physical", "CimSession", "ThrottleLimit", "AsJob"),
          positional=("Name",), aliases={"ifAlias": "Name", "InterfaceAlias": "Name", "ifDesc": "InterfaceDescription",
                                         "ifIndex": "InterfaceIndex", "Session": "CimSession"},
          cmdlet_type="Get-NetAdapter")
def get_net_adapter(inv: Invocation) -> None:
    """Get-NetAdapter [-Name <wildcards>]."""
    names = inv.str_list("Name")
    found = False
    for a in inv.host.adapters:
        if names and not match_any(a.name, names):
            continue
        if inv.has("InterfaceIndex") and a.if_index not in [int(x) for x in inv.str_list("InterfaceIndex")]:
            continue
        if inv.switch("Physical") and a.virtual:
            continue
        found = True
        inv.output(cim("MSFT_NetAdapter", {
            "Name": a.name, "InterfaceDescription": a.interface_description, "ifIndex": a.if_index,
            "InterfaceIndex": a.if_index, "ifAlias": a.name, "InterfaceAlias": a.name, "Status": a.status,
            "MacAddress": a.mac_address, "LinkSpeed": a.link_speed, "Virtual": a.virtual,
            "MediaConnectionState": "Connected" if a.status == "Up" else "Disconnected",
            "ComponentID": "vms_mp" if not a.virtual else "vms_pp", "DriverDescription": a.interface_description,
        }, namespace=_STD, parents=("CIM_NetworkPort",), to_string=a.name))
    if names and not found and not any(has_wildcard(n) for n in names):
        _cdxml_not_found(inv, "MSFT_NetAdapter", "Name", names[0])


@register("Get-NetIPAddress", parameters=("IPAddress", "InterfaceIndex", "InterfaceAlias", "AddressFamily", "Type",
                                          "PrefixLength", "PrefixOrigin", "SuffixOrigin", "AddressState",
                                          "SkipAsSource", "PolicyStore", "IncludeAllCompartments", "CimSession",
                                          "ThrottleLimit", "AsJob"),
          positional=("IPAddress",), aliases={"ifIndex": "InterfaceIndex", "ifAlias": "InterfaceAlias",
                                               "Session": "CimSession"},
          cmdlet_type="Get-NetIPAddress")
def get_net_ip_address(inv: Invocation) -> None:
    """Get-NetIPAddress [-AddressFamily IPv4|IPv6] [-InterfaceAlias] [-InterfaceIndex] [-IPAddress]."""
    fam = str(inv.get("AddressFamily", "")).lower()
    fam = {"2": "ipv4", "23": "ipv6"}.get(fam, fam)
    aliases = inv.str_list("InterfaceAlias")
    ips = inv.str_list("IPAddress")
    out = []
    for a in inv.host.ip_addresses:
        if fam and a.address_family.lower() != fam:
            continue
        if aliases and not match_any(a.interface_alias, aliases):
            continue
        if inv.has("InterfaceIndex") and a.if_index not in [int(x) for x in inv.str_list("InterfaceIndex")]:
            continue
        if ips and not match_any(a.ip_address, ips):
            continue
        if inv.has("PrefixOrigin") and a.prefix_origin.lower() != str(inv.get("PrefixOrigin")).lower():
            continue
        out.append(a)
    for a in out:
        inv.output(cim("MSFT_NetIPAddress", {
            "IPAddress": a.ip_address, "InterfaceIndex": a.if_index, "InterfaceAlias": a.interface_alias,
            "AddressFamily": a.address_family, "Type": "Unicast", "PrefixLength": a.prefix_length,
            "PrefixOrigin": a.prefix_origin, "SuffixOrigin": "Link" if a.prefix_origin == "WellKnown" else a.prefix_origin,
            "AddressState": a.address_state, "ValidLifetime": None, "PreferredLifetime": None,
            "SkipAsSource": False, "PolicyStore": "ActiveStore",
        }, namespace=_STD, parents=("MSFT_NetIPAddress",), to_string=a.ip_address))
    if not out and (ips or aliases or inv.has("InterfaceIndex")):
        inv.error("No matching MSFT_NetIPAddress objects found by CIM query for instances of the "
                  "ROOT/StandardCimv2/MSFT_NetIPAddress class on the  CIM server: SELECT * FROM MSFT_NetIPAddress. "
                  "Verify query parameters and retry.", "CmdletizationQuery_NotFound", "ObjectNotFound",
                  exception_type="Microsoft.PowerShell.Cmdletization.Cim.CimJobException")


# ---- Test-NetConnection ------------------------------------------------------------------------------------------
_COMMON_PORTS = {"http": 80, "rdp": 3389, "smb": 445, "winrm": 5985}


def _resolve_name(h: WindowsHost, name: str) -> str | None:
    """The address a name resolves to from the host, or None (the lab has no DNS beyond these)."""
    n = name.lower().strip("[]")
    try:
        ipaddress.ip_address(n)
        return n
    except ValueError:
        pass
    if n == "localhost":
        return "127.0.0.1"
    if n in (h.computer_name.lower(), h.netbios_name.lower()):
        return h.primary_ipv4()
    if any(host == n for host, _ in h.reachable):
        return n
    return None


@register("Test-NetConnection", parameters=("ComputerName", "Port", "CommonTCPPort", "TraceRoute", "Hops",
                                            "DiagnoseRouting", "ConstrainSourceAddress", "ConstrainInterface",
                                            "InformationLevel"),
          positional=("ComputerName",), aliases={"RemoteAddress": "ComputerName", "cn": "ComputerName",
                                                  "RemotePort": "Port"},
          cmdlet_type="Test-NetConnection", command_aliases=("TNC",))
async def test_net_connection(inv: Invocation) -> None:
    """Test-NetConnection -ComputerName H -Port P: TcpTestSucceeded True only for endpoints the lab makes
    reachable from this host (the Kubernetes API server); a failed connect warns and takes ~21 s (scaled)."""
    h = inv.host
    name = str(inv.get("ComputerName") or "internetbeacon.msedge.net")
    port = inv.get("Port")
    if port is None and inv.has("CommonTCPPort"):
        port = _COMMON_PORTS.get(str(inv.get("CommonTCPPort")).lower())
    addr = _resolve_name(h, name)
    quiet = str(inv.get("InformationLevel", "")).lower() == "quiet"
    tcp_ok = ping_ok = False
    if addr is None:
        inv.warning(f"Name resolution of {name} failed -- Status: No such host is known")
    else:
        ping_ok = any(host == addr for host, _ in h.reachable) or addr in ("127.0.0.1", h.primary_ipv4())
        if port is not None:
            tcp_ok = h.tcp_reachable(addr, int(port)) or h.tcp_reachable(name, int(port))
            if not tcp_ok:
                await h.delay("tcp", TCP_CONNECT_TIMEOUT_S)
                inv.warning(f"TCP connect to ({addr} : {port}) failed")
        if not ping_ok:
            inv.warning(f"Ping to {addr} failed with status: TimedOut")
    if quiet:
        inv.output(tcp_ok if port is not None else ping_ok)
        return
    props: dict[str, Any] = {
        "ComputerName": name, "RemoteAddress": addr, "InterfaceAlias": "Ethernet",
        "SourceAddress": {"IPAddress": h.primary_ipv4(), "InterfaceAlias": "Ethernet"},
        "NameResolutionSucceeded": addr is not None, "PingSucceeded": ping_ok,
        "PingReplyDetails": {"Address": addr, "Status": "Success" if ping_ok else "TimedOut", "RoundtripTime": 0},
    }
    if port is not None:
        props["RemotePort"] = int(port)
        props["TcpTestSucceeded"] = tcp_ok
    inv.output(PSObj(["TestNetConnectionResult", "System.Object"], props, "TestNetConnectionResult"))


# ---- HNS ---------------------------------------------------------------------------------------------------------
def hns_network_obj(h: WindowsHost, n: HnsNetwork) -> dict[str, Any]:
    """Get-HnsNetwork's object for a network (the JSON HNS returns, as a PSCustomObject)."""
    count = sum(1 for e in h.hns.endpoints if e.network_id == n.id)
    return {"ActivityId": str(uuid.uuid5(uuid.NAMESPACE_OID, n.id)).upper(), "AdditionalParams": {},
            "CurrentEndpointCount": count, "Extensions": [], "Flags": 0, "Health": {"LastErrorCode": 0,
                                                                                   "LastUpdateTime": 0},
            "ID": n.id, "IPv6": False, "LayeredOn": "", "MacPools": [], "MaxConcurrentEndpoints": count,
            "Name": n.name, "NetworkAdapterName": n.network_adapter_name, "ManagementIP": n.management_ip,
            "Policies": list(n.extra.get("Policies", [])), "State": 1, "Subnets": [dict(s) for s in n.subnets],
            "TotalEndpoints": count, "Type": n.type, "Version": 42949672963,
            **{k: v for k, v in n.extra.items() if k != "Policies"}}


def hns_endpoint_obj(h: WindowsHost, e: HnsEndpoint) -> dict[str, Any]:
    """Get-HnsEndpoint's object for an endpoint."""
    net = next((n for n in h.hns.networks if n.id == e.network_id), None)
    return {"ActivityId": str(uuid.uuid5(uuid.NAMESPACE_OID, e.id)).upper(), "ID": e.id, "Name": e.name,
            "VirtualNetwork": e.network_id, "VirtualNetworkName": net.name if net else "",
            "IPAddress": e.ip_address, "MacAddress": e.mac_address, "IsRemoteEndpoint": e.is_remote,
            "State": 1, "SharedContainers": [], "Policies": [], "Version": 42949672963, **e.extra}


@register("Get-HnsNetwork", parameters=("Id", "Detailed", "Version"), cmdlet_type="Get-HnsNetwork")
def get_hns_network(inv: Invocation) -> None:
    """Get-HnsNetwork [-Id]: every HNS network (empty output when there are none)."""
    want = str(inv.get("Id") or "").lower()
    for n in inv.host.hns.networks:
        if want and want not in (n.id.lower(), "00000000-0000-0000-0000-000000000000"):
            continue
        inv.output(hns_network_obj(inv.host, n))


@register("Get-HnsEndpoint", parameters=("Id", "Detailed", "Version"), cmdlet_type="Get-HnsEndpoint")
def get_hns_endpoint(inv: Invocation) -> None:
    """Get-HnsEndpoint [-Id]."""
    want = str(inv.get("Id") or "").lower()
    for e in inv.host.hns.endpoints:
        if want and want not in (e.id.lower(), "00000000-0000-0000-0000-000000000000"):
            continue
        inv.output(hns_endpoint_obj(inv.host, e))


def _ids_from_input(inv: Invocation) -> list[str]:
    items = inv.get("InputObject")
    items = items if isinstance(items, list) else ([items] if items is not None else list(inv.input))
    out = []
    for it in items:
        props = it.properties if isinstance(it, PSObj) else it if isinstance(it, dict) else {}
        if props.get("ID"):
            out.append(str(props["ID"]))
    return out


@register("Remove-HnsNetwork", parameters=("InputObject",), positional=("InputObject",),
          cmdlet_type="Remove-HnsNetwork")
def remove_hns_network(inv: Invocation) -> None:
    """`Get-HnsNetwork | ? Name -eq X | Remove-HnsNetwork`: delete the networks piped in (drops connections when
    the deleted network carried the management NIC)."""
    for nid in _ids_from_input(inv):
        net = next((n for n in inv.host.hns.networks if n.id == nid), None)
        if net is not None and inv.host.hns.delete_network(nid) and net.management_ip:
            inv.host.drop_connections()


@register("Remove-HnsEndpoint", parameters=("InputObject",), positional=("InputObject",),
          cmdlet_type="Remove-HnsEndpoint")
def remove_hns_endpoint(inv: Invocation) -> None:
    """Delete the HNS endpoints piped in."""
    for eid in _ids_from_input(inv):
        inv.host.hns.delete_endpoint(eid)


# ---- firewall ----------------------------------------------------------------------------------------------------
def firewall_obj(r: FirewallRule) -> PSObj:
    """Get-NetFirewallRule's object."""
    return cim("MSFT_NetFirewallRule", {
        "Name": r.name, "ID": r.name, "DisplayName": r.display_name or r.name, "Group": r.group,
        "DisplayGroup": r.group, "Enabled": "True" if r.enabled else "False", "Profile": r.profile,
        "Direction": r.direction, "Action": r.action, "EdgeTraversalPolicy": "Block", "PrimaryStatus": "OK",
        "Status": "The rule was parsed successfully from the store. (65536)", "EnforcementStatus": "NotApplicable",
        "PolicyStoreSource": "PersistentStore", "PolicyStoreSourceType": "Local", "Description": "",
    }, namespace="root/standardcimv2", parents=("MSFT_NetFirewallRule",), to_string=r.name)


def _select_rules(inv: Invocation) -> list[FirewallRule]:
    rules = inv.host.firewall_rules
    names, displays = inv.str_list("Name"), inv.str_list("DisplayName")
    if names:
        picked = [r for r in rules if match_any(r.name, names)]
        if not picked and not any(has_wildcard(n) for n in names):
            _cdxml_not_found(inv, "MSFT_NetFirewallRule", "Name", names[0])
        rules = picked
    if displays:
        picked = [r for r in rules if match_any(r.display_name, displays)]
        if not picked and not any(has_wildcard(n) for n in displays):
            _cdxml_not_found(inv, "MSFT_NetFirewallRule", "DisplayName", displays[0])
        rules = picked
    if inv.has("Direction"):
        rules = [r for r in rules if r.direction.lower() == str(inv.get("Direction")).lower()]
    if inv.has("Enabled"):
        want = str(inv.get("Enabled")).lower() in ("true", "1")
        rules = [r for r in rules if r.enabled == want]
    return rules


@register("Get-NetFirewallRule", parameters=("Name", "DisplayName", "Description", "DisplayGroup", "Group",
                                             "Enabled", "Direction", "Action", "PolicyStore", "All", "CimSession",
                                             "ThrottleLimit", "AsJob"),
          positional=("Name",), aliases={"ID": "Name", "Session": "CimSession"}, cmdlet_type="Get-NetFirewallRule")
def get_net_firewall_rule(inv: Invocation) -> None:
    """Get-NetFirewallRule [-Name] [-DisplayName]: unknown exact names are CmdletizationQuery_NotFound errors."""
    for r in _select_rules(inv):
        inv.output(firewall_obj(r))


@register("Get-NetFirewallPortFilter", parameters=("AssociatedNetFirewallRule", "Protocol", "All", "PolicyStore",
                                                   "CimSession"),
          cmdlet_type="Get-NetFirewallPortFilter")
def get_net_firewall_port_filter(inv: Invocation) -> None:
    """`Get-NetFirewallRule -Name X | Get-NetFirewallPortFilter`: protocol and ports of the piped rules."""
    items = inv.get("AssociatedNetFirewallRule")
    items = items if isinstance(items, list) else ([items] if items is not None else list(inv.input))
    names = [it.properties.get("Name") if isinstance(it, PSObj) else str(it) for it in items]
    rules = [r for r in inv.host.firewall_rules if r.name in names] if names else inv.host.firewall_rules
    for r in rules:
        inv.output(cim("MSFT_NetProtocolPortFilter", {
            "InstanceID": r.name, "Protocol": r.protocol, "LocalPort": r.local_port, "RemotePort": "Any",
            "IcmpType": "Any", "DynamicTarget": "Any"}, namespace="root/standardcimv2",
            parents=("MSFT_NetProtocolPortFilter",), to_string=r.name))


@register("New-NetFirewallRule", parameters=("DisplayName", "Name", "Description", "Group", "Enabled", "Profile",
                                             "Direction", "Action", "Protocol", "LocalPort", "RemotePort",
                                             "LocalAddress", "RemoteAddress", "Program", "Service", "EdgeTraversalPolicy",
                                             "PolicyStore", "CimSession", "ThrottleLimit", "AsJob"),
          aliases={"ID": "Name", "Session": "CimSession"}, mandatory=("DisplayName",), should_process=True,
          cmdlet_type="New-NetFirewallRule")
def new_net_firewall_rule(inv: Invocation) -> None:
    """New-NetFirewallRule -DisplayName D [-Name N] -Direction -Protocol -LocalPort -Action: a duplicate Name is
    'Cannot create a file when that file already exists.'"""
    h = inv.host
    name = str(inv.get("Name") or "{" + str(uuid.uuid4()) + "}")
    if inv.has("Name") and any(r.name.lower() == name.lower() for r in h.firewall_rules):
        inv.error("Cannot create a file when that file already exists.", "Windows System Error 183",
                  "ResourceExists", exception_type="Microsoft.Management.Infrastructure.CimException", target=name)
        return
    if inv.what_if:
        return
    ports = inv.str_list("LocalPort")
    rule = FirewallRule(name=name, display_name=str(inv.get("DisplayName")),
                        direction=str(inv.get("Direction", "Inbound")), action=str(inv.get("Action", "Allow")),
                        protocol=str(inv.get("Protocol", "Any")), local_port=",".join(ports) if ports else "Any",
                        enabled=str(inv.get("Enabled", "True")).lower() in ("true", "1"),
                        profile=str(inv.get("Profile", "Any")), group=str(inv.get("Group", "")))
    h.add_firewall_rule(rule)
    inv.output(firewall_obj(rule))


@register("Remove-NetFirewallRule", parameters=("Name", "DisplayName", "Group", "PolicyStore", "CimSession"),
          positional=("Name",), aliases={"ID": "Name"}, should_process=True, cmdlet_type="Remove-NetFirewallRule")
def remove_net_firewall_rule(inv: Invocation) -> None:
    """Remove-NetFirewallRule -Name / -DisplayName."""
    for r in _select_rules(inv):
        if not inv.what_if:
            inv.host.firewall_rules.remove(r)
            inv.host.note_change(f"remove firewall rule {r.name}")
