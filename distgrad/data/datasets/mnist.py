"""MNIST and Fashion-MNIST, read from their four IDX files and held as whole arrays.

``data`` is a uint8 (N, 28, 28) Tensor and ``targets`` an int64 (N,) Tensor, as in
torchvision. A DataLoader batches them with one fancy-index per array (``get_batch``) and
applies batch-capable transforms (ToTensor, Normalize, Compose of those) to the whole batch.

Integrity: MNIST files are checked against the published sha256 of the decompressed files.
For Fashion-MNIST only the sha256 of the published .gz files is known; a .gz is checked
against it, an uncompressed copy only by its header and size.
"""
import os
from typing import NamedTuple, Optional

import numpy

from ...tensor import Tensor
from .._util import index_array, take
from ..collate import default_collate
from ..dataset import Dataset
from ..transforms import Normalize, ToTensor, is_batchable
from . import idx
from .download import download_file, mirrors_from_env
from .paths import candidate_folders, download_folder


class IdxFile(NamedTuple):
    name: str                         # file name without ".gz"
    shape: tuple                      # what the IDX header must say
    sha256: Optional[str] = None      # published digest of the decompressed file
    gz_sha256: Optional[str] = None   # published digest of the distributed .gz


class MNIST(Dataset):
    """The MNIST handwritten digits (LeCun, Cortes, Burges): 60,000 training and 10,000
    test images of 28x28 pixels, labels 0-9."""

    cache_name = "mnist"
    folder_names = ("MNIST", "mnist")
    mirrors = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
               "https://storage.googleapis.com/cvdf-datasets/mnist/")
    files = {
        True: (IdxFile("train-images-idx3-ubyte", (60000, 28, 28),
                       "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
               IdxFile("train-labels-idx1-ubyte", (60000,),
                       "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5")),
        False: (IdxFile("t10k-images-idx3-ubyte", (10000, 28, 28),
                        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
                IdxFile("t10k-labels-idx1-ubyte", (10000,),
                        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2")),
    }
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
               "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root=None, train=True, transform=None, target_transform=None, download=False,
                 mirrors=None):
        self.root = root
        self.train = bool(train)
        self.transform = transform
        self.target_transform = target_transform
        specs = self.files[self.train]
        self.folder = self._find_folder(specs)
        if self.folder is None:
            if not download:
                raise FileNotFoundError(self._missing_message(specs))
            self.folder = self._download(specs, mirrors)
        images, labels = (self._load(spec, self._path(self.folder, spec)) for spec in specs)
        if len(images) != len(labels):
            raise RuntimeError(f"{type(self).__name__}: {len(images)} images but {len(labels)} labels "
                               f"in {self.folder}")
        self.data = Tensor._wrap(images)
        self.targets = Tensor._wrap(labels.astype(numpy.int64))

    # ------------------------------------------------------------------ samples and batches
    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        image, target = Tensor._wrap(self.data.array[index]), int(self.targets.array[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def get_batch(self, indices):
        """The collated batch ``[images, targets]`` at ``indices``, gathered in one go."""
        if not (is_batchable(self.transform) and is_batchable(self.target_transform)):
            return default_collate([self[i] for i in index_array(indices).tolist()])
        images, targets = take(self.data, indices), take(self.targets, indices)
        if self.transform is not None:
            images = self.transform.batch(images)
        if self.target_transform is not None:
            targets = self.target_transform.batch(targets)
        return [images, targets]

    def arrays(self, normalize=None):
        """All images as float32 (N, 1, 28, 28) in [0, 1] (then ``(x - mean) / std`` when
        ``normalize=(mean, std)``) and the int64 labels, as NumPy/CuPy arrays."""
        transform = Normalize(*normalize) if normalize is not None else ToTensor()
        return transform.apply(self.data.array, batched=True), self.targets.array

    @property
    def class_to_idx(self):
        return {name: i for i, name in enumerate(self.classes)}

    def __repr__(self):
        split = "train" if self.train else "test"
        return f"{type(self).__name__}(split={split!r}, samples={len(self)}, folder={self.folder!r})"

    # ------------------------------------------------------------------ files
    @staticmethod
    def _path(folder, spec):
        """The file for ``spec`` in ``folder`` (gzip or not), or None."""
        for name in (spec.name + ".gz", spec.name):
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                return path
        return None

    def _find_folder(self, specs):
        for folder in candidate_folders(self.root, self.cache_name, self.folder_names):
            if all(self._path(folder, spec) for spec in specs):
                return folder
        return None

    def _load(self, spec, path, source=None):
        """The verified array in ``path``; ``source`` (a URL, say) names it in errors."""
        source = source or path
        stored, content = idx.read_file(path)
        if spec.sha256 is not None:
            self._check_digest(source, "its decompressed content" if idx.is_gzip(stored) else "the file",
                               idx.sha256_hex(content), spec.sha256, spec.name)
        elif spec.gz_sha256 is not None and idx.is_gzip(stored):
            self._check_digest(source, "the .gz file", idx.sha256_hex(stored), spec.gz_sha256,
                               spec.name + ".gz")
        return idx.parse_idx(content, source, spec.shape)

    def _check_digest(self, source, what, actual, expected, published_name):
        if actual != expected:
            raise RuntimeError(
                f"{type(self).__name__}: {source} failed verification: the sha256 of {what} is {actual}, "
                f"expected {expected} (the published digest of {published_name}). The file is corrupted "
                "or not the original; delete it and copy it again, or download it (download=True).")

    def _download(self, specs, mirrors):
        folder = download_folder(self.root, self.cache_name, self.folder_names)
        variable = f"DISTGRAD_{type(self).__name__.upper()}_MIRROR"
        mirrors = list(mirrors) if mirrors is not None else mirrors_from_env(variable, self.mirrors)
        for spec in specs:
            if self._path(folder, spec) is None:
                download_file(spec.name + ".gz", mirrors, folder,
                              verify=lambda path, url, spec=spec: self._load(spec, path, url),
                              help_text=self._manual_help(specs, folder, variable))
        return folder

    def _manual_help(self, specs, folder, variable=None):
        names = ", ".join(spec.name + "[.gz]" for spec in specs)
        text = (f"If this machine is offline, put the {type(self).__name__} files ({names}) in {folder}, "
                "or set DISTGRAD_DATA to a folder that holds them, or pass root=<folder>.")
        if variable:
            text += f" Other mirrors can be given with {variable}=url1,url2."
        return text

    def _missing_message(self, specs):
        looked = "\n".join(f"  {f}" for f in candidate_folders(self.root, self.cache_name, self.folder_names))
        split = "training" if self.train else "test"
        return (f"{type(self).__name__}: the {split} files were not found. Looked in:\n{looked}\n"
                + self._manual_help(specs, download_folder(self.root, self.cache_name, self.folder_names))
                + " Or pass download=True to fetch them.")


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST (Xiao, Rasul, Vollgraf): MNIST's format and sizes, ten kinds of
    clothing. Only the digests of the published .gz files are known (see the module doc)."""

    cache_name = "fashion-mnist"
    folder_names = ("FashionMNIST", "fashion-mnist", "fashion_mnist")
    mirrors = ("https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
               "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/")
    files = {
        True: (IdxFile("train-images-idx3-ubyte", (60000, 28, 28), None,
                       "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc"),
               IdxFile("train-labels-idx1-ubyte", (60000,), None,
                       "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc")),
        False: (IdxFile("t10k-images-idx3-ubyte", (10000, 28, 28), None,
                        "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229"),
                IdxFile("t10k-labels-idx1-ubyte", (10000,), None,
                        "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf")),
    }
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
               "Bag", "Ankle boot"]
