"""Tiny Shakespeare as characters: vocabulary, round trip, split, windows, offline fallback."""
import numpy as np
import pytest

from distgrad.data import DataLoader
from distgrad.data.datasets import CharBlocks, TinyShakespeare
from distgrad.data.datasets.text import _REPO_COPY

needs_text = pytest.mark.skipif(not __import__("os").path.isfile(_REPO_COPY),
                                reason="../shared/datasets/tinyshakespeare/input.txt not present")


@needs_text
def test_vocabulary_round_trip_and_split():
    text = TinyShakespeare(val_fraction=0.1)
    assert len(text.text) == 1115394 and text.vocab_size == 65 and text.chars == sorted(set(text.text))
    assert text.decode(text.encode("First Citizen:")) == "First Citizen:"
    assert len(text.train_data) + len(text.val_data) == len(text.text)
    assert len(text.val_data) == int(len(text.text) * 0.1)
    assert text.decode(text.val_data[:50]) == text.text[len(text.train_data):len(text.train_data) + 50]
    with pytest.raises(KeyError, match="not in the vocabulary"):
        text.encode("\u00e9")


def test_windows_are_inputs_and_next_characters():
    data = np.arange(20)
    blocks = CharBlocks(data, block_size=4)
    assert len(blocks) == 4
    x, y = blocks[1]
    assert x.tolist() == [4, 5, 6, 7] and y.tolist() == [5, 6, 7, 8]
    xb, yb = next(iter(DataLoader(blocks, batch_size=3)))
    assert tuple(xb.shape) == (3, 4) and (yb.numpy() == xb.numpy() + 1).all()
    with pytest.raises(ValueError, match="CharBlocks"):
        CharBlocks(np.arange(4), block_size=4)


def test_missing_file_names_where_it_looked_and_offline_falls_back(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTGRAD_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="DISTGRAD_TEXT"):
        TinyShakespeare(root=tmp_path / "nowhere")
    with pytest.warns(RuntimeWarning, match="standard library"):
        text = TinyShakespeare(root=tmp_path / "nowhere", download=True, mirrors=["http://127.0.0.1:9/"])
    assert text.path is None and len(text.text) > 100_000 and "def " in text.text


def test_environment_variable_names_the_file(tmp_path, monkeypatch):
    (tmp_path / "input.txt").write_text("abcabcab\n" * 20)
    monkeypatch.setenv("DISTGRAD_TEXT", str(tmp_path))
    text = TinyShakespeare(val_fraction=0.25)
    assert text.chars == ["\n", "a", "b", "c"] and len(text.val_data) == 45
