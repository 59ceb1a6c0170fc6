"""Damaged and crafted checkpoints, adversarially: every single-byte change, every truncation
and a set of hand-made members either load exactly what was saved or raise a CheckpointError
that says what is wrong (and, through the Checkpointer, which checkpoint to fall back to).
Nothing is allocated from a size the file merely declares, and nothing but numeric and bool
arrays loads. The random choices use a fixed seed, so a failure reproduces."""
import hashlib
import io
import json
import pickle
import zipfile

import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn
import distgrad.optim as optim
from distgrad.serialization import CheckpointError
from distgrad.utils.checkpoint import Checkpointer
from jobs import record

pytestmark = pytest.mark.timeout(60)


def training_state():
    """A small but complete training state: model, optimizer with momentum, counters."""
    dg.manual_seed(0)
    model = nn.Linear(3, 2)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(dg.randn(4, 3)).sum().backward()
    opt.step()
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 1, "step": 2,
            "extra": {"tag": "run", "pair": (1, 2.5)}}


def saved_bytes(obj):
    out = io.BytesIO()
    dg.save(obj, out)
    return out.getvalue()


def flat(obj):
    """A comparable form of a loaded object: nested containers of Python values and arrays."""
    if isinstance(obj, dict):
        return [(flat(k), flat(v)) for k, v in obj.items()]
    if isinstance(obj, (list, tuple)):
        return [type(obj).__name__] + [flat(v) for v in obj]
    if isinstance(obj, dg.Tensor):
        obj = obj.detach().numpy()
    if isinstance(obj, np.ndarray):
        return (obj.dtype.str, obj.shape, obj.tobytes())
    return obj


def outcome(data):
    """'refused' (a CheckpointError), or the loaded object in comparable form. Any other
    exception fails the test with the data that caused it."""
    try:
        return flat(dg.load(io.BytesIO(data)))
    except CheckpointError:
        return "refused"


def test_every_byte_flip_and_truncation_is_refused_or_changes_nothing():
    data = saved_bytes(training_state())
    original = flat(dg.load(io.BytesIO(data)))
    rng = np.random.default_rng(1234)
    refused = 0
    for position, mask in zip(range(len(data)), rng.integers(1, 256, len(data))):
        damaged = bytearray(data)
        damaged[position] ^= int(mask)
        result = outcome(bytes(damaged))
        # A zip field nothing reads (a timestamp, "version made by") may change harmlessly.
        assert result in ("refused", original), f"byte {position} ^ {mask:#x} loaded something else"
        refused += result == "refused"
    assert refused > len(data) // 2
    for length in range(len(data)):
        assert outcome(data[:length]) == "refused", f"the first {length} bytes loaded"
    record("checkpoint single-byte changes refused (the others load the original)", 100 * refused / len(data),
           f"% of {len(data)}")
    record("checkpoint truncations refused", 100.0, f"% of {len(data)}")


# ---------------------------------------------------------------- crafted archives
def members_of(data):
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def archive(members, compression=zipfile.ZIP_STORED):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compression) as zf:
        for name, payload in members.items():
            zf.writestr(name, payload)
    return out.getvalue()


def with_index(members, edit, text=lambda t: t):
    """``members`` with the index edited by ``edit(index, members)`` (then its JSON text by
    ``text``) and its digest redone, as an attacker (or a bug) would write it."""
    members = dict(members)
    index = json.loads(members["index.json"])
    edit(index, members)
    members["index.json"] = text(json.dumps(index)).encode()
    members["index.sha256"] = hashlib.sha256(members["index.json"]).hexdigest().encode()
    return members


def npy(array=None, header=None, body=b""):
    """A .npy member: of ``array``, or a raw header dict with ``body`` after it."""
    out = io.BytesIO()
    if array is not None:
        np.lib.format.write_array(out, array, allow_pickle=False)
    else:
        np.lib.format.write_array_header_1_0(out, header)
        out.write(body)
    return out.getvalue()


def replace_array(number, payload, dtype, shape):
    def edit(index, members):
        name = index["arrays"][number]["name"]
        members[name] = payload
        index["arrays"][number].update(dtype=dtype, shape=shape, sha256=hashlib.sha256(payload).hexdigest())
    return edit


