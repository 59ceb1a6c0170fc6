"""Checkpoints under faults, through the Checkpointer that training uses: a process killed
while writing leaves the previous checkpoint loadable; truncated, corrupted, crafted and
foreign files are refused with a clear error, and loading never runs code from the file.
(Format-level cases are in tests/unit/test_serialization.py.)"""
import hashlib
import io
import os
import pickle
import re
import signal
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn
import distgrad.optim as optim
from distgrad.serialization import CheckpointError
from distgrad.utils.checkpoint import Checkpointer
from jobs import helpers_of

# Rewrites a checkpoint's members and fixes up the index digest, as an attacker would.
rewrite_index = helpers_of("tests/unit/test_serialization.py")._rewrite_index

# Saves epoch 1, then starts epoch 2's checkpoint and freezes half-way through writing it.
WRITER = textwrap.dedent("""
    import sys, time
    import distgrad as dg
    import distgrad.nn as nn
    from distgrad import serialization
    from distgrad.utils.checkpoint import Checkpointer

    dg.manual_seed(0)
    model = nn.Linear(256, 256)
    ckpt = Checkpointer(sys.argv[1])
    ckpt.save(1, 10, model)
    write, written = serialization._HashingWriter.write, [0]

    def freeze_half_way(self, data):
        written[0] += len(data)
        if written[0] > 100_000:
            print("half-way", flush=True)
            time.sleep(120)
        return write(self, data)
    serialization._HashingWriter.write = freeze_half_way
    with dg.no_grad():
        model.weight.zero_()
    ckpt.save(2, 20, model)
""")


def linear(seed=0):
    dg.manual_seed(seed)
    return nn.Linear(256, 256)


@pytest.mark.timeout(60)
def test_a_process_killed_while_writing_leaves_the_previous_checkpoint_loadable(tmp_path):
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline() == "half-way\n"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    torn, previous = sorted(p.name for p in tmp_path.iterdir())
    assert previous == "checkpoint-0001-00000010.dgc"
    assert torn.startswith(".checkpoint-0002-00000020.dgc.") and torn.endswith(".tmp")  # the torn write

    ckpt = Checkpointer(tmp_path)
    assert ckpt.latest() == str(tmp_path / "checkpoint-0001-00000010.dgc")
    model = nn.Linear(256, 256)
    assert ckpt.load(model)["epoch"] == 1
    np.testing.assert_array_equal(model.weight.detach().numpy(), linear(0).weight.detach().numpy())
    ckpt.save(2, 20, model)  # the next successful write clears the torn one away
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-0001-00000010.dgc",
                                                         "checkpoint-0002-00000020.dgc"]


def damaged_copies(tmp_path):
    """The newest of two checkpoints, truncated and with one flipped byte."""
    ckpt = Checkpointer(tmp_path, keep=3)
    model = linear()
    ckpt.save(1, 10, model)
    newest = ckpt.save(2, 20, model)
    intact = open(newest, "rb").read()
    weights = model.weight.detach().numpy().tobytes()
    flipped = bytearray(intact)
    flipped[intact.find(weights) + 1000] ^= 0x10
    return ckpt, newest, {"truncated": intact[:len(intact) // 2], "flipped": bytes(flipped)}


@pytest.mark.parametrize("damage, error", [
    ("truncated", r"is corrupted: .*truncated or damaged file"),
    ("flipped", r"is corrupted: Bad CRC-32 for file 'arrays/\d+\.npy'"),
])
def test_a_damaged_checkpoint_is_refused_and_the_older_one_is_named(tmp_path, damage, error):
    ckpt, newest, copies = damaged_copies(tmp_path)
    with open(newest, "wb") as f:
        f.write(copies[damage])
    model = linear(seed=5)
    before = model.weight.detach().numpy().copy()
    with pytest.raises(CheckpointError, match=f"checkpoint {newest} {error}") as info:
        ckpt.load(model)
    assert f"the previous checkpoint {tmp_path / 'checkpoint-0001-00000010.dgc'} may be intact" in str(info.value)
    np.testing.assert_array_equal(model.weight.detach().numpy(), before)  # left alone
    assert ckpt.load(model, path=str(tmp_path / "checkpoint-0001-00000010.dgc"))["epoch"] == 1


class Exploit:
    """Unpickling this would create a file: proof that code ran."""
    target = None

    def __reduce__(self):
        return (open, (self.target, "w"))


def pickled_array_member(index, members):
    evil = io.BytesIO()
    np.save(evil, np.array([Exploit()], dtype=object), allow_pickle=True)
    name = index["arrays"][0]["name"]
    members[name] = evil.getvalue()
    index["arrays"][0].update(sha256=hashlib.sha256(members[name]).hexdigest(), dtype="|O", shape=[1])


def foreign_node(index, members):
    index["root"]["values"][0] = {"$": "object", "module": "os", "callable": "system", "args": ["true"]}


@pytest.mark.parametrize("craft, error", [
    ("pytorch", r"is a PyTorch \(pickle\) checkpoint, written by torch.save, not a distgrad one; distgrad does "
                r"not unpickle"),
    ("pickled array", r"is refused: .*\(nothing was executed\)"),
    ("foreign node", r"unknown node type 'object' in the structure"),
])
def test_a_crafted_checkpoint_never_runs_code(tmp_path, craft, error):
    Exploit.target = str(tmp_path / "code-ran")
    path = tmp_path / "checkpoint-0001-00000010.dgc"
    if craft == "pytorch":
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("archive/data.pkl", pickle.dumps({"model": Exploit()}))
    else:
        Checkpointer(tmp_path).save(1, 10, linear())
        rewrite_index(path, pickled_array_member if craft == "pickled array" else foreign_node)
    with pytest.raises(CheckpointError, match=error):
        Checkpointer(tmp_path).load(linear())
    assert not os.path.exists(Exploit.target)


def test_a_checkpoint_of_another_model_is_refused_naming_keys_and_shapes(tmp_path):
    ckpt = Checkpointer(tmp_path)
    path = ckpt.save(1, 10, nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)))
    other = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2), nn.Linear(2, 2))
    before = [p.detach().numpy().copy() for p in other.parameters()]
    with pytest.raises(RuntimeError) as info:
        ckpt.load(other)
    message = str(info.value)
    assert message.startswith(f"checkpoint {path} does not fit this model: Error(s) in loading state_dict")
    assert 'Missing key(s) in state_dict: "3.weight", "3.bias".' in message
    assert "size mismatch for 0.weight: copying a param with shape (8, 4) from checkpoint, the shape in " \
           "current model is (6, 4)." in message
    assert "size mismatch for 2.weight: copying a param with shape (2, 8)" in message
    for p, old in zip(other.parameters(), before):
        np.testing.assert_array_equal(p.detach().numpy(), old)  # nothing half-loaded


