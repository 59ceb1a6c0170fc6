"""The epoch progress bar: periodic lines off a terminal (or without tqdm), tqdm's bar on one,
rank 0 only."""
import io
import sys

import pytest

from distgrad.utils.progress import ProgressBar


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_not_a_terminal_means_no_carriage_returns_and_periodic_lines():
    out, clock = io.StringIO(), FakeClock()
    bar = ProgressBar(total=1000, desc="epoch 1", every_seconds=10, stream=out, enabled=True,
                      clock=clock)
    assert not bar.tty
    for _ in range(4):           # 4 s: too early for a line
        clock.now += 1
        bar.update(100, loss=0.5)
    assert out.getvalue() == ""
    for _ in range(6):           # 10 s since the start: one line
        clock.now += 1
        bar.update(100, loss=0.25)
    bar.close()
    assert "\r" not in out.getvalue()
    assert out.getvalue().splitlines() == [
        "epoch 1: 1000/1000 samples, 100%, 100 samples/s, loss=0.25",
        "epoch 1: done, 1000 samples in 10.0 s (100 samples/s)  loss=0.25",
    ]


def test_lines_every_n_steps():
    out, clock = io.StringIO(), FakeClock()
    with ProgressBar(every_steps=2, unit="images", stream=out, enabled=True, clock=clock) as bar:
        for step in range(5):
            clock.now += 0.5
            bar.update(32, step=step)
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["64 images, 64 images/s, step=1", "128 images, 64 images/s, step=3"]
    assert lines[2].startswith("done, 160 images in 2.5 s")
    assert len(lines) == 3


def test_lines_say_the_eta_until_done():
    out, clock = io.StringIO(), FakeClock()
    with ProgressBar(total=1000, every_steps=1, stream=out, enabled=True, clock=clock) as bar:
        clock.now += 1
        bar.update(100, loss=2.0)
        clock.now += 59
        bar.update(50)
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["100/1000 samples, 10%, 100 samples/s, eta 9s, loss=2",
                         "150/1000 samples, 15%, 2.5 samples/s, eta 5m40s, loss=2"]


def test_terminal_bar_is_tqdms():
    pytest.importorskip("tqdm")
    out = FakeTerminal()
    bar = ProgressBar(total=400, desc="epoch 2", stream=out, enabled=True)
    assert bar.tty
    for loss in (1.5, 1.0, 0.75, 0.5):
        bar.update(100, loss=loss)
    bar.close()
    text = out.getvalue()
    assert text.startswith("\r") and text.endswith("\n") and text.count("\n") == 1
    final = text.rstrip("\n").split("\r")[-1]
    assert final.startswith("epoch 2: 100%|") and "400/400 [" in final
    assert "samples/s" in final and final.rstrip().endswith("loss=0.5]")
    assert bar.count == 400


def test_terminal_without_tqdm_gets_plain_lines(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now fails
    out, clock = FakeTerminal(), FakeClock()
    bar = ProgressBar(total=10, every_steps=1, stream=out, enabled=True, clock=clock)
    assert not bar.tty
    clock.now += 1
    bar.update(5, loss=0.5)
    bar.close()
    assert "\r" not in out.getvalue()
    assert out.getvalue().splitlines()[0] == "5/10 samples, 50%, 5 samples/s, eta 1s, loss=0.5"


def test_other_ranks_write_nothing():
    out = FakeTerminal()
    bar = ProgressBar(total=10, stream=out, enabled=False)
    bar.update(10, loss=1.0)
    bar.close()
    assert out.getvalue() == ""
    assert bar.count == 10       # still counts, so callers can read the totals


def test_enabled_follows_the_rank(monkeypatch):
    # An earlier test may have initialized a world of one; the launcher's variables decide here.
    monkeypatch.delitem(sys.modules, "distgrad.distributed", raising=False)
    monkeypatch.setenv("PMI_RANK", "1")
    monkeypatch.setenv("PMI_SIZE", "2")
    assert not ProgressBar(stream=io.StringIO()).enabled
    monkeypatch.setenv("PMI_RANK", "0")
    assert ProgressBar(stream=io.StringIO()).enabled


def test_close_is_idempotent_and_updates_after_close_are_silent():
    out, clock = io.StringIO(), FakeClock()
    bar = ProgressBar(stream=out, enabled=True, every_steps=1, clock=clock)
    clock.now += 1
    bar.update(5)
    bar.close()
    bar.close()
    bar.update(5)
    assert out.getvalue().splitlines() == ["5 samples, 5 samples/s",
                                           "done, 5 samples in 1.0 s (5 samples/s)"]