def crafted(case):
    """(bytes of a crafted file of the named kind, a regex its CheckpointError must match)."""
    base = members_of(saved_bytes({"model": {"weight": dg.ones(2, 3)}, "epoch": 1, "step": 2}))
    huge = 10 ** 12
    if case == "compressed member":  # 8 MB of zeros in a few KB: refused before inflating
        bomb = npy(np.zeros(2 ** 21, np.float32))
        return archive(with_index(base, replace_array(0, bomb, "<f4", [2 ** 21])), zipfile.ZIP_DEFLATED), \
            r"is refused: member '.*' is compressed \(method 8\); .*refuses compressed ones"
    if case == "huge shape in the index":
        return archive(with_index(base, replace_array(0, npy(header={"descr": "<f4", "fortran_order": False,
                                                                    "shape": (huge,)}), "<f4", [huge]))), \
            r"is corrupted: arrays/0\.npy declares <f4 \[1000000000000\] \(4000000000000 bytes\) in a member of \d+"
    if case == "huge shape in the .npy header":
        header = {"descr": "<f4", "fortran_order": False, "shape": (huge,)}
        payload = npy(header=header, body=bytes(24))
        edit = replace_array(0, payload, "<f4", [6])
        return archive(with_index(base, edit)), r"arrays/0\.npy holds <f4 \[1000000000000\], the index says <f4 \[6\]"
    if case == "fewer bytes than the shape":
        payload = npy(header={"descr": "<f4", "fortran_order": False, "shape": (2, 3)}, body=bytes(20))
        return archive(with_index(base, replace_array(0, payload, "<f4", [2, 3]))), \
            r"arrays/0\.npy declares <f4 \[2, 3\] \(24 bytes\) but holds 20 bytes of data"
    for kind, dtype in (("strings", "<U3"), ("void", "|V4"), ("datetimes", "<M8[s]"),
                        ("structured", [("a", "<f4")])):
        if case == f"{kind} array":
            array = np.zeros((2, 3), dtype)
            return archive(with_index(base, replace_array(0, npy(array), array.dtype.str, [2, 3]))), \
                r"is refused: arrays/0\.npy has dtype .*, which holds .*; only numeric and bool arrays load"
    if case == "deep structure":
        def mark(index, members):
            index["root"]["values"][0] = "DEEP"
        deep = with_index(base, mark, lambda t: t.replace('"DEEP"', "[" * 100_000 + "]" * 100_000))
        return archive(deep), r"is corrupted: its structure is nested too deeply"
    if case == "encrypted member":
        data = bytearray(archive(base))
        for start in (data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")):  # first local and central header
            data[start + 6 + (start == data.find(b"PK\x01\x02")) * 2] |= 0x01
        return bytes(data), r"has zip flags 0x1 \(encryption"
    if case == "two members of one name":
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
            for name, payload in [*base.items(), ("index.json", b"{}")]:
                zf.writestr(name, payload)
        return out.getvalue(), r"holds two members named 'index\.json'"
    if case == "unknown member":
        return archive({**base, "run.py": b"print(1)"}), r"holds a member 'run\.py', which distgrad never writes"
    if case == "dict node of uneven lengths":
        return archive(with_index(base, lambda index, m: index["root"]["keys"].append("x"))), \
            r"a dict node with \d+ keys and \d+ values"
    if case == "legacy torch pickle":
        return pickle.dumps({"weight": [1.0]}, protocol=2), \
            r"is a PyTorch \(pickle\) checkpoint, in torch.save's legacy format \(or another pickle\)"
    if case == "numpy npz":
        out = io.BytesIO()
        np.savez(out, weight=np.ones(3))
        return out.getvalue(), r"is a NumPy \.npz archive, not a distgrad checkpoint: read it with numpy.load"
    raise AssertionError(case)


CRAFTED = ["compressed member", "huge shape in the index", "huge shape in the .npy header",
           "fewer bytes than the shape", "strings array", "void array", "datetimes array", "structured array",
           "deep structure", "encrypted member", "two members of one name", "unknown member",
           "dict node of uneven lengths", "legacy torch pickle", "numpy npz"]


@pytest.mark.parametrize("case", CRAFTED)
def test_a_crafted_file_is_refused_saying_why_and_naming_the_previous_checkpoint(tmp_path, case):
    data, error = crafted(case)
    ckpt = Checkpointer(tmp_path)
    model = nn.Linear(3, 2)
    ckpt.save(1, 10, model)
    newest = tmp_path / "checkpoint-0002-00000020.dgc"
    newest.write_bytes(data)
    before = model.weight.detach().numpy().copy()
    with pytest.raises(CheckpointError, match=error) as info:
        ckpt.load(model)
    assert str(info.value).endswith(f"the previous checkpoint {tmp_path / 'checkpoint-0001-00000010.dgc'} "
                                    "may be intact (load it with path=)")
    np.testing.assert_array_equal(model.weight.detach().numpy(), before)


def test_a_real_torch_save_file_is_named_with_a_conversion_that_works(tmp_path):
    torch = pytest.importorskip("torch")
    reference = torch.nn.Linear(3, 2).double()
    path = tmp_path / "model.pt"
    torch.save(reference.state_dict(), path)
    with pytest.raises(CheckpointError, match=r"is a PyTorch \(pickle\) checkpoint, written by torch.save") as info:
        dg.load(path)
    assert "state = torch.load(path, weights_only=True)" in str(info.value)
    # The conversion the message gives, step by step.
    state = torch.load(path, weights_only=True)
    dg.save({k: v.cpu().numpy() for k, v in state.items()}, tmp_path / "model.dgc")
    model = nn.Linear(3, 2, dtype=dg.float64)
    model.load_state_dict(dg.load(tmp_path / "model.dgc"))
    np.testing.assert_array_equal(model.weight.detach().numpy(), reference.weight.detach().numpy())
