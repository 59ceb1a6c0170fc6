"""Where dataset files are looked for and downloaded to.

Order: the ``root`` argument; else the folder in the environment variable DISTGRAD_DATA,
then the cache folder ($DISTGRAD_CACHE or ~/.cache/distgrad, one subfolder per dataset).
Inside a root, the files may lie directly in it, in a subfolder named after the dataset,
or in torchvision's layout (root/MNIST/raw).
"""
import os


def cache_dir(cache_name):
    base = os.environ.get("DISTGRAD_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "distgrad")
    return os.path.join(base, cache_name)


def candidate_folders(root, cache_name, folder_names):
    """The folders to search, in order of preference."""
    bases = [root] if root is not None else [os.environ.get("DISTGRAD_DATA")]
    folders = []
    for base in bases:
        if not base:
            continue
        base = os.path.expanduser(os.fspath(base))
        for name in folder_names:
            folders += [os.path.join(base, name, "raw"), os.path.join(base, name)]
        folders.append(base)
    if root is None:
        folders.append(cache_dir(cache_name))
    return list(dict.fromkeys(folders))


def download_folder(root, cache_name, folder_names):
    """Where download=True puts the files: root/<dataset folder> or the cache folder."""
    if root is not None:
        return os.path.join(os.path.expanduser(os.fspath(root)), folder_names[0])
    return cache_dir(cache_name)
