"""One rank of ``distgrad.multiprocessing.spawn``: ``python -m distgrad.multiprocessing._child
FOLDER`` (started through distgrad-run, which sets RANK). Recreates the parent's main
module, then calls ``fn(rank, *args)``; an exception's traceback goes to FOLDER for the
parent before it ends the job."""
import multiprocessing.spawn as _mp_spawn
import os
import pickle
import sys
import traceback

from .spawn import PAYLOAD, error_file, first_failure_file


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
        _report(folder, rank, traceback.format_exc())
        raise


def _report(folder, rank, trace):
    """Write the traceback whole (a rank can be ended mid-write by the first failure's
    abort), then claim first place if no rank has."""
    partial = error_file(folder, rank) + ".partial"
    with open(partial, "w") as f:
        f.write(trace)
    os.replace(partial, error_file(folder, rank))
    try:
        claim = os.open(first_failure_file(folder), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        return
    os.write(claim, str(rank).encode())
    os.close(claim)


if __name__ == "__main__":
    main(sys.argv[1])
