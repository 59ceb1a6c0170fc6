"""distgrad.save / distgrad.load: round trips, integrity, safety, atomic writes."""
import hashlib
import io
import json
import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import distgrad
from distgrad import serialization
from distgrad.serialization import CheckpointError


def roundtrip(obj, tmp_path, **load_kw):
    path = tmp_path / "ck.pt"
    distgrad.save(obj, path)
    return distgrad.load(path, **load_kw)


def test_nested_structure_round_trip(tmp_path):
    w = distgrad.randn(3, 4)
    obj = {
        "model": OrderedDict([("fc.weight", w), ("fc.bias", distgrad.zeros(4))]),
        "optimizer": {"state": {0: {"step": 3, "momentum_buffer": distgrad.ones(3, 4)}, 1: {}},
                      "param_groups": [{"lr": 0.1, "params": [0, 1], "betas": (0.9, 0.999),
                                        "nesterov": False, "name": None}]},
        "epoch": 7, "loss": float("inf"), "tag": "run-1", "raw": b"\x00\xff",
        (1, "pair"): np.arange(6).reshape(2, 3), 2.5: np.float32(1.5), True: "bool key", None: [],
    }
    back = roundtrip(obj, tmp_path)
    assert list(back) == list(obj)  # key order and key types (int, float, bool, tuple, None) kept
    assert isinstance(back["model"], OrderedDict) and list(back["model"]) == ["fc.weight", "fc.bias"]
    np.testing.assert_array_equal(back["model"]["fc.weight"].numpy(), w.numpy())
    state = back["optimizer"]["state"]
    assert list(state) == [0, 1] and state[0]["step"] == 3 and state[1] == {}
    group = back["optimizer"]["param_groups"][0]
    assert group["betas"] == (0.9, 0.999) and isinstance(group["betas"], tuple)
    assert group["params"] == [0, 1] and group["nesterov"] is False and group["name"] is None
    assert back["epoch"] == 7 and back["loss"] == float("inf") and back["raw"] == b"\x00\xff"
    assert isinstance(back[(1, "pair")], np.ndarray) and back[(1, "pair")].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert isinstance(back[2.5], np.float32) and back[2.5] == 1.5
    assert back[True] == "bool key" and back[None] == []
    assert [type(k) for k in back] == [type(k) for k in obj]  # True stays a bool, 2.5 a float


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool"])
def test_dtypes_are_preserved(tmp_path, dtype):
    array = (np.random.default_rng(0).standard_normal((3, 5)) * 50).astype(dtype)
    back = roundtrip({"t": distgrad.tensor(array), "a": array}, tmp_path)
    assert back["t"].dtype == np.dtype(dtype) and back["a"].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back["t"].numpy(), array)


def test_requires_grad_and_shared_tensors(tmp_path):
    leaf = distgrad.randn(2, requires_grad=True)
    plain = distgrad.randn(2)
    back = roundtrip({"a": leaf, "b": leaf, "c": plain, "d": leaf * 2}, tmp_path)
    assert back["a"].requires_grad and back["a"].is_leaf and back["a"].grad is None
    assert back["a"] is back["b"]  # one object saved twice comes back as one
    assert not back["c"].requires_grad
    assert back["d"].requires_grad and back["d"].is_leaf  # a computed tensor comes back as a leaf


def test_scalars_and_non_contiguous_arrays(tmp_path):
    t = distgrad.tensor(3.5)
    view = np.arange(12).reshape(3, 4).T
    back = roundtrip([t, view, np.int64(5), np.float64(0.25), 0.25], tmp_path)
    assert back[0].shape == () and back[0].item() == 3.5
    np.testing.assert_array_equal(back[1], view)
    assert back[2] == 5 and isinstance(back[2], np.int64)
    assert type(back[3]) is np.float64 and type(back[4]) is float and back[3] == back[4] == 0.25


