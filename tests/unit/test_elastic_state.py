"""elastic.State in a world of one: commit, restore of the newest snapshot, and failures in
the middle of a commit or of a restore that leave the previous snapshot usable."""
import os

import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn
import distgrad.optim as optim
from distgrad import serialization
from distgrad.distributed.elastic import ElasticSampler, State


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTGRAD_ELASTIC_DIR", str(tmp_path / "shm"))
    return tmp_path / "shm"


def job(seed=0):
    dg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    sampler = ElasticSampler(list(range(40)), num_replicas=1, rank=0, seed=1)
    return State(model, optimizer, scheduler, sampler, epoch=1, step=0, best_acc=0.0)


def train(state, steps):
    for _ in range(steps):
        state.optimizer.zero_grad()
        state.model(dg.randn(4, 6)).pow(2).sum().backward()
        state.optimizer.step()
        state.scheduler.step()
        state.sampler.record_batch(state.step, 4)
        state.step += 1


def params(state):
    return [p.detach().numpy().copy() for p in state.model.parameters()]


def test_restore_brings_back_everything_of_the_newest_commit(folder):
    state = job()
    assert state.restore() is None  # nothing committed yet
    train(state, 3)
    state.commit()
    train(state, 2)
    state.best_acc = 0.5
    state.commit()
    expected, lr, rng = params(state), state.optimizer.param_groups[0]["lr"], dg.randn(3).numpy()
    assert sorted(os.listdir(folder)) == ["rank0.000000002.dgc"]  # the older one is gone

    restored = job(seed=1)
    assert "commit 2" in restored.restore()
    assert (restored.step, restored.best_acc, restored.commits, restored.sampler.processed) == (5, 0.5, 2, 20)
    assert restored.optimizer.param_groups[0]["lr"] == lr
    for got, want in zip(params(restored), expected):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(dg.randn(3).numpy(), rng)  # the random stream continues too


def test_a_failure_during_a_commit_leaves_the_previous_snapshot_usable(folder, monkeypatch):
    state = job()
    train(state, 2)
    state.commit()
    expected = params(state)
    train(state, 2)
    write = serialization._HashingWriter.write
    written = [0]

    def disk_full(self, data):
        written[0] += len(data)
        if written[0] > 500:
            raise OSError(28, "No space left on device (simulated)")
        return write(self, data)
    with monkeypatch.context() as patched, pytest.raises(OSError, match="No space left"):
        patched.setattr(serialization._HashingWriter, "write", disk_full)
        state.commit()
    assert state.commits == 1
    assert sorted(os.listdir(folder)) == ["rank0.000000001.dgc"]  # no half-written file

    restored = job(seed=1)
    assert "commit 1" in restored.restore()
    assert restored.step == 2
    for got, want in zip(params(restored), expected):
        np.testing.assert_array_equal(got, want)


def test_a_snapshot_that_cannot_be_read_is_skipped_for_the_next_newest(folder, capfd):
    state = job()
    train(state, 1)
    state.commit()
    (folder / "rank1.000000007.dgc").write_bytes(b"half a snapshot")  # another rank's, damaged
    restored = job(seed=1)
    assert "commit 1" in restored.restore()
    assert restored.step == 1
    assert "cannot read rank 0's snapshot 7, trying an older one" in capfd.readouterr().err


def test_without_snapshots_the_disk_checkpoint_is_the_fallback(folder, tmp_path, monkeypatch):
    state = job()
    train(state, 3)
    state.save(tmp_path / "ckpt.dgc")
    expected = params(state)
    monkeypatch.setenv("DISTGRAD_ELASTIC_DIR", str(tmp_path / "other"))  # a fresh machine: no snapshots
    restored = job(seed=1)
    assert restored.restore(tmp_path / "missing.dgc") is None
    assert "ckpt.dgc" in restored.restore(tmp_path / "ckpt.dgc")
    assert restored.step == 3
    for got, want in zip(params(restored), expected):
        np.testing.assert_array_equal(got, want)


def test_a_user_value_may_not_take_a_name_of_state():
    with pytest.raises(ValueError, match="commit cannot be a user value"):
        State(nn.Linear(2, 2), None, commit=1)
