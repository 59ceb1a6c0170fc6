"""The epoch progress bar: periodic lines off a terminal, a redrawn bar on one, rank 0 only."""
import io
import sys

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


def test_terminal_bar_redraws_in_place():
    out, clock = FakeTerminal(), FakeClock()
    bar = ProgressBar(total=400, desc="epoch 2", stream=out, enabled=True, clock=clock)
    assert bar.tty
    clock.now += 1
    bar.update(100, loss=1.5)
    clock.now += 0.01            # too soon to redraw
    bar.update(100, loss=1.0)
    clock.now += 1
    bar.update(100, loss=0.75)
    bar.close()
    frames = out.getvalue().split("\r")[1:]
    assert len(frames) == 3      # two redraws and the final one
    assert frames[0].startswith("epoch 2  25% [#####               ] 100/400  100 samples/s")
    assert "eta 3s" in frames[0] and "loss=1.5" in frames[0]
    assert frames[1].startswith("epoch 2  75% [###############     ] 300/400")
    assert frames[2].rstrip(" \n").endswith("loss=0.75") and frames[2].endswith("\n")


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
