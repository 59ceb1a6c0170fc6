"""One rank of ``distgrad.multiprocessing.spawn``: ``python -m distgrad.multiprocessing._child
FOLDER`` (started through distgrad-run, which sets RANK). Recreates the parent's main
module, then calls ``fn(rank, *args)``; an exception's traceback goes to FOLDER for the
parent before it ends the job."""
import multiprocessing.spawn as _mp_spawn
import os
import pickle
import sys
import traceback

from .spawn import PAYLOAD, error_file


def main(folder):
    rank = int(os.environ["RANK"])
    with open(os.path.join(folder, PAYLOAD), "rb") as f:
        _mp_spawn.prepare(pickle.load(f))  # sys.path, cwd, argv, the parent's __main__ as __mp_main__
        fn, args = pickle.load(f)  # now fn, defined in the parent's main module, resolves
    try:
        fn(rank, *args)
    except BaseException as e:
        if isinstance(e, SystemExit) and e.code in (None, 0):
            raise
        with open(error_file(folder, rank), "w") as f:
            f.write(traceback.format_exc())
        raise


if __name__ == "__main__":
    main(sys.argv[1])
