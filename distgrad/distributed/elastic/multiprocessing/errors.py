"""``@record``, as torchrun scripts decorate their entry point: an exception that ends the
function is written, as torchrun's agent reads it, to ``$TORCHELASTIC_ERROR_FILE`` when that is
set, then raised on. distgrad's own failure handling already prints the traceback with the
rank and ends the job (distgrad/world/failure.py), so without the variable this changes
nothing."""
import functools
import json
import os
import time
import traceback


def record(fn, error_handler=None):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SystemExit as e:
            if e.code in (None, 0):
                raise
            _write_error_file(e)
            raise
        except Exception as e:
            _write_error_file(e)
            raise
    return wrapper


def _write_error_file(error):
    path = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if not path:
        return
    message = {"message": f"{type(error).__name__}: {error}",
               "extraInfo": {"py_callstack": traceback.format_exc(), "timestamp": str(int(time.time()))}}
    try:
        with open(path, "w") as f:
            json.dump({"message": message}, f)
    except OSError:
        pass  # the traceback still reaches the log; a file the agent may read is a courtesy
