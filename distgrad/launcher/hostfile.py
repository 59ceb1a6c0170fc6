"""Host lists for multi-machine jobs: ``-H host1:4,host2:4`` and hostfiles.

Both forms end up as a list of ``Host(name, slots)``; the launcher then hands the same
validated list to whichever MPI is installed, so MPICH and Open MPI accept the same files.

A hostfile has one host per line, with the slot count written either way:

    node01:4            # MPICH style
    node02 slots=4      # Open MPI style
    node03              # one slot

Blank lines and ``#`` comments are ignored.
"""
import re
from typing import NamedTuple


class HostSpecError(ValueError):
    """A host list or hostfile that cannot be used; the message says where and why."""


class Host(NamedTuple):
    name: str
    slots: int


# Host names and addresses: letters, digits, '.', '-', '_' (IPv6 literals are not supported:
# the ':' separates the slot count).
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def _slots(text, where):
    try:
        slots = int(text)
    except ValueError:
        raise HostSpecError(f"{where}: slot count {text!r} is not an integer") from None
    if slots <= 0:
        raise HostSpecError(f"{where}: slot count must be positive, got {slots}")
    return slots


def _host(name, slots_text, where):
    if not _NAME.match(name):
        raise HostSpecError(f"{where}: {name!r} is not a valid host name")
    return Host(name, 1 if slots_text is None else _slots(slots_text, where))


def _merge(hosts, where):
    """Reject a host named twice: the user almost surely meant one count, not the sum."""
    seen = set()
    for host in hosts:
        if host.name in seen:
            raise HostSpecError(f"{where}: host {host.name!r} is listed more than once")
        seen.add(host.name)
    if not hosts:
        raise HostSpecError(f"{where}: no hosts given")
    return hosts


def parse_host_list(text):
    """``"a:4,b:4"`` -> [Host("a", 4), Host("b", 4)]; a host without ``:N`` has one slot."""
    where = f"host list {text!r}"
    hosts = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise HostSpecError(f"{where}: empty entry (stray comma?)")
        name, sep, count = item.partition(":")
        hosts.append(_host(name, count if sep else None, where))
    return _merge(hosts, where)


def _parse_line(line, where):
    fields = line.split()
    name, slots_text = fields[0], None
    if ":" in name:
        name, _, slots_text = name.partition(":")
    for field in fields[1:]:
        key, sep, value = field.partition("=")
        if key == "slots" and sep and slots_text is None:
            slots_text = value
        else:
            raise HostSpecError(f"{where}: cannot read {field!r} (expected 'host', 'host:N' "
                                f"or 'host slots=N')")
    return _host(name, slots_text, where)


def parse_hostfile_text(text, source="hostfile"):
    hosts = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line:
            hosts.append(_parse_line(line, f"{source}, line {number}"))
    return _merge(hosts, source)


def parse_hostfile(path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise HostSpecError(f"cannot read hostfile {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise HostSpecError(f"cannot read hostfile {path}: not a text file") from None
    return parse_hostfile_text(text, source=str(path))


def format_host_list(hosts):
    """The ``a:4,b:4`` form that both ``mpiexec -hosts`` (MPICH) and ``-H`` (Open MPI) take."""
    return ",".join(f"{h.name}:{h.slots}" for h in hosts)
