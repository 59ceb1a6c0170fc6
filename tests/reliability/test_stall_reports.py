"""Stall reports tell a rank waiting in a later collective from a slow transfer, and name
where each rank is. The report is built from the answers the other ranks gave (what they
last started, what they wait in); here those answers are set by hand, in one process."""
from types import SimpleNamespace

import pytest

from distgrad.world.comm.waiting import Waiter

pytest.importorskip("mpi4py")  # the Waiter imports it when made

ALL_REDUCE = "all_reduce(op=sum) of float32 (3,)"


def report(replies, size=3, exited=None):
    """Rank 0's report on its collective #3, given the other ranks' answers: rank ->
    ((last started number, what), (number, what) waited in, or None)."""
    topology = SimpleNamespace(rank=0, size=size, local_size=1, prefix="[rank 0/3 host]")
    waiter = Waiter(side=None, topology=topology, stall_seconds=1.0)
    waiter._replies, waiter.exited = replies, exited or {}
    return waiter.stall_report(3, ALL_REDUCE, 2.0)


def test_a_rank_waiting_in_a_later_collective_is_not_a_slow_transfer():
    text = report({1: ((4, "barrier"), (4, "barrier")), 2: ((3, ALL_REDUCE), (3, ALL_REDUCE))})
    assert "the transfer itself is slow" not in text
    assert "ranks past it, in a later collective or computing: rank 1 (waiting in collective #4: barrier)" in text
    assert "waiting in it too: rank 2" in text


def test_only_every_rank_waiting_in_this_collective_is_a_slow_transfer():
    text = report({1: ((3, ALL_REDUCE), (3, ALL_REDUCE)), 2: ((5, "barrier"), (3, ALL_REDUCE))})
    assert text.endswith("every other rank is waiting in it too: the transfer itself is slow (rank 1, 2)")


def test_each_rank_is_named_where_it_is():
    text = report({1: ((2, "broadcast(root=0) of float32 (4,)"), (2, "broadcast(root=0) of float32 (4,)")),
                   2: ((6, "barrier"), None)}, size=4, exited={})
    assert "rank 1 (waiting in an earlier collective #2: broadcast(root=0) of float32 (4,))" in text
    assert "rank 2 (started it, then went on: last started collective #6: barrier; busy outside" in text
    assert "rank 3 (no answer: busy outside distgrad collectives" in text
