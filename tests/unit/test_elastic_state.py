"""elastic.State in a world of one: commit, restore of the newest snapshot, and failures in
the middle of a commit or of a restore that leave the previous snapshot usable."""
import os

import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn
import distgrad.optim as optim
from distgrad.distributed.elastic import ElasticSampler, State
from distgrad.distributed.elastic import state as state_module


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
    assert sorted(os.listdir(folder)) == ["rank0.0.snapshot", "rank0.1.snapshot"]  # two slots, taken in turn

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
    train(state, 2)
    dump = state_module._dump

    def dies_half_way(snapshot, out):  # the process fails with half the payload written
        out.write(b"x" * 1000)
        out.flush()
        raise OSError(28, "No space left on device (simulated)")
    state.commit()  # commit 2 fills the other slot: commit 3 overwrites commit 1's
    with monkeypatch.context() as patched, pytest.raises(OSError, match="No space left"):
        patched.setattr(state_module, "_dump", dies_half_way)
        state.commit()
    assert state.commits == 2 and state_module._dump is dump
    assert state_module._read_header(folder / "rank0.1.snapshot") == (0, 0)  # commit 1's slot: marked invalid
    expected = params(state)

    restored = job(seed=1)
    assert "commit 2" in restored.restore()
    assert restored.step == 4
    for got, want in zip(params(restored), expected):
        np.testing.assert_array_equal(got, want)


def test_a_snapshot_that_cannot_be_read_is_skipped_for_the_next_newest(folder, capfd):
    state = job()
    train(state, 1)
    state.commit()
    # Another rank's slot whose header is whole but whose payload is not a snapshot.
    (folder / "rank1.0.snapshot").write_bytes(state_module._HEADER.pack(state_module._MAGIC, 7, 15) + b"half a snapshot")
    restored = job(seed=1)
    assert "commit 1" in restored.restore()
    assert restored.step == 1
    assert "cannot read rank 0's snapshot 7, trying an older one: UnpicklingError" in capfd.readouterr().err


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


def test_a_snapshot_naming_anything_but_arrays_and_containers_is_refused(folder, tmp_path, capfd):
    import pickle
    planted = tmp_path / "planted"

    class Payload:
        def __reduce__(self):
            return (open, (str(planted), "w"))
    data = pickle.dumps({"values": Payload()}, protocol=5)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rank0.0.snapshot").write_bytes(state_module._HEADER.pack(state_module._MAGIC, 3, len(data)) + data)
    assert job().restore() is None
    assert not planted.exists()
    assert "a snapshot names io.open, which snapshots never hold" in capfd.readouterr().err
