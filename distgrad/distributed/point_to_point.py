"""Messages between two ranks, shaped like torch.distributed's: send/recv block, isend/irecv
return a Work. A message goes to one rank and matches a receive with the same tag."""
from ..world.groups import group_communicator
from ._checks import check_rank, check_tensor, contiguous, world_rank, written


def isend(tensor, dst, group=None, tag=0):
    comm = group_communicator(group, "isend")
    check_tensor(comm, tensor, "isend")
    dst = _check_peer(comm, dst, "isend", "dst")
    return comm.isend(contiguous(tensor), dst, _check_tag(comm, tag, "isend"))


def irecv(tensor, src=None, group=None, tag=0):
    """Receive into ``tensor``; ``wait()`` returns the sender's rank (any rank when src is None)."""
    comm = group_communicator(group, "irecv")
    check_tensor(comm, tensor, "irecv")
    if src is not None:
        src = _check_peer(comm, src, "irecv", "src")
    array = contiguous(tensor)
    return comm.irecv(array, src, _check_tag(comm, tag, "irecv")).then(
        lambda sender: written(tensor, array) or world_rank(comm, sender))


def send(tensor, dst, group=None, tag=0):
    isend(tensor, dst, group, tag).wait()


def recv(tensor, src=None, group=None, tag=0):
    """Blocks until the message is in ``tensor``; returns the sender's rank."""
    return irecv(tensor, src, group, tag).wait()


def _check_peer(comm, rank, what, name):
    peer = check_rank(comm, rank, what, name)
    if peer == comm.rank:
        raise comm.error(f"{what}: {name}={rank} is this rank; a message needs another rank", ValueError)
    return peer


def _check_tag(comm, tag, what):
    if not isinstance(tag, int) or tag < 0:
        raise comm.error(f"{what}: tag must be a non-negative integer, got {tag!r}", ValueError)
    return tag
