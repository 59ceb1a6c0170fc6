"""Rank-aware logging: info from rank 0 only, warnings and errors from every rank.

    from distgrad.utils.logging import get_logger
    log = get_logger()                       # the "distgrad" logger
    log.info("global batch %d", 8 * 64)      # -> "[0/8] global batch 512", printed once
    log.warning("no gradient for %s", name)  # -> "[3/8] WARNING: no gradient for fc.bias"

Every line starts with ``[rank/world_size]``. DISTGRAD_LOG_ALL_RANKS=1 shows info lines from
every rank; DISTGRAD_DEBUG=1 (``distgrad-run --debug``) adds debug lines.

The rank is looked up when a line is written, not when the logger is made, so a logger
created at import time is right once ``distgrad.distributed`` is initialized. Before that
(or without it) it comes from the launcher's environment (MPICH's PMI_RANK/PMI_SIZE, Open
MPI's OMPI_COMM_WORLD_RANK/SIZE); in a plain process it is 0 of 1.
"""
import logging
import os
import sys

_ROOT = "distgrad"
_ENV_PAIRS = (("PMI_RANK", "PMI_SIZE"), ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE"))


def _flag(name, environ=None):
    return (os.environ if environ is None else environ).get(name, "") not in ("", "0")


def rank_and_world_size(environ=None):
    """(rank, world_size) of this process: from distgrad.distributed once it is initialized,
    else from the MPI launcher's environment, else (0, 1)."""
    # Only consult distgrad.distributed if something already imported it: importing it here
    # could start MPI, which a log line must never do.
    dist = sys.modules.get("distgrad.distributed")
    is_initialized = getattr(dist, "is_initialized", None)
    if is_initialized is not None and is_initialized():
        return dist.get_rank(), dist.get_world_size()
    environ = os.environ if environ is None else environ
    for rank_name, size_name in _ENV_PAIRS:
        if rank_name in environ and size_name in environ:
            try:
                return int(environ[rank_name]), int(environ[size_name])
            except ValueError:
                continue
    return 0, 1


class RankFilter(logging.Filter):
    """Drops records below WARNING on ranks other than 0 (unless DISTGRAD_LOG_ALL_RANKS=1)
    and stamps every record with ``rank_prefix``."""

    def __init__(self, rank_info=rank_and_world_size):
        super().__init__()
        self.rank_info = rank_info

    def filter(self, record):
        rank, size = self.rank_info()
        record.rank_prefix = f"[{rank}/{size}]"
        if record.levelno >= logging.WARNING or rank == 0:
            return True
        return _flag("DISTGRAD_LOG_ALL_RANKS")


class RankFormatter(logging.Formatter):
    def format(self, record):
        level = "" if record.levelno == logging.INFO else f"{record.levelname}: "
        record.message = record.getMessage()
        line = f"{getattr(record, 'rank_prefix', '[?/?]')} {level}{record.message}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (so redirection and capture work)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def make_handler(stream=None, rank_info=rank_and_world_size):
    handler = _CurrentStderr() if stream is None else logging.StreamHandler(stream)
    handler.addFilter(RankFilter(rank_info))
    handler.setFormatter(RankFormatter())
    handler._distgrad = True  # marks it as ours, so get_logger never adds a second one
    return handler


def _configure(logger):
    if not any(getattr(h, "_distgrad", False) for h in logger.handlers):
        logger.addHandler(make_handler())
        # Our handler already writes every line; passing it on to the root logger's
        # handlers as well would print it twice.
        logger.propagate = False
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.DEBUG if _flag("DISTGRAD_DEBUG") else logging.INFO)
    return logger


def get_logger(name=_ROOT):
    """A logger whose lines carry the rank and obey the rank rules above.

    Loggers under "distgrad." share the "distgrad" logger's handler (through propagation);
    any other name gets a handler of its own.
    """
    if name == _ROOT or name.startswith(_ROOT + "."):
        _configure(logging.getLogger(_ROOT))
        return logging.getLogger(name)
    return _configure(logging.getLogger(name))
