"""Bad join input fails before anything is touched, with a message naming the field and the fix."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from prefect_windows_nodes.flows.join import JoinRequest, join_windows_node

from .conftest import started_lab


@pytest.mark.parametrize("field, value, fix", [
    ("host_block", "Win Node 04", "lowercase letters, digits and dashes"),
    ("cluster_block", "prod_cluster", "lowercase letters, digits and dashes"),
    ("address", "172.16.3.999 extra", "neither an IP address nor a DNS name"),
])
def test_bad_fields_name_the_field_and_the_fix(field, value, fix):
    args = {"host_block": "winnode04", field: value}
    with pytest.raises(ValidationError) as err:
        JoinRequest(**args)
    assert field in str(err.value) and fix in str(err.value)


def test_unknown_parameter_is_refused():
    """An API caller's typo must not be accepted silently (Prefect would accept it and crash the run later)."""
    with pytest.raises(ValidationError, match="hots_block"):
        JoinRequest(host_block="winnode04", hots_block="winnode05")


@pytest.mark.usefixtures("prefect_api")
async def test_a_missing_block_fails_before_anything_changes():
    async with started_lab() as (lab, names):
        lab.kube.requests.clear()
        with pytest.raises(ValueError, match="no-such-host"):
            await join_windows_node(JoinRequest(host_block="no-such-host", cluster_block=names["cluster"]))
        assert lab.kube.requests.mutations() == []
        assert lab.windows_host("k8s-ww").records.commands == []
