"""nslookup (BIND 9 on Linux images, nslookup.exe on Windows) and dig, answering through the lab's DNS model."""

from __future__ import annotations

import random

from . import dns
from .commands import Exec, Proc, command

NSLOOKUP_TIMEOUT = 15.0       # BIND nslookup: 5 s × 3 tries
WINDOWS_NSLOOKUP_TIMEOUT = 8.0


def _server_arg(ex: Exec, args: list[str]) -> tuple[str, str | None]:
    names = [a for a in args if not a.startswith("-")]
    return (names[0] if names else ""), (names[1] if len(names) > 1 else None)


@command("nslookup")
async def nslookup(ex: Exec, argv: list[str], stdin: str) -> Proc:
    name, server = _server_arg(ex, argv[1:])
    if not name:
        return Proc("", "nslookup: interactive mode is not supported here\n", 1)
    server_ip = server or ex.net.nameserver(ex.pod) or ""
    ans = ex.net.resolve(ex.pod, name, server_ip or None)
    if ans.status == "timeout":
        await ex.sleep(NSLOOKUP_TIMEOUT)
        return Proc(";; connection timed out; no servers could be reached\n\n", "", 1)
    head = f"Server:\t\t{server_ip}\nAddress:\t{server_ip}#53\n\n"
    if ans.status == "ok" and ans.cname and not ans.addresses:
        return Proc(head + f"{ans.name}\tcanonical name = {ans.cname}.\n** server can't find {ans.cname}: "
                           "SERVFAIL\n\n", "", 1)
    if ans.status == "ok":
        body = "".join(f"Name:\t{ans.name}\nAddress: {ip}\n" for ip in ans.addresses)
        return Proc(head + body + "\n", "", 0)
    return Proc(head + f"** server can't find {name}: {'NXDOMAIN' if ans.status == 'nxdomain' else 'SERVFAIL'}\n\n",
                "", 1)


@command("nslookup-windows")
async def nslookup_windows(ex: Exec, argv: list[str], stdin: str) -> Proc:
    name, server = _server_arg(ex, argv[1:])
    server_ip = server or ex.net.nameserver(ex.pod) or ""
    if not name:
        return Proc("", "*** Can't find server name for address: interactive mode not supported\n", 1)
    ans = ex.net.resolve(ex.pod, name, server_ip or None)
    if ans.status == "timeout":
        await ex.sleep(WINDOWS_NSLOOKUP_TIMEOUT)
        out = ("DNS request timed out.\r\n    timeout was 2 seconds.\r\nServer:  UnKnown\r\n"
               f"Address:  {server_ip}\r\n\r\n" + "DNS request timed out.\r\n    timeout was 2 seconds.\r\n" * 4 +
               "*** Request to UnKnown timed-out\r\n")
        return Proc(out, "", 1)
    server_name = dns.reverse(ex.ctx, server_ip) or "UnKnown"
    head = f"Server:  {server_name}\r\nAddress:  {server_ip}\r\n\r\n"
    if ans.status == "ok" and ans.addresses:
        addr = ("Address:  " + ans.addresses[0]) if len(ans.addresses) == 1 else \
            "Addresses:  " + "\r\n          ".join(ans.addresses)
        return Proc(head + f"Name:    {ans.name}\r\n{addr}\r\n\r\n", "", 0)
    return Proc(head, f"*** {server_name} can't find {name}: Non-existent domain\r\n", 1)


@command("dig")
async def dig(ex: Exec, argv: list[str], stdin: str) -> Proc:
    short = "+short" in argv
    search = "+search" in argv
    names = [a for a in argv[1:] if not a.startswith(("+", "-", "@")) and a not in ("A", "IN")]
    servers = [a[1:] for a in argv[1:] if a.startswith("@")]
    if not names:
        return Proc("", "dig: no name given\n", 1)
    name = names[0]
    server = servers[0] if servers else ex.net.nameserver(ex.pod) or ""
    ans = ex.net.resolve(ex.pod, name if search else name.rstrip(".") + ".", server or None)
    if ans.status == "timeout":
        await ex.sleep(NSLOOKUP_TIMEOUT)
        return Proc(f";; communications error to {server}#53: timed out\n" * 3 +
                    "\n; <<>> DiG 9.18.13 <<>> " + " ".join(argv[1:]) +
                    "\n;; global options: +cmd\n;; no servers could be reached\n", "", 9)
    if short:
        return Proc("".join(f"{ip}\n" for ip in ans.addresses) if ans.status == "ok" else "", "", 0)
    status = {"ok": "NOERROR", "nxdomain": "NXDOMAIN"}.get(ans.status, "SERVFAIL")
    qname = (ans.name or name).rstrip(".") + "."
    lines = ["", f"; <<>> DiG 9.18.13 <<>> {' '.join(argv[1:])}", ";; global options: +cmd", ";; Got answer:",
             f";; ->>HEADER<<- opcode: QUERY, status: {status}, id: {random.randint(1000, 65000)}",
             f";; flags: qr aa rd; QUERY: 1, ANSWER: {len(ans.addresses)}, AUTHORITY: 0, ADDITIONAL: 1", "",
             ";; QUESTION SECTION:", f";{qname}\t\t\tIN\tA", ""]
    if ans.addresses:
        lines += [";; ANSWER SECTION:"] + [f"{qname}\t30\tIN\tA\t{ip}" for ip in ans.addresses] + [""]
    lines += [";; Query time: 0 msec", f";; SERVER: {server}#53({server}) (UDP)", ";; MSG SIZE  rcvd: 100", ""]
    return Proc("\n".join(lines) + "\n", "", 0)