def test_parameters_come_back_as_parameters(tmp_path):
    from distgrad.nn import Parameter
    p = Parameter(distgrad.randn(2, 3))
    back = roundtrip({"p": p, "frozen": Parameter(distgrad.ones(2), requires_grad=False)}, tmp_path)
    assert isinstance(back["p"], Parameter) and back["p"].requires_grad and back["p"].is_leaf
    assert isinstance(back["frozen"], Parameter) and not back["frozen"].requires_grad
    np.testing.assert_array_equal(back["p"].detach().numpy(), p.detach().numpy())


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="the folder .*nope does not exist"):
        distgrad.save({}, tmp_path / "nope" / "ck.pt")


def test_file_objects(tmp_path):
    buffer = io.BytesIO()
    distgrad.save({"x": distgrad.arange(3)}, buffer)
    buffer.seek(0)
    assert distgrad.load(buffer)["x"].tolist() == [0, 1, 2]


def test_unsupported_objects_are_refused_before_writing(tmp_path):
    path = tmp_path / "ck.pt"
    with pytest.raises(TypeError, match=r"obj\['bad'\] of type object"):
        distgrad.save({"bad": object()}, path)
    with pytest.raises(TypeError, match="dtype object"):
        distgrad.save(np.array([{}], dtype=object), path)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ map_location
def test_map_location_forms(tmp_path):
    obj = {"w": distgrad.ones(2)}
    assert str(roundtrip(obj, tmp_path, map_location="cpu")["w"].device) == "cpu"
    assert str(roundtrip(obj, tmp_path, map_location={"cuda:0": "cpu"})["w"].device) == "cpu"
    calls = []

    def location(tensor, saved):
        calls.append(saved)
        return tensor * 3

    assert roundtrip(obj, tmp_path, map_location=location)["w"].tolist() == [3.0, 3.0] and calls == ["cpu"]
    assert roundtrip(obj, tmp_path, map_location=lambda t, saved: None)["w"].tolist() == [1.0, 1.0]


def _rewrite_index(path, edit):
    """Rewrite a checkpoint's index (with a valid digest), as a hand-made file would."""
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    index = json.loads(members["index.json"])
    edit(index, members)
    members["index.json"] = json.dumps(index).encode()
    members["index.sha256"] = hashlib.sha256(members["index.json"]).hexdigest().encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


@pytest.mark.skipif(distgrad.cuda.is_available(), reason="checks the error on a machine without that GPU")
def test_missing_device_is_named(tmp_path):
    path = tmp_path / "ck.pt"
    distgrad.save({"w": distgrad.ones(2)}, path)
    _rewrite_index(path, lambda index, members: index["root"]["values"][0].update(device="cuda:1"))
    with pytest.raises(RuntimeError, match="saved on cuda:1.*map_location='cpu'"):
        distgrad.load(path)
    assert distgrad.load(path, map_location="cpu")["w"].tolist() == [1.0, 1.0]


# ------------------------------------------------------------------ safety and integrity
class _Payload:
    def __reduce__(self):
        return (os.mkdir, (_Payload.target,))


def test_pickle_inside_an_array_is_refused(tmp_path):
    path = tmp_path / "ck.pt"
    distgrad.save({"w": np.zeros(2)}, path)
    _Payload.target = str(tmp_path / "pwned")
    evil = io.BytesIO()
    np.save(evil, np.array([_Payload()], dtype=object), allow_pickle=True)

    def inject(index, members):
        members["arrays/0.npy"] = evil.getvalue()
        index["arrays"][0].update(sha256=hashlib.sha256(evil.getvalue()).hexdigest(), dtype="|O", shape=[1])

    _rewrite_index(path, inject)
    with pytest.raises(CheckpointError, match="refused.*nothing was executed"):
        distgrad.load(path)
    assert not (tmp_path / "pwned").exists()