def test_a_file_without_training_state_is_refused(tmp_path):
    dg.save({"weights": dg.ones(3)}, tmp_path / "checkpoint-0001-00000001.dgc")
    with pytest.raises(CheckpointError, match=r"holds no training state \(no 'model' entry\)"):
        Checkpointer(tmp_path).load(linear())


def trained(model, groups=1):
    """An SGD with momentum over ``model`` after one step (so it has state to lose)."""
    params = list(model.parameters())
    opt = optim.SGD([{"params": params[i::groups]} for i in range(groups)], lr=0.1, momentum=0.9)
    model(dg.randn(2, model[0].in_features)).sum().backward()
    opt.step()
    return opt


@pytest.mark.parametrize("mismatch", ["optimizer groups", "model shapes"])
def test_a_load_that_does_not_fit_changes_neither_model_nor_optimizer(tmp_path, mismatch):
    ckpt = Checkpointer(tmp_path)
    saved_model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2))
    path = ckpt.save(1, 10, saved_model, trained(saved_model))
    # Another grouping of the same model, or the same grouping of another model's shapes.
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 2)) if mismatch == "optimizer groups" else \
        nn.Sequential(nn.Linear(4, 6), nn.Linear(6, 2))
    opt = trained(model, groups=2 if mismatch == "optimizer groups" else 1)
    weights = [p.detach().numpy().copy() for p in model.parameters()]
    state, groups = opt.state, opt.param_groups
    momenta = [s["momentum_buffer"].numpy().copy() for s in opt.state.values()]
    error = r"does not fit this optimizer: loaded state dict has 1 parameter groups, this optimizer has 2" \
        if mismatch == "optimizer groups" else r"does not fit this model: [\s\S]*size mismatch for 0\.weight"
    with pytest.raises(CheckpointError, match=f"checkpoint {path} {error}"):
        ckpt.load(model, opt)
    for p, old in zip(model.parameters(), weights):
        np.testing.assert_array_equal(p.detach().numpy(), old)
    assert opt.state is state and opt.param_groups is groups
    for s, old in zip(opt.state.values(), momenta):
        np.testing.assert_array_equal(s["momentum_buffer"].numpy(), old)


def test_pruning_and_resuming_order_checkpoints_by_number_not_by_name(tmp_path):
    ckpt = Checkpointer(tmp_path, keep=2)
    model = linear()
    for epoch, step in ((9998, 99_999_998), (9999, 99_999_999), (10_000, 100_000_000), (10_001, 100_000_001)):
        newest = ckpt.save(epoch, step, model)
        assert os.path.exists(newest), f"saving epoch {epoch} deleted the checkpoint it had just written"
        assert ckpt.latest() == newest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint-10000-100000000.dgc",
                                                         "checkpoint-10001-100000001.dgc"]
    assert ckpt.load(model)["step"] == 100_000_001


@pytest.mark.parametrize("bad", [np.zeros((2, 3), [("a", "<f4")]), np.zeros((2, 3), "M8[s]"), np.full((2, 3), "x")])
def test_load_state_dict_refuses_values_that_are_not_numbers_before_copying_anything(bad):
    model = nn.Linear(3, 2)
    before = [p.detach().numpy().copy() for p in model.parameters()]
    with pytest.raises(RuntimeError, match=rf"dtype mismatch for weight: copying a param of dtype {re.escape(str(bad.dtype))} "
                                           r"from checkpoint into float32; only numeric and bool values load"):
        model.load_state_dict({"bias": np.ones(2, np.float32), "weight": bad})  # bias first: fits
    for p, old in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.detach().numpy(), old)
