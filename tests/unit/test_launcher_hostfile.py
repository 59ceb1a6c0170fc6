"""Host lists (-H) and hostfiles: good input parses, bad input fails with a message saying where."""
from pathlib import Path

import pytest

from distgrad.launcher.hostfile import (Host, HostSpecError, format_host_list, parse_host_list,
                                        parse_hostfile, parse_hostfile_text)


def test_host_list_with_and_without_counts():
    assert parse_host_list("node1:4,node2:2,10.0.0.3") == [
        Host("node1", 4), Host("node2", 2), Host("10.0.0.3", 1)]


def test_host_list_tolerates_spaces_around_entries():
    assert parse_host_list(" a:2 , b ") == [Host("a", 2), Host("b", 1)]


@pytest.mark.parametrize("text, message", [
    ("a:0", "slot count must be positive, got 0"),
    ("a:-2", "slot count must be positive, got -2"),
    ("a:four", "slot count 'four' is not an integer"),
    ("a:", "slot count '' is not an integer"),
    ("a,,b", "empty entry"),
    ("a,", "empty entry"),
    ("", "empty entry"),
    ("a:2,a:2", "host 'a' is listed more than once"),
    ("bad host:2", "'bad host' is not a valid host name"),
    (":4", "'' is not a valid host name"),
])
def test_bad_host_lists_name_the_problem(text, message):
    with pytest.raises(HostSpecError, match=message.replace("(", r"\(")) as info:
        parse_host_list(text)
    assert repr(text) in str(info.value)


def test_hostfile_accepts_both_mpi_styles_and_comments(tmp_path):
    path = tmp_path / "hosts"
    path.write_text("# cluster\n\nnode01:4\nnode02 slots=8   # big one\n  node03\n")
    assert parse_hostfile(path) == [Host("node01", 4), Host("node02", 8), Host("node03", 1)]


@pytest.mark.parametrize("text, message", [
    ("a:2\nb slots=0\n", "line 2: slot count must be positive, got 0"),
    ("a max_slots=4\n", "line 1: cannot read 'max_slots=4'"),
    ("a:2 slots=2\n", "line 1: cannot read 'slots=2'"),
    ("a\nb\na\n", "host 'a' is listed more than once"),
    ("# only comments\n\n", "no hosts given"),
])
def test_bad_hostfiles_name_the_line(text, message):
    with pytest.raises(HostSpecError, match=message):
        parse_hostfile_text(text, source="hosts.txt")


def test_unreadable_hostfile_is_a_clear_error(tmp_path):
    with pytest.raises(HostSpecError, match="cannot read hostfile .*missing.*No such file"):
        parse_hostfile(tmp_path / "missing")
    with pytest.raises(HostSpecError, match="cannot read hostfile"):
        parse_hostfile(tmp_path)  # a directory
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00node")
    with pytest.raises(HostSpecError, match="not a text file"):
        parse_hostfile(binary)


def test_format_round_trips():
    hosts = [Host("a", 3), Host("b", 1)]
    assert format_host_list(hosts) == "a:3,b:1"
    assert parse_host_list(format_host_list(hosts)) == hosts


def test_the_shipped_example_hostfile_parses():
    example = Path(__file__).resolve().parents[2] / "launch" / "hostfile.example"
    assert parse_hostfile(example) == [Host("node01", 4), Host("node02", 4), Host("10.0.0.13", 2)]
