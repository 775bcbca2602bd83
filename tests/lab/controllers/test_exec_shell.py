"""Exec that streams, and the busybox shell behind it: an interactive `sh` answering line by line over the
`kubernetes.aio` websocket (v4, as a 1.22 server offers), `kubectl exec -i` with a here-document against a 1.30
server (v5), multi-line scripts with loops and variables, the image's applets and busybox's `not found`."""

from __future__ import annotations

import asyncio
import json
import shutil

import aiohttp
import pytest
from kubernetes.aio import client as kclient
from kubernetes.aio.stream import WsApiClient

from .conftest import api_client, api_exec, pod_obj, settle

DEADLINE = 20


async def _busybox(kube, api, name: str = "bb") -> None:
    await kclient.CoreV1Api(api).create_namespaced_pod(
        "default", pod_obj(name, "busybox:1.35", command=["sleep", "3600"]))
    await settle(kube)


async def _read_until(ws, wanted: bytes, seen: list[bytes]) -> dict | None:
    """Read frames until stdout holds `wanted` (or the error channel answers); returns the Status if one came."""
    async def loop():
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
                return None
            ch, payload = msg.data[0], msg.data[1:]
            if ch in (1, 2):
                seen.append(payload)
                if wanted and wanted in b"".join(seen):
                    return None
            elif ch == 3:
                return json.loads(payload)
        return None
    return await asyncio.wait_for(loop(), DEADLINE)


async def test_interactive_shell_answers_line_by_line(lab):
    async with lab() as kube, api_client(kube) as api:
        await _busybox(kube, api)
        ws_client = WsApiClient(configuration=api.configuration)
        ws_client.rest_client = api.rest_client
        core = kclient.CoreV1Api(ws_client)
        resp = await core.connect_get_namespaced_pod_exec_without_preload_content(
            "bb", "default", command=["sh"], stdin=True, stdout=True, stderr=True, tty=False)
        async with resp as ws:
            seen: list[bytes] = []
            await ws.send_bytes(b"\x00greeting=hello\n")
            await ws.send_bytes(b"\x00echo $greeting from $(hostname)\n")
            assert await _read_until(ws, b"hello from bb\n", seen) is None  # answered while the session is open
            seen.clear()
            await ws.send_bytes(b"\x00for i in 1 2 3\n")  # a loop over several lines runs once it is complete
            await ws.send_bytes(b"\x00do echo n=$((i * 7))\n")
            await ws.send_bytes(b"\x00done\n")
            assert await _read_until(ws, b"n=21\n", seen) is None
            assert b"".join(seen) == b"n=7\nn=14\nn=21\n"
            seen.clear()
            await ws.send_bytes(b"\x00nosuchtool --help\n")
            assert await _read_until(ws, b"not found\n", seen) is None
            assert b"".join(seen) == b"sh: nosuchtool: not found\n"
            await ws.send_bytes(b"\x00exit 3\n")
            status = await _read_until(ws, b"", [])
        assert status["reason"] == "NonZeroExitCode" and status["details"]["causes"][0]["message"] == "3"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
async def test_kubectl_exec_with_a_here_document(lab, tmp_path):
    script = b"""count=0
while [ $count -lt 3 ]; do
  count=$((count + 1))
  echo "round $count"
done
for f in $(seq 4 6); do printf '%s,' $f; done; echo
ls / | grep -c tmp
date +%Y | wc -c
echo hello | gzip | gzip -d
if test -n "$HOSTNAME"; then echo host=$HOSTNAME; else echo no host; fi
unknown-applet
echo "status was $?"
exit 4
"""
    async with lab() as kube, api_client(kube) as api:
        await _busybox(kube, api)
        kube.set_version("v1.30.2")  # kubectl's websocket executor speaks v5, which servers offer from 1.30
        proc = await asyncio.create_subprocess_exec(
            "kubectl", "--kubeconfig", str(kube.kubeconfig_path), "exec", "-i", "bb", "--", "sh",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={"HOME": str(tmp_path)})
        out, err = await asyncio.wait_for(proc.communicate(script), 60)
    assert proc.returncode == 4, err
    assert out.decode() == ("round 1\nround 2\nround 3\n4,5,6,\n1\n5\nhello\nhost=bb\nstatus was 127\n")
    assert b"sh: unknown-applet: not found" in err


async def test_sh_c_runs_multi_line_scripts(lab):
    async with lab() as kube, api_client(kube) as api:
        await _busybox(kube, api)
        r = await api_exec(api, "default", "bb", ["sh", "-c", "a=1\nb=2\nif [ $a -lt $b ]; then\n  echo less\n"
                                                              "fi\necho $((a + b))"])
        assert (r.stdout, r.exit_code) == (b"less\n3\n", 0)
        r = await api_exec(api, "default", "bb", ["sh", "-c", "printf 'x\\ny\\n' | while read line; do "
                                                              "echo got:$line; done; uptime | grep -c load"])
        assert r.stdout == b"got:x\ngot:y\n1\n"
        r = await api_exec(api, "default", "bb", ["sh", "-c", "if true; then echo"])
        assert r.exit_code == 2 and r.stderr.startswith(b"sh: syntax error:")
        r = await api_exec(api, "default", "bb", ["sh", "-c", "curl -s http://example.com"])
        assert (r.stderr, r.exit_code) == (b"sh: curl: not found\n", 127)  # busybox has no curl
