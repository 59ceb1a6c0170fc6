"""Messages between two ranks, shaped like torch.distributed's: send/recv block, isend/irecv
return a Work. A message goes to one rank and matches a receive with the same tag."""
from .collectives import _check_rank, _check_tensor, _comm_for, _contiguous, _world_rank, _written


def isend(tensor, dst, group=None, tag=0):
    comm = _comm_for(group, "isend")
    _check_tensor(comm, tensor, "isend")
    dst = _check_peer(comm, dst, "isend", "dst")
    return comm.isend(_contiguous(tensor), dst, _check_tag(comm, tag, "isend"))


def irecv(tensor, src=None, group=None, tag=0):
    """Receive into ``tensor``; ``wait()`` returns the sender's rank (any rank when src is None)."""
    comm = _comm_for(group, "irecv")
    _check_tensor(comm, tensor, "irecv")
    if src is not None:
        src = _check_peer(comm, src, "irecv", "src")
    array = _contiguous(tensor)
    return comm.irecv(array, src, _check_tag(comm, tag, "irecv")).then(
        lambda sender: _written(tensor, array) or _world_rank(comm, sender))


def send(tensor, dst, group=None, tag=0):
    isend(tensor, dst, group, tag).wait()


def recv(tensor, src=None, group=None, tag=0):
    """Blocks until the message is in ``tensor``; returns the sender's rank."""
    return irecv(tensor, src, group, tag).wait()


def _check_peer(comm, rank, what, name):
    peer = _check_rank(comm, rank, what, name)
    if peer == comm.rank:
        raise comm.error(f"{what}: {name}={rank} is this rank; a message needs another rank", ValueError)
    return peer


def _check_tag(comm, tag, what):
    if not isinstance(tag, int) or tag < 0:
        raise comm.error(f"{what}: tag must be a non-negative integer, got {tag!r}", ValueError)
    return tag
