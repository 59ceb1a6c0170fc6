"""Rank-aware logging: prefixes, info on rank 0 only, warnings everywhere, rank lookup order."""
import io
import logging
import socket
import sys
import types

import pytest

from distgrad.utils.logging import get_logger, make_handler, rank_and_world_size, rank_prefix
from distgrad.utils import ranks
from distgrad.utils.ranks import LAUNCHER_VARIABLES

RANK_VARS = LAUNCHER_VARIABLES + ("DISTGRAD_LOG_ALL_RANKS", "DISTGRAD_DEBUG")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in RANK_VARS:
        monkeypatch.delenv(name, raising=False)
    # A distgrad.distributed initialized by another test must not decide the rank here.
    monkeypatch.setitem(sys.modules, "distgrad.distributed", None)


def capture(rank, size, name="test.capture"):
    """A logger whose handler believes it runs as ``rank`` of ``size`` on host node7; returns
    (log, stream)."""
    stream = io.StringIO()
    log = logging.getLogger(name)
    log.handlers[:] = [make_handler(stream, rank_info=lambda: (rank, size, "node7"))]
    log.propagate = False
    log.setLevel(logging.DEBUG)
    return log, stream


def test_rank_0_prints_info_with_a_prefix():
    log, out = capture(0, 4)
    log.info("global batch %d", 256)
    log.warning("careful")
    assert out.getvalue() == "[rank 0/4 node7] global batch 256\n[rank 0/4 node7] WARNING: careful\n"


def test_other_ranks_print_only_warnings_and_errors():
    log, out = capture(3, 4)
    log.debug("hidden")
    log.info("hidden too")
    log.warning("unused parameter fc.bias")
    log.error("stalled")
    assert out.getvalue() == ("[rank 3/4 node7] WARNING: unused parameter fc.bias\n"
                              "[rank 3/4 node7] ERROR: stalled\n")


def test_all_ranks_flag_shows_info_everywhere(monkeypatch):
    monkeypatch.setenv("DISTGRAD_LOG_ALL_RANKS", "1")
    log, out = capture(2, 3)
    log.info("hello")
    assert out.getvalue() == "[rank 2/3 node7] hello\n"
    monkeypatch.setenv("DISTGRAD_LOG_ALL_RANKS", "0")
    log.info("quiet again")
    assert out.getvalue() == "[rank 2/3 node7] hello\n"


def test_exceptions_keep_their_traceback():
    log, out = capture(1, 2)
    try:
        raise KeyError("missing")
    except KeyError:
        log.exception("failed")
    text = out.getvalue()
    assert text.startswith("[rank 1/2 node7] ERROR: failed\nTraceback")
    assert "KeyError: 'missing'" in text


@pytest.mark.parametrize("env, expected", [
    ({}, (0, 1)),
    ({"PMI_RANK": "2", "PMI_SIZE": "4"}, (2, 4)),
    ({"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "3"}, (1, 3)),
    ({"PMI_RANK": "x", "PMI_SIZE": "4", "OMPI_COMM_WORLD_RANK": "1",
      "OMPI_COMM_WORLD_SIZE": "2"}, (1, 2)),
    ({"PMI_RANK": "1"}, (0, 1)),  # half a pair is no information
])
def test_rank_from_the_launcher_environment(env, expected):
    assert rank_and_world_size(env) == expected


def test_an_initialized_distributed_module_wins_over_the_environment(monkeypatch):
    world = types.SimpleNamespace(rank=5, size=8, host="node5")
    fake = types.SimpleNamespace(is_initialized=lambda: True, communicator=lambda: world)
    monkeypatch.setitem(sys.modules, "distgrad.distributed", fake)
    assert rank_and_world_size({"PMI_RANK": "1", "PMI_SIZE": "2"}) == (5, 8)
    assert rank_prefix({"PMI_RANK": "1", "PMI_SIZE": "2"}) == "[rank 5/8 node5]"
    fake.is_initialized = lambda: False
    assert rank_and_world_size({"PMI_RANK": "1", "PMI_SIZE": "2"}) == (1, 2)
    assert rank_prefix({"PMI_RANK": "1", "PMI_SIZE": "2"}) == f"[rank 1/2 {socket.gethostname()}]"


def test_get_logger_reads_the_rank_when_it_writes(monkeypatch, capsys):
    log = get_logger("distgrad.test_logging")
    log.info("from rank zero")
    monkeypatch.setenv("PMI_RANK", "1")
    monkeypatch.setenv("PMI_SIZE", "2")
    log.info("dropped on rank one")
    log.warning("kept on rank one")
    host = socket.gethostname()
    assert capsys.readouterr().err == f"[rank 0/1 {host}] from rank zero\n[rank 1/2 {host}] WARNING: kept on rank one\n"


def test_get_logger_adds_its_handler_once(capsys):
    for _ in range(3):
        log = get_logger("my_training_script")
    def ours(logger):
        return [h for h in logger.handlers if getattr(h, "_distgrad", False)]
    assert len(ours(log)) == 1 and not log.propagate
    assert len(ours(get_logger())) == 1
    log.info("once")
    assert capsys.readouterr().err == f"[rank 0/1 {socket.gethostname()}] once\n"


def test_debug_flag_turns_on_debug_lines(monkeypatch):
    monkeypatch.setenv("DISTGRAD_DEBUG", "1")
    assert get_logger("debugging_script").isEnabledFor(logging.DEBUG)
    monkeypatch.setenv("DISTGRAD_DEBUG", "0")
    assert not get_logger("quiet_script").isEnabledFor(logging.DEBUG)


def test_one_prefix_form_for_ranks_and_process_groups():
    assert ranks.format_prefix(3, 8, "node2") == "[rank 3/8 node2]"
    assert ranks.format_prefix(3, 8, "node2", 1, 4) == "[rank 3/8 node2, group rank 1/4]"
    assert not ranks.started_by_launcher({}) and ranks.started_by_launcher({"MPI_LOCALNRANKS": "2"})
