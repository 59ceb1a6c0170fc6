"""MNIST / Fashion-MNIST: reading and verifying the IDX files, transforms, downloading."""
import copy
import gzip
import http.server
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

import distgrad
from distgrad.data import DataLoader, Subset
from distgrad.data.datasets import MNIST, FashionMNIST
from distgrad.data.datasets.idx import parse_idx
from distgrad.data.transforms import Compose, Lambda, Normalize, ToTensor

REPO = Path(__file__).resolve().parents[2]


def _mnist_root():
    for candidate in (os.environ.get("DISTGRAD_DATA"), REPO.parent / "shared" / "datasets" / "mnist"):
        if candidate and (Path(candidate) / "t10k-labels-idx1-ubyte.gz").is_file():
            return Path(candidate)
    return None


MNIST_ROOT = _mnist_root()
needs_mnist = pytest.mark.skipif(MNIST_ROOT is None, reason="MNIST files not found at ../shared/datasets/mnist "
                                 "or $DISTGRAD_DATA")


@pytest.fixture(scope="module")
def train():
    return MNIST(MNIST_ROOT, train=True)


@pytest.fixture(autouse=True)
def no_env(monkeypatch, tmp_path):
    # Tests choose their folders explicitly; a developer's settings must not leak in.
    for var in ("DISTGRAD_DATA", "DISTGRAD_MNIST_MIRROR", "DISTGRAD_FASHIONMNIST_MIRROR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DISTGRAD_CACHE", str(tmp_path / "cache"))


def idx_bytes(array, code=0x08):
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


# ------------------------------------------------------------------ IDX format
def test_parse_idx_and_its_errors():
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(parse_idx(idx_bytes(a), "x"), a)
    b = np.arange(6, dtype=np.int32).reshape(2, 3) - 3
    parsed = parse_idx(idx_bytes(b, 0x0C), "x")
    np.testing.assert_array_equal(parsed, b)
    assert parsed.dtype.isnative and parsed.flags.writeable
    with pytest.raises(RuntimeError, match="truncated"):
        parse_idx(idx_bytes(a)[:-1], "f.idx")
    with pytest.raises(RuntimeError, match=r"expected \(2, 3, 5\)"):
        parse_idx(idx_bytes(a), "f.idx", (2, 3, 5))
    with pytest.raises(RuntimeError, match="not an IDX file"):
        parse_idx(b"PK\x03\x04rest", "f.idx")


# ------------------------------------------------------------------ the real files
@needs_mnist
def test_training_set_facts(train):
    assert train.data.shape == (60000, 28, 28) and train.data.dtype == np.uint8
    assert train.targets.dtype == np.int64 and len(train) == 60000
    assert train.targets[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(train.targets.numpy()).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918,
                                                          6265, 5851, 5949]
    assert abs(float(train.data.numpy().mean(dtype=np.float64)) - 33.3184) < 1e-4
    image, label = train[0]
    assert image.shape == (28, 28) and image.dtype == np.uint8 and label == 5


@needs_mnist
def test_test_set_facts():
    test = MNIST(str(MNIST_ROOT), train=False)
    assert len(test) == 10000 and abs(float(test.data.numpy().mean(dtype=np.float64)) - 33.7912) < 1e-4


@needs_mnist
def test_normalize_transform_gives_normalized_float_batches(train):
    ds = copy.copy(train)  # shares the arrays: no second read of the files
    ds.transform = Normalize(0.1307, 0.3081)
    x, y = next(iter(DataLoader(ds, batch_size=64)))
    assert x.shape == (64, 1, 28, 28) and x.dtype == np.float32 and y.dtype == np.int64
    expected = (train.data.numpy()[:64, None].astype(np.float32) / 255 - 0.1307) / 0.3081
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-5, atol=1e-5)
    assert y.tolist() == train.targets[:64].tolist()
    # the per-sample route gives the same as the batched one
    np.testing.assert_allclose(ds[3][0].numpy(), expected[3], rtol=1e-5, atol=1e-5)


@needs_mnist
def test_whole_arrays_for_custom_loops():
    test = MNIST(MNIST_ROOT, train=False)
    images, labels = test.arrays(normalize=(0.1307, 0.3081))
    assert images.shape == (10000, 1, 28, 28) and images.dtype == np.float32 and labels.dtype == np.int64
    expected = (test.data.numpy()[:64, None].astype(np.float32) / 255 - 0.1307) / 0.3081
    np.testing.assert_allclose(images[:64], expected, rtol=1e-5, atol=1e-5)
    assert abs(float(test.arrays()[0].mean(dtype=np.float64)) - 33.7912 / 255) < 1e-5


@needs_mnist
def test_transforms_compose_lambda_and_per_sample_fallback():
    batched = MNIST(MNIST_ROOT, train=False, transform=Compose([ToTensor(), Normalize(0.5, 0.5)]),
                    target_transform=Lambda(lambda y: y * 2, batched=True))
    per_sample = MNIST(MNIST_ROOT, train=False, transform=Compose([ToTensor(), Lambda(lambda x: x.flatten())]),
                       target_transform=lambda y: y + 100)
    subset = Subset(batched, [5, 1, 7])
    (xa, ya), (xb, yb) = next(iter(DataLoader(subset, batch_size=3))), next(iter(DataLoader(per_sample,
                                                                                            batch_size=3)))
    assert xa.shape == (3, 1, 28, 28) and float(xa.numpy().min()) >= -1.0 and float(xa.numpy().max()) <= 1.0
    assert ya.tolist() == [2 * int(batched.targets[i]) for i in (5, 1, 7)]
    assert xb.shape == (3, 784) and yb.tolist() == [100 + int(t) for t in per_sample.targets[:3].tolist()]


