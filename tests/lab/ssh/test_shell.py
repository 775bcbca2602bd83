"""The control plane's mini shell (tokenizing like bash, pipelines, redirections) and its coreutils."""

from __future__ import annotations

import shlex

import pytest

from lab.coreutils import COREUTILS
from lab.shell import RootFS, Shell, tokenize


@pytest.fixture
def shell(tmp_path) -> Shell:
    return Shell(RootFS(tmp_path / "root"), hostname="k8s-m", commands=COREUTILS)


@pytest.mark.parametrize("line", [
    "calicoctl get ippool default-ipv4-ippool -o wide",
    "echo 'single quoted  spaces' \"double $HOME\" plain\\ escaped",
    "calicoctl patch felixconfiguration default -p '{\"spec\":{\"ipipEnabled\":false}}'",
    "sed -e \"s/ipipMode: Always/ipipMode: Never/\"",
    "a '' b",
])
def test_words_match_posix_shell_splitting(line):
    expected = shlex.split(line.replace("$HOME", "/root"))
    assert [t.value for t in tokenize(line, {"HOME": "/root"})] == expected


def test_quoted_operators_stay_words_and_bare_ones_are_operators():
    tokens = tokenize("echo 'a|b' \"c;d\" e|f", {})
    assert [(t.kind, t.value) for t in tokens] == [
        ("word", "echo"), ("word", "a|b"), ("word", "c;d"), ("word", "e"), ("op", "|"), ("word", "f")]


def test_tilde_expands_only_unquoted_at_word_start(shell):
    assert [t.value for t in tokenize("cat ~/.kube/config '~/x' a~b", shell.env)] == [
        "cat", "/root/.kube/config", "~/x", "a~b"]


async def test_pipeline_feeds_each_stage_the_previous_output(shell):
    r = await shell.run("echo 'ipipMode: Always' | sed -e 's/ipipMode: Always/ipipMode: Never/' | cat")
    assert (r.stdout, r.exit_code) == (b"ipipMode: Never\n", 0)


async def test_sed_groups_ampersand_global_and_several_expressions(shell):
    r = await shell.run(r"echo 'aaa bbb' | sed -e 's/a/x/g' -e 's/\(b\+\)/[\1]/' -e 's/x/<&>/'")
    assert r.stdout == b"<x>xx [bbb]\n"


async def test_sed_reports_a_bad_script_like_gnu_sed(shell):
    r = await shell.run("echo a | sed -e 's/a/b'")
    assert r.exit_code == 1
    assert b"unterminated `s' command" in r.stderr


async def test_and_or_lists_follow_exit_codes(shell):
    r = await shell.run("false && echo no || echo yes; echo always")
    assert r.stdout == b"yes\nalways\n"
    assert r.exit_code == 0


async def test_redirections_write_and_read_files_in_the_host_root(shell):
    r = await shell.run("echo hello > /tmp/x.txt && cat < /tmp/x.txt && echo more >> /tmp/x.txt && cat /tmp/x.txt")
    assert r.stdout == b"hello\nhello\nmore\n"
    assert (shell.fs.root / "tmp" / "x.txt").read_bytes() == b"hello\nmore\n"


async def test_stderr_can_join_stdout_or_be_discarded(shell):
    joined = await shell.run("cat /nope 2>&1")
    assert (joined.stdout, joined.stderr) == (b"cat: /nope: No such file or directory\n", b"")
    dropped = await shell.run("cat /nope 2>/dev/null")
    assert (dropped.stdout, dropped.stderr, dropped.exit_code) == (b"", b"", 1)


async def test_unknown_command_is_bash_command_not_found(shell):
    r = await shell.run("kubectl get nodes")
    assert (r.stderr, r.exit_code) == (b"bash: kubectl: command not found\n", 127)


async def test_syntax_errors_are_bash_errors(shell):
    r = await shell.run("| cat")
    assert r.exit_code == 2
    assert r.stderr == b"bash: -c: line 1: syntax error near unexpected token `|'\n"


async def test_grep_selects_lines_and_sets_the_exit_code(shell):
    hit = await shell.run("printf_free=1 echo 'HTTP/1.1 200 OK' | grep -i http")
    assert (hit.stdout, hit.exit_code) == (b"HTTP/1.1 200 OK\n", 0)
    miss = await shell.run("echo nothing | grep -q http")
    assert miss.exit_code == 1


async def test_hostname_and_which(shell):
    r = await shell.run("hostname; which sed; command -v nosuch || echo missing")
    assert r.stdout == b"k8s-m\n/usr/bin/sed\nmissing\n"
