"""Go-style printers: yaml.v2 quoting, tabwriter padding, go-pretty tables."""

from __future__ import annotations

import yaml

from lab.goprint import go_json, go_yaml, pretty_table, tabwriter


def test_yaml_quotes_like_yaml_v2_and_reads_back():
    value = {"rv": "1385", "empty": "", "sel": "all()", "word": "yes", "ts": "2022-03-08T09:41:19Z",
             "colon": "a: b", "json": '{"x":"y"}', "dur": "0s", "n": 26, "flag": True, "none": None,
             "list": ["Workload", {"b": 1, "a": [1]}], "multi": "l1\nl2", "nested": {}}
    text = go_yaml(value)
    assert yaml.safe_load(text) == value
    assert text == ('colon: \'a: b\'\ndur: 0s\nempty: ""\nflag: true\njson: \'{"x":"y"}\'\n'
                    "list:\n- Workload\n- a:\n  - 1\n  b: 1\nmulti: |-\n  l1\n  l2\nn: 26\nnested: {}\nnone: null\n"
                    'rv: "1385"\nsel: all()\nts: "2022-03-08T09:41:19Z"\nword: "yes"\n')


def test_json_escapes_html_characters_like_go():
    assert go_json({"sel": "a < b && c > d"}) == '{\n  "sel": "a \\u003c b \\u0026\\u0026 c \\u003e d"\n}\n'


def test_tabwriter_pads_every_tab_terminated_cell():
    assert tabwriter([["NAME", "NAT"], ["p", "true"]]) == "NAME   NAT    \np      true   \n"


def test_pretty_table_centres_headers_and_right_aligns_numbers():
    assert pretty_table(["A", "CIDR"], [["x", "10"], ["longer", "10.0.0.0/8"]]) == (
        "+--------+------------+\n"
        "|   A    |    CIDR    |\n"
        "+--------+------------+\n"
        "| x      |         10 |\n"
        "| longer | 10.0.0.0/8 |\n"
        "+--------+------------+\n")
