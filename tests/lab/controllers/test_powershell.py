"""Windows PowerShell in IIS pods: the forms scripts use to probe HTTP and DNS, and real-looking errors."""

from __future__ import annotations

import base64

from .conftest import make_vxlan, pods_of, run, windows_setup


async def test_powershell_probe_forms_and_errors(lab):
    async with lab() as kube:
        await windows_setup(kube)
        make_vxlan(kube)
        iis = pods_of(kube, run="iis")[0]["metadata"]["name"]

        async def ps(script: str):
            return await run(kube, iis, ["powershell", "-NoProfile", "-Command", script])

        r = await ps("(Invoke-WebRequest -Uri http://nginx-svc -UseBasicParsing -TimeoutSec 5).StatusCode")
        assert (r.exit_code, r.stdout) == (0, b"200\r\n")
        r = await ps("iwr http://nginx-svc -UseBasicParsing | Select-Object -ExpandProperty RawContentLength")
        assert r.stdout == b"615\r\n"
        r = await ps("$r = iwr -UseBasicParsing http://iis-svc; $r.StatusCode")
        assert r.stdout == b"200\r\n"

        # without -UseBasicParsing Windows PowerShell needs the IE engine, which Server Core images lack
        r = await ps("iwr http://nginx-svc")
        assert r.exit_code == 1 and b"Internet Explorer engine is not available" in r.stderr

        r = await ps("iwr -UseBasicParsing -TimeoutSec 5 http://nginx-svc/nope")
        assert r.exit_code == 1 and b"iwr : 404 Not Found" in r.stderr
        assert b"+ FullyQualifiedErrorId : WebCmdletWebResponseException," in r.stderr
        r = await ps("iwr -UseBasicParsing http://no-such-svc")
        assert r.exit_code == 1 and b"The remote name could not be resolved: 'no-such-svc'" in r.stderr

        r = await ps("try { iwr -UseBasicParsing http://no-such-svc } catch { 'failed: ' + 'x'; exit 3 }")
        assert r.exit_code == 3
        r = await ps("Get-Widget")
        assert r.exit_code == 1 and b"The term 'Get-Widget' is not recognized" in r.stderr

        r = await ps("Resolve-DnsName nginx-svc")
        assert r.exit_code == 0 and b"nginx-svc.default.svc.cluster.local" in r.stdout and b"Answer" in r.stdout
        r = await ps("Test-NetConnection nginx-svc -Port 80 -InformationLevel Quiet")
        assert r.stdout == b"True\r\n"

        encoded = base64.b64encode("(iwr -UseBasicParsing http://nginx-svc).StatusCode".encode("utf-16-le"))
        r = await run(kube, iis, ["powershell", "-EncodedCommand", encoded.decode()])
        assert r.stdout == b"200\r\n"

        r = await run(kube, iis, ["cmd", "/c", "nslookup", "nginx-svc"])
        assert r.exit_code == 0 and b"Server:  kube-dns.kube-system.svc.cluster.local" in r.stdout