def test_pytorch_pickle_checkpoint_is_refused(tmp_path):
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="PyTorch \\(pickle\\) checkpoint"):
        distgrad.load(path)


def test_truncated_file_gives_clear_error(tmp_path):
    path = tmp_path / "ck.pt"
    distgrad.save({"w": distgrad.randn(100)}, path)
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 10):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=f"checkpoint {path} is corrupted"):
            distgrad.load(path)


def test_flipped_byte_in_array_data_is_detected(tmp_path):
    path = tmp_path / "ck.pt"
    values = np.arange(64, dtype=np.float64)
    distgrad.save({"w": values}, path)
    data = bytearray(path.read_bytes())
    at = bytes(data).find(values.tobytes()) + 8 * 10
    data[at] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupted"):
        distgrad.load(path)


def test_tampered_index_is_detected(tmp_path):
    path = tmp_path / "ck.pt"
    distgrad.save({"epoch": 1}, path)
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    members["index.json"] = members["index.json"].replace(b'"values":[1]', b'"values":[2]')
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(CheckpointError, match="sha256 of index.json"):
        distgrad.load(path)


def test_newer_format_version_is_refused(tmp_path):
    path = tmp_path / "ck.pt"
    distgrad.save([1], path)
    _rewrite_index(path, lambda index, members: index.update(version=serialization.VERSION + 1))
    with pytest.raises(CheckpointError, match="format version 2"):
        distgrad.load(path)


def test_crash_mid_write_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    distgrad.save({"step": 1, "w": distgrad.ones(3)}, path)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(serialization.npy_format, "write_array", crash)
    with pytest.raises(OSError, match="disk full"):
        distgrad.save({"step": 2, "w": distgrad.zeros(3)}, path)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck.pt"]  # no temporary file left
    back = distgrad.load(path)
    assert back["step"] == 1 and back["w"].tolist() == [1.0, 1.0, 1.0]
    distgrad.save({"step": 2}, path)
    assert distgrad.load(path) == {"step": 2}


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_saved_file_has_the_permissions_the_umask_gives(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        distgrad.save({"w": distgrad.ones(2)}, tmp_path / "ck.pt")
    finally:
        os.umask(previous)
    assert oct((tmp_path / "ck.pt").stat().st_mode & 0o777) == oct(mode)
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]


def test_module_and_optimizer_like_state_dicts(tmp_path):
    torch = pytest.importorskip("torch")
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    as_numpy = lambda x: distgrad.tensor(x.detach().numpy()) if isinstance(x, torch.Tensor) else x  # noqa: E731
    state = {"model": {k: as_numpy(v) for k, v in model.state_dict().items()},
             "optim": {"state": {k: {n: as_numpy(t) for n, t in s.items()} for k, s in opt.state_dict()["state"].items()},
                       "param_groups": opt.state_dict()["param_groups"]}}
    back = roundtrip(state, tmp_path)
    assert back["optim"]["param_groups"] == opt.state_dict()["param_groups"]
    assert list(back["optim"]["state"]) == [0, 1]
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(back["model"][k].numpy(), v.numpy())


@pytest.mark.gpu
@pytest.mark.skipif(not distgrad.cuda.is_available(), reason="needs an NVIDIA GPU with CuPy")
def test_gpu_tensors_load_where_they_were_saved_or_where_mapped(tmp_path):
    t = distgrad.randn(3, 4, device="cuda")
    path = tmp_path / "ck.pt"
    distgrad.save({"t": t, "host": t.cpu()}, path)
    back = distgrad.load(path)
    assert back["t"].is_cuda and not back["host"].is_cuda
    np.testing.assert_array_equal(back["t"].cpu().numpy(), t.cpu().numpy())
    on_cpu = distgrad.load(path, map_location="cpu")
    assert not on_cpu["t"].is_cuda and on_cpu["t"].tolist() == t.tolist()
    assert distgrad.load(path, map_location="cuda:0")["host"].is_cuda
