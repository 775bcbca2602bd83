"""`python -m lab up --fault HOST:FAULT[=VALUE]` reaches the same faults the tests select."""

from __future__ import annotations

import pytest

from lab.__main__ import parse_faults
from lab.windows.faults import HostFaults


def test_fault_options_parse_to_host_faults():
    parsed = parse_faults(["k8s-ww:missing_hotfix", "k8s-ww:winrm_500=3", 'k8s-ww2:slow={"download": 5}',
                           "k8s-ww2:drop_during=hns-create"])
    assert parsed == {"k8s-ww": {"missing_hotfix": True, "winrm_500": 3},
                      "k8s-ww2": {"slow": {"download": 5}, "drop_during": "hns-create"}}
    first = HostFaults.from_dict(parsed["k8s-ww"])
    assert first.missing_hotfix and first.winrm_500 == 3
    second = HostFaults.from_dict(parsed["k8s-ww2"])
    assert second.slow_factor("download") == 5 and second.take_drop("hns-create")


def test_unknown_fault_is_refused():
    with pytest.raises(ValueError):
        HostFaults.from_dict(parse_faults(["k8s-ww:no_such_fault"])["k8s-ww"])
