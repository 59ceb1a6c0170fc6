"""Character-level text: tiny Shakespeare (Karpathy's char-rnn corpus) with its vocabulary.

``TinyShakespeare().text`` is the raw text, ``chars`` its sorted characters (the vocabulary),
``encode``/``decode`` map between text and int64 ids, and ``train_data``/``val_data`` are the
id arrays of the first ``1 - val_fraction`` of the text and the rest (no shuffling: the
validation text is text the model has not seen). ``CharBlocks`` turns an id array into a
Dataset of (input, next-character target) windows for a DataLoader.

Where the file is looked for, in order: ``root`` (the file itself or a folder holding
input.txt), the file or folder in $DISTGRAD_TEXT, ``../shared/datasets/tinyshakespeare/
input.txt`` beside the repository (tests and CI), the cache folder. With ``download=True`` a
missing file is fetched into the cache and checked against its sha256; when that fails
(offline), the Python standard library's own source files stand in, with a warning, so a
character model can still be trained.
"""
import hashlib
import os
import sysconfig
import warnings

import numpy

from ...tensor import Tensor
from .._util import index_array
from ..dataset import Dataset
from .download import download_file, mirrors_from_env
from .paths import cache_dir

_FILENAME = "input.txt"
_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
_MIRRORS = ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/",)
_REPO_COPY = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared", "datasets",
                          "tinyshakespeare", _FILENAME)
_FALLBACK_CHARS = 1_100_000  # about the size of tiny Shakespeare


class TinyShakespeare:
    """Tiny Shakespeare as characters: ``text``, ``chars``, ``encode``/``decode``,
    ``train_data``/``val_data`` (int64 NumPy arrays)."""

    cache_name = "tinyshakespeare"

    def __init__(self, root=None, download=False, val_fraction=0.1, mirrors=None):
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"TinyShakespeare: val_fraction must be in [0, 1), got {val_fraction}")
        self.path = self._find(root)
        if self.path is None:
            if not download:
                raise FileNotFoundError(self._missing_message(root))
            self.path = self._download(mirrors)
        if self.path is None:
            self.text = stdlib_source_text(_FALLBACK_CHARS)
        else:
            with open(self.path, "rb") as f:
                self.text = f.read().decode("utf-8")
        self.chars = sorted(set(self.text))
        self._ids = {c: i for i, c in enumerate(self.chars)}
        self.data = self.encode(self.text)
        cut = len(self.data) - int(len(self.data) * val_fraction)
        self.train_data, self.val_data = self.data[:cut], self.data[cut:]

    @property
    def vocab_size(self):
        return len(self.chars)

    def encode(self, text):
        """The int64 ids of ``text``'s characters (KeyError names a character not in the vocabulary)."""
        try:
            return numpy.fromiter((self._ids[c] for c in text), dtype=numpy.int64, count=len(text))
        except KeyError as error:
            raise KeyError(f"TinyShakespeare.encode: character {error.args[0]!r} is not in the "
                           f"vocabulary of {self.vocab_size} characters") from None

    def decode(self, ids):
        """The text of a sequence of ids (a list, array or Tensor)."""
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        return "".join(self.chars[int(i)] for i in ids)

    def __repr__(self):
        source = self.path or "Python standard library sources (offline fallback)"
        return (f"TinyShakespeare(chars={len(self.text)}, vocab={self.vocab_size}, "
                f"train={len(self.train_data)}, val={len(self.val_data)}, source={source!r})")

    # ------------------------------------------------------------------ files
    @staticmethod
    def _candidates(root):
        places = [root] if root is not None else [os.environ.get("DISTGRAD_TEXT"), _REPO_COPY]
        if root is None:
            places.append(cache_dir(TinyShakespeare.cache_name))
        paths = []
        for place in filter(None, places):
            place = os.path.expanduser(os.fspath(place))
            paths.append(os.path.join(place, _FILENAME) if os.path.isdir(place) else place)
        return [os.path.normpath(p) for p in paths]

    def _find(self, root):
        return next((p for p in self._candidates(root) if os.path.isfile(p)), None)

    def _download(self, mirrors):
        """The downloaded, verified file's path, or None (with a warning) when it cannot be had."""
        mirrors = list(mirrors) if mirrors is not None else mirrors_from_env("DISTGRAD_TEXT_MIRROR", _MIRRORS)
        try:
            return download_file(_FILENAME, mirrors, cache_dir(self.cache_name), verify=_check_sha256)
        except RuntimeError as error:
            warnings.warn(f"TinyShakespeare: {error}\nUsing the Python standard library's source text "
                          "instead (set DISTGRAD_TEXT to a copy of tiny Shakespeare's input.txt).",
                          RuntimeWarning, stacklevel=3)
            return None

    def _missing_message(self, root):
        looked = "\n".join(f"  {p}" for p in self._candidates(root))
        return (f"TinyShakespeare: {_FILENAME} was not found. Looked in:\n{looked}\n"
                "Set DISTGRAD_TEXT to the file (or its folder), pass root=, or pass download=True "
                f"to fetch it into {cache_dir(self.cache_name)}.")


def _check_sha256(path, url):
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != _SHA256:
        raise RuntimeError(f"{url}: sha256 {digest}, expected {_SHA256} (not the original file)")


def stdlib_source_text(n_chars):
    """The first ``n_chars`` characters of the standard library's .py files, in sorted order."""
    folder = sysconfig.get_paths()["stdlib"]
    parts, total = [], 0
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as f:
            parts.append(f.read())
        total += len(parts[-1])
        if total >= n_chars:
            break
    return "".join(parts)[:n_chars]


class CharBlocks(Dataset):
    """Windows of ``block_size`` ids and the ids one step later: item i is
    ``(data[s:s+block_size], data[s+1:s+block_size+1])`` with ``s = i * stride``."""

    def __init__(self, data, block_size, stride=None):
        self.data = numpy.asarray(data, dtype=numpy.int64)
        self.block_size = int(block_size)
        self.stride = int(stride or block_size)
        if len(self.data) <= self.block_size:
            raise ValueError(f"CharBlocks: {len(self.data)} ids cannot make a window of {self.block_size} "
                             "plus its target")

    def __len__(self):
        return (len(self.data) - self.block_size - 1) // self.stride + 1

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"CharBlocks: index {index} out of range for {len(self)} windows")
        inputs, targets = self.get_batch([index % len(self)])
        return inputs[0], targets[0]

    def get_batch(self, indices):
        """``[inputs, targets]`` of shape (len(indices), block_size), gathered in one go."""
        starts = index_array(indices) * self.stride
        window = starts[:, None] + numpy.arange(self.block_size + 1)
        blocks = self.data[window]
        return [Tensor._wrap(blocks[:, :-1].copy()), Tensor._wrap(blocks[:, 1:].copy())]
