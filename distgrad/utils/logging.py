"""Rank-aware logging: info from rank 0 only, warnings and errors from every rank.

    from distgrad.utils.logging import get_logger
    log = get_logger()                       # the "distgrad" logger
    log.info("global batch %d", 8 * 64)      # -> "[rank 0/8 node1] global batch 512", printed once
    log.warning("no gradient for %s", name)  # -> "[rank 3/8 node1] WARNING: no gradient for fc.bias"

Every line starts with ``[rank r/N host]``, as distgrad's errors do (``ranks.format_prefix``).
DISTGRAD_LOG_ALL_RANKS=1 shows info lines from every rank; DISTGRAD_DEBUG=1
(``distgrad-run --debug``) adds debug lines.

The rank is looked up when a line is written, not when the logger is made, so a logger
created at import time is right once ``distgrad.distributed`` is initialized. Before that
(or without it) it comes from the launcher's environment (``distgrad.utils.ranks``) and the
host from socket.gethostname(); in a plain process it is 0 of 1.
"""
import logging
import os
import socket
import sys

from . import ranks

_ROOT = "distgrad"


def _flag(name, environ=None):
    return (os.environ if environ is None else environ).get(name, "") not in ("", "0")


def rank_size_and_host(environ=None):
    """(rank, world_size, host) of this process: from distgrad.distributed once it is
    initialized, else from the MPI launcher's environment and socket.gethostname(), else
    (0, 1, socket.gethostname())."""
    # Only consult distgrad.distributed if something already imported it: importing it here
    # could start MPI, which a log line must never do.
    dist = sys.modules.get("distgrad.distributed")
    is_initialized = getattr(dist, "is_initialized", None)
    if is_initialized is not None and is_initialized():
        world = dist.communicator()
        return world.rank, world.size, world.host
    return (*(ranks.launched_rank_and_size(environ) or (0, 1)), socket.gethostname())


def rank_and_world_size(environ=None):
    """(rank, world_size) of this process, as ``rank_size_and_host``."""
    return rank_size_and_host(environ)[:2]


def rank_prefix(environ=None):
    """``[rank r/N host]`` of this process now: what its log lines start with, for messages
    written without a logger (e.g. an exception raised before or without the world)."""
    return ranks.format_prefix(*rank_size_and_host(environ))


class RankFilter(logging.Filter):
    """Drops records below WARNING on ranks other than 0 (unless DISTGRAD_LOG_ALL_RANKS=1)
    and stamps every record with ``rank_prefix``."""

    def __init__(self, rank_info=rank_size_and_host):
        super().__init__()
        self.rank_info = rank_info

    def filter(self, record):
        rank, size, host = self.rank_info()
        record.rank_prefix = ranks.format_prefix(rank, size, host)
        if record.levelno >= logging.WARNING or rank == 0:
            return True
        return _flag("DISTGRAD_LOG_ALL_RANKS")


class RankFormatter(logging.Formatter):
    def format(self, record):
        level = "" if record.levelno == logging.INFO else f"{record.levelname}: "
        record.message = record.getMessage()
        line = f"{getattr(record, 'rank_prefix', '[rank ?/?]')} {level}{record.message}"
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


def make_handler(stream=None, rank_info=rank_size_and_host):
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
