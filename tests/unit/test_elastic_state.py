"""elastic.State in a world of one: commit, restore of the newest snapshot (also one written by
a process that is gone, and after the state grew), and failures in the middle of a commit or of
a restore (a half written slot, a corrupted header or array reference) that leave the previous
snapshot usable."""
import gc
import os
import pickle
import subprocess
import sys

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


def write_slot(path, commits, metadata, data=b""):
    """A slot file laid out as State writes one: header, data from byte 64, metadata pickle."""
    metadata = pickle.dumps(metadata, protocol=5)
    header = state_module._HEADER.pack(state_module._MAGIC, commits, len(data), len(metadata))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header.ljust(state_module._DATA_START, b"\0") + data + metadata)


def assert_restored(restored, step, expected):
    assert restored.step == step
    for got, want in zip(params(restored), expected, strict=True):
        np.testing.assert_array_equal(got, want)


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
    copy_arrays = state_module._copy_arrays

    def dies_half_way(data, arrays):  # the process fails with one array of several written
        copy_arrays(data, arrays[:1])
        raise MemoryError("killed half way (simulated)")
    state.commit()  # commit 2 fills the other slot: commit 3 overwrites commit 1's
    with monkeypatch.context() as patched, pytest.raises(MemoryError, match="half way"):
        patched.setattr(state_module, "_copy_arrays", dies_half_way)
        state.commit()
    assert state.commits == 2 and state_module._copy_arrays is copy_arrays
    assert state_module._read_header(folder / "rank0.1.snapshot") == (0, 0, 0)  # commit 1's: marked invalid
    assert state_module._read_header(folder / "rank0.0.snapshot")[0] == 2
    expected = params(state)

    restored = job(seed=1)
    assert "commit 2" in restored.restore()
    assert_restored(restored, 4, expected)


def test_a_snapshot_that_cannot_be_read_is_skipped_for_the_next_newest(folder, capfd):
    state = job()
    train(state, 1)
    state.commit()
    # Another rank's slot whose header is whole but whose metadata is not a pickle.
    header = state_module._HEADER.pack(state_module._MAGIC, 7, 0, 15).ljust(state_module._DATA_START, b"\0")
    (folder / "rank1.0.snapshot").write_bytes(header + b"half a snapshot")
    restored = job(seed=1)
    assert "commit 1" in restored.restore()
    assert restored.step == 1
    assert "cannot read rank 0's snapshot 7, trying an older one: UnpicklingError" in capfd.readouterr().err


def test_a_slot_whose_header_promises_more_than_the_file_holds_is_not_offered(folder):
    state = job()
    train(state, 1)
    state.commit()
    path = folder / "rank0.1.snapshot"
    with open(path, "r+b") as f:  # the header claims a metadata length past the file's end
        commits, data_length, metadata_length = state_module._read_header(path)
        f.write(state_module._HEADER.pack(state_module._MAGIC, commits, data_length, 1 << 62))
    assert state_module._read(path) is None
    assert job(seed=1).restore() is None


@pytest.mark.parametrize("reference, error", [
    (state_module._ArrayRef(32, "<f4", (16,)), "lies outside the 64 bytes of data"),
    (state_module._ArrayRef(0, "<f4", (-1, 4)), "lies outside"),
    (state_module._ArrayRef(0, "|O", (2,)), "snapshots hold no objects"),
])
def test_a_slot_with_an_unsound_array_reference_is_skipped_for_an_older_one(folder, capfd, reference, error):
    state = job()
    train(state, 2)
    state.commit()
    expected = params(state)
    write_slot(folder / "rank1.0.snapshot", 9, {"model": {"0.weight": reference}}, data=bytes(64))
    restored = job(seed=1)
    assert "commit 1" in restored.restore()
    assert_restored(restored, 2, expected)
    said = capfd.readouterr().err
    assert "cannot read rank 0's snapshot 9, trying an older one: ValueError: a snapshot array" in said
    assert error in said


def test_commits_after_the_model_grew_a_parameter_still_restore(folder):
    state = job()
    train(state, 1)
    state.commit()
    state.commit()  # both slots mapped at the small size
    small = os.path.getsize(folder / "rank0.1.snapshot")
    state.model.add_module("3", nn.Linear(3, 600))  # 2400 more values: more than a slot's slack
    train(state, 2)
    state.commit()
    state.commit()
    assert os.path.getsize(folder / "rank0.1.snapshot") > small + 4 * 1800
    expected = params(state)

    restored = job(seed=1)
    restored.model.add_module("3", nn.Linear(3, 600))
    assert "commit 4" in restored.restore()
    assert_restored(restored, 3, expected)


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
    planted = tmp_path / "planted"

    class Payload:
        def __reduce__(self):
            return (open, (str(planted), "w"))
    write_slot(folder / "rank0.0.snapshot", 3, {"values": Payload()})
    assert job().restore() is None
    assert not planted.exists()
    assert "a snapshot names io.open, which snapshots never hold" in capfd.readouterr().err


COMMIT_AND_EXIT = """
import distgrad as dg, distgrad.nn as nn, distgrad.optim as optim
from distgrad.distributed.elastic import State
dg.manual_seed(3)
model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
state = State(model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9), epoch=2, step=7)
state.commit()
print(repr([p.detach().numpy().tolist() for p in model.parameters()]))
"""


def test_a_snapshot_outlives_the_process_that_committed_it(folder):
    done = subprocess.run([sys.executable, "-W", "always::ResourceWarning", "-c", COMMIT_AND_EXIT],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "DISTGRAD_ELASTIC_DIR": str(folder)})
    assert done.returncode == 0, done.stderr
    assert "ResourceWarning" not in done.stderr
    expected = [np.array(p, dtype=np.float32) for p in eval(done.stdout)]
    restored = job(seed=1)
    assert "commit 1" in restored.restore()
    assert (restored.epoch, restored.commits) == (2, 1)
    assert_restored(restored, 7, expected)


def test_a_state_that_goes_closes_its_mappings(folder):
    state = job()
    state.commit()
    state.commit()
    slots = list(state._slots.values())
    assert [slot.map is not None for slot in slots] == [True, True]
    del state
    gc.collect()
    assert [slot.map for slot in slots] == [None, None]
