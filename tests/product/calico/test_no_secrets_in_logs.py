"""No secret (API token, kubeconfig, SSH private key) reaches any log record while the Calico step runs, on the
Kubernetes-API and the calicoctl-over-SSH paths, with every logger at DEBUG."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import pytest

from prefect_windows_nodes.tasks import StepFailed, calico_reconfigure

# The step's module (the package re-exports the task under the module's name, so import it by path).
calico_module = importlib.import_module("prefect_windows_nodes.tasks.calico_reconfigure")

from .conftest import cluster_block, needs_lab, ssh_block

pytestmark = needs_lab


def secrets_of(lab) -> list[str]:
    out = [lab.kube.admin_token]
    ssh = lab.describe().get("control_plane_ssh")
    if ssh:
        key = Path(ssh["private_key_file"]).read_text()
        # any line of the key body is a leak, not only the whole key
        out += [line for line in key.splitlines() if line and not line.startswith("-----")]
    return out


@pytest.fixture
def captured(caplog, monkeypatch):
    """Every log record at DEBUG, the task's run logger included (it is a plain logger here)."""
    logger = logging.getLogger("test.calico_reconfigure")
    monkeypatch.setattr(calico_module, "get_run_logger", lambda: logger)
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_clean(caplog, secrets):
    assert caplog.records, "nothing was logged: the capture is not working"
    texts = [r.getMessage() for r in caplog.records] + [caplog.text]
    for secret in secrets:
        assert all(secret not in t for t in texts), "a secret reached the logs"


async def test_kubernetes_path_logs_no_secret(lab_factory, captured):
    async with lab_factory("default") as lab:
        await calico_reconfigure.fn(cluster_block(lab), plan=True)
        await calico_reconfigure.fn(cluster_block(lab))
        assert any("IPPool default-ipv4-ippool" in r.getMessage() for r in captured.records)
        assert_clean(captured, secrets_of(lab))


async def test_etcd_path_logs_no_secret(lab_factory, captured):
    async with lab_factory("etcd", ssh=True) as lab:
        await calico_reconfigure.fn(cluster_block(lab), ssh_block(lab))
        assert_clean(captured, secrets_of(lab))


async def test_failed_step_message_has_no_secret(lab_factory, captured):
    async with lab_factory("etcd") as lab:
        with pytest.raises(StepFailed) as info:
            await calico_reconfigure.fn(cluster_block(lab))
        logging.getLogger("test.calico_reconfigure").error("step failed: %s", info.value)
        assert_clean(captured, secrets_of(lab))