@needs_mnist
def test_data_folder_from_environment_and_torchvision_layout(monkeypatch, tmp_path):
    monkeypatch.setenv("DISTGRAD_DATA", str(MNIST_ROOT))
    assert MNIST(train=False).folder == str(MNIST_ROOT)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        os.symlink(MNIST_ROOT / name, raw / name)
    assert MNIST(tmp_path, train=False).folder == str(raw)


@needs_mnist
def test_corrupted_file_names_file_and_digests(tmp_path):
    labels = gzip.decompress((MNIST_ROOT / "t10k-labels-idx1-ubyte.gz").read_bytes())
    shutil.copy(MNIST_ROOT / "t10k-images-idx3-ubyte.gz", tmp_path)
    damaged = bytearray(labels)
    damaged[100] = (damaged[100] + 1) % 10
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(bytes(damaged))  # uncompressed, also accepted
    with pytest.raises(RuntimeError, match=r"t10k-labels-idx1-ubyte failed verification.*expected "
                                           r"ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"):
        MNIST(tmp_path, train=False)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(labels)
    assert MNIST(tmp_path, train=False).targets[:3].tolist() == [7, 2, 1]


def test_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        FashionMNIST(tmp_path / "nowhere")
    message = str(info.value)
    assert "train-images-idx3-ubyte" in message and "DISTGRAD_DATA" in message and "download=True" in message


@needs_mnist
def test_fashion_mnist_refuses_mnist_gz_files(tmp_path):
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(MNIST_ROOT / name, tmp_path)
    with pytest.raises(RuntimeError, match="published digest of t10k-"):
        FashionMNIST(tmp_path, train=False)


# ------------------------------------------------------------------ downloading
class _Server:
    """An HTTP server on 127.0.0.1 serving one folder, in a thread."""

    def __init__(self, folder):
        handler = lambda *a, **kw: _QuietHandler(*a, directory=str(folder), **kw)  # noqa: E731
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def leftovers(folder):
    return sorted(p.name for p in Path(folder).iterdir() if p.name.startswith(".") or p.suffix == ".part")


@needs_mnist
def test_download_from_local_mirror(tmp_path, monkeypatch):
    with _Server(MNIST_ROOT) as server:
        monkeypatch.setenv("DISTGRAD_MNIST_MIRROR", server.url)
        ds = MNIST(tmp_path, train=False, download=True)
    folder = tmp_path / "MNIST"
    assert ds.folder == str(folder) and len(ds) == 10000 and ds.targets[:3].tolist() == [7, 2, 1]
    assert sorted(p.name for p in folder.iterdir()) == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert len(MNIST(tmp_path, train=False)) == 10000  # found again without downloading


@needs_mnist
def test_corrupted_download_is_refused_and_leaves_nothing(tmp_path, monkeypatch):
    bad = tmp_path / "bad"
    bad.mkdir()
    labels = bytearray(gzip.decompress((MNIST_ROOT / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    labels[-1] = (labels[-1] + 1) % 10  # a valid IDX file with one wrong label
    (bad / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(labels)))
    shutil.copy(MNIST_ROOT / "t10k-images-idx3-ubyte.gz", bad)
    with _Server(bad) as server:
        with pytest.raises(RuntimeError, match=r"t10k-labels-idx1-ubyte.gz: .*failed verification") as info:
            MNIST(tmp_path / "data", train=False, download=True, mirrors=[server.url])
    assert "offline" in str(info.value) and "DISTGRAD_DATA" in str(info.value)
    folder = tmp_path / "data" / "MNIST"
    assert not (folder / "t10k-labels-idx1-ubyte.gz").exists() and leftovers(folder) == []
    # with a good mirror after the bad one, the download succeeds from the good one
    with _Server(bad) as bad_server, _Server(MNIST_ROOT) as good_server:
        ds = MNIST(tmp_path / "data", train=False, download=True, mirrors=[bad_server.url, good_server.url])
    assert ds.targets[-1].item() == int(gzip.decompress((MNIST_ROOT / "t10k-labels-idx1-ubyte.gz")
                                                        .read_bytes())[-1]) and leftovers(folder) == []


def test_offline_download_explains_what_to_do(tmp_path):
    with _Server(tmp_path) as server:  # serves an empty folder: every file is a 404
        url = server.url
    with pytest.raises(RuntimeError) as info:  # the server is closed now: connection refused
        MNIST(train=False, download=True, mirrors=[url])
    message = str(info.value)
    assert url in message and "offline" in message and "DISTGRAD_DATA" in message
    cache = tmp_path / "cache" / "mnist"
    assert str(cache) in message and leftovers(cache) == []


@needs_mnist
@pytest.mark.gpu
@pytest.mark.skipif(not distgrad.cuda.is_available(), reason="needs an NVIDIA GPU with CuPy")
def test_transforms_run_on_gpu_resident_data():
    test = MNIST(MNIST_ROOT, train=False, transform=Normalize(0.1307, 0.3081))
    expected = next(iter(DataLoader(test, batch_size=8)))[0].numpy()
    test.data, test.targets = test.data.cuda(), test.targets.cuda()
    x, y = next(iter(DataLoader(test, batch_size=8)))
    assert x.is_cuda and y.is_cuda and x.shape == (8, 1, 28, 28)
    np.testing.assert_allclose(x.cpu().numpy(), expected, rtol=1e-6)
