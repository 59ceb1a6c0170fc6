"""SummaryWriter: event files that TensorBoard's own reader reads back, rank 0 only by
default, and a clear ImportError without the tensorboard package."""
import importlib
import os
import sys

import numpy as np
import pytest

import distgrad as dg

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from distgrad.utils.tensorboard import SummaryWriter  # noqa: E402


def read(folder):
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0,
                                                               "images": 0, "tensors": 0})
    return accumulator.Reload()


def test_scalars_histograms_images_and_text_read_back(tmp_path):
    values = dg.tensor([0.5, -2.0, 3.0, 3.0, 0.0])
    image = np.linspace(0, 1, 2 * 3 * 3).reshape(3, 2, 3)  # CHW, floats in [0, 1]
    with SummaryWriter(tmp_path, enabled=True) as writer:
        for step, loss in enumerate([2.5, 1.25, 0.5]):
            writer.add_scalar("loss/train", dg.tensor(loss), step)
        writer.add_scalar("lr", 0.1, global_step=7, walltime=1234.5)
        writer.add_histogram("weights", values, global_step=3)
        writer.add_image("digit", image, global_step=1)
        writer.add_text("notes", "hello *world*", global_step=2)
    events = read(tmp_path)
    assert [(s.step, s.value) for s in events.Scalars("loss/train")] == [(0, 2.5), (1, 1.25), (2, 0.5)]
    (lr,) = events.Scalars("lr")
    assert (lr.step, lr.wall_time) == (7, 1234.5) and lr.value == pytest.approx(0.1)

    (hist,) = events.Histograms("weights")
    h = hist.histogram_value
    assert hist.step == 3 and (h.min, h.max, h.num, h.sum, h.sum_squares) == (-2.0, 3.0, 5, 4.5, 22.25)
    assert sum(h.bucket) == 5 and list(h.bucket_limit) == sorted(h.bucket_limit)
    assert h.bucket_limit[-1] >= 3.0 and h.bucket[-1] == 2  # the two 3.0s in the last bucket

    (img,) = events.Images("digit")
    assert (img.step, img.height, img.width) == (1, 2, 3)
    PIL = pytest.importorskip("PIL.Image")
    import io
    decoded = np.asarray(PIL.open(io.BytesIO(img.encoded_image_string)))
    expected = (image.transpose(1, 2, 0) * 255 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(decoded, expected)

    (text,) = events.Tensors("notes/text_summary")
    assert text.step == 2 and text.tensor_proto.string_val == [b"hello *world*"]
    assert events.SummaryMetadata("notes/text_summary").plugin_data.plugin_name == "text"


def test_add_scalars_writes_one_run_per_series(tmp_path):
    with SummaryWriter(tmp_path, enabled=True) as writer:
        writer.add_scalars("loss", {"train": 1.0, "test": 2.0}, 0)
        writer.add_scalars("loss", {"train": 0.5, "test": 1.5}, 1)
    assert sorted(os.listdir(tmp_path / "loss_train")) and sorted(os.listdir(tmp_path / "loss_test"))
    assert [s.value for s in read(tmp_path / "loss_test").Scalars("loss")] == [2.0, 1.5]


def test_other_ranks_write_nothing(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "distgrad.distributed", raising=False)
    monkeypatch.setenv("PMI_RANK", "1")
    monkeypatch.setenv("PMI_SIZE", "2")
    writer = SummaryWriter(tmp_path / "run")
    assert not writer.enabled
    writer.add_scalar("loss", 1.0, 0)
    writer.add_text("t", "x")
    writer.close()
    assert not (tmp_path / "run").exists()
    monkeypatch.setenv("PMI_RANK", "0")
    with SummaryWriter(tmp_path / "run") as writer:
        assert writer.enabled and writer.get_logdir() == str(tmp_path / "run")


def test_bad_images_and_add_graph_say_what_is_wrong(tmp_path):
    with SummaryWriter(tmp_path, enabled=True) as writer:
        with pytest.raises(ValueError, match="needs a 3-d array, got shape"):
            writer.add_image("x", np.zeros((4, 4)))
        with pytest.raises(ValueError, match="1, 3 or 4 channels, got 2"):
            writer.add_image("x", np.zeros((2, 4, 4)))
        with pytest.raises(NotImplementedError, match="add_graph"):
            writer.add_graph(None)


def test_without_tensorboard_the_import_error_names_the_extra(monkeypatch):
    for name in [m for m in sys.modules if m.startswith("distgrad.utils.tensorboard")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportError, match=r"distgrad\[observe\]"):
        importlib.import_module("distgrad.utils.tensorboard")


def test_histograms_match_pytorchs_writer(tmp_path):
    torch = pytest.importorskip("torch")
    torch_tb = pytest.importorskip("torch.utils.tensorboard")
    values = np.random.default_rng(0).standard_normal(200) * 3
    for kwargs in [{}, {"bins": 5}, {"max_bins": 7}]:
        ours, theirs = tmp_path / f"ours{len(kwargs)}{list(kwargs)}", tmp_path / f"theirs{list(kwargs)}"
        with SummaryWriter(ours, enabled=True) as writer:
            writer.add_histogram("w", dg.tensor(values), 0, **kwargs)
        with torch_tb.SummaryWriter(str(theirs)) as writer:
            writer.add_histogram("w", torch.tensor(values), 0, **kwargs)
        a, b = (read(folder).Histograms("w")[0].histogram_value for folder in (ours, theirs))
        assert list(a.bucket) == list(b.bucket), kwargs
        np.testing.assert_allclose(a.bucket_limit, b.bucket_limit, rtol=1e-12)
        assert (a.min, a.max, a.num) == (b.min, b.max, b.num)
        assert a.sum == pytest.approx(b.sum) and a.sum_squares == pytest.approx(b.sum_squares)


def test_the_examples_observer_logs_to_tensorboard_and_prints_the_profile(tmp_path, capsys, monkeypatch):
    from argparse import Namespace
    monkeypatch.syspath_prepend(str(os.path.join(os.path.dirname(__file__), "..", "..", "examples")))
    import _common
    x = dg.ones(3, requires_grad=True)
    optimizer = dg.optim.SGD([x], lr=0.25)
    args = Namespace(tensorboard=str(tmp_path / "tb"), profile=2, output=str(tmp_path / "out"))
    observer = _common.Observer("demo", args, optimizer, every=5)
    for i in range(10):
        (x * 2.0).sum().backward()
        observer.step(32, 1.0 - 0.05 * i)
    observer.epoch(1, test_accuracy=0.75)
    observer.close()
    events = read(tmp_path / "tb")
    assert [s.step for s in events.Scalars("train/loss")] == [5, 10]
    assert events.Scalars("train/loss")[1].value == pytest.approx(0.55)
    assert events.Scalars("train/lr")[0].value == 0.25 and events.Scalars("train/samples_per_s")[0].value > 0
    assert events.Scalars("epoch/test_accuracy")[0].value == 0.75
    printed = capsys.readouterr().out
    assert "ProfilerStep#2" in printed and "MulBackward" in printed and "# of Calls" in printed
    assert os.path.exists(tmp_path / "out" / "demo_profile_rank0.json")
