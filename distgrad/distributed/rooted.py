"""Collectives with a root, shaped like torch.distributed's: reduce (into ``dst``), gather
(onto ``dst``), scatter (from ``src``), gather_object. Ranks are ranks of the whole world."""
from ..world.groups import group_communicator
from ._checks import check_outputs, check_rank, check_tensor, contiguous, op_name, result, world_rank, write, written
from .collectives import ReduceOp


def reduce(tensor, dst=0, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` over all ranks into rank ``dst``'s ``tensor``; the other ranks'
    tensors are left as they are."""
    comm = group_communicator(group, "reduce")
    check_tensor(comm, tensor, "reduce")
    dst = check_rank(comm, dst, "reduce", "dst")
    op = op_name(comm, op, "reduce")
    array = contiguous(tensor)
    work = comm.ireduce(array, dst, op)
    if comm.rank == dst:
        work.then(lambda _: written(tensor, array))
    return result(work, async_op)


def gather(tensor, gather_list=None, dst=0, group=None, async_op=False):
    """Rank ``dst`` receives every rank's ``tensor`` into ``gather_list`` (rank order); the
    other ranks pass no list."""
    comm = group_communicator(group, "gather")
    check_tensor(comm, tensor, "gather")
    dst = check_rank(comm, dst, "gather", "dst")
    _check_list_on_root(comm, gather_list, tensor, dst, "gather", "gather_list")
    work = comm.igather(contiguous(tensor), dst)
    if comm.rank == dst:
        work.then(lambda rows: _fill(gather_list, rows))
    if async_op:
        return work
    work.wait()
    return None


def scatter(tensor, scatter_list=None, src=0, group=None, async_op=False):
    """Every rank's ``tensor`` receives its entry of rank ``src``'s ``scatter_list``."""
    comm = group_communicator(group, "scatter")
    check_tensor(comm, tensor, "scatter")
    src = check_rank(comm, src, "scatter", "src")
    _check_list_on_root(comm, scatter_list, tensor, src, "scatter", "scatter_list")
    source = tensor.xp.stack([t.array for t in scatter_list]) if comm.rank == src else None
    array = contiguous(tensor)
    work = comm.iscatter(array, source, src).then(lambda _: written(tensor, array))
    return result(work, async_op)


def gather_object(obj, object_gather_list=None, dst=0, group=None):
    """Rank ``dst``'s ``object_gather_list`` receives every rank's ``obj`` (pickled: small
    objects, within one job)."""
    comm = group_communicator(group, "gather_object")
    dst = check_rank(comm, dst, "gather_object", "dst")
    if comm.rank == dst and (object_gather_list is None or len(object_gather_list) != comm.size):
        have = "none" if object_gather_list is None else f"{len(object_gather_list)} entries"
        raise comm.error(f"gather_object: rank {world_rank(comm, dst)} needs an object_gather_list of "
                         f"{comm.size} entries, "
                         f"got {have}", ValueError)
    gathered = comm.allgather_object(obj)
    if comm.rank == dst:
        object_gather_list[:] = gathered


def _fill(tensors, rows):
    for out, row in zip(tensors, rows):
        write(out, row)


def _check_list_on_root(comm, tensors, like, root, what, name):
    """``root`` is a rank of ``comm``; messages name world ranks, as the caller did."""
    if comm.rank == root:
        if tensors is None:
            raise comm.error(f"{what}: rank {world_rank(comm, root)} needs {name} (one tensor per rank)",
                             ValueError)
        check_outputs(comm, tensors, like, comm.size, what, name)
    elif tensors:
        raise comm.error(f"{what}: {name} is given on rank {world_rank(comm, comm.rank)}, but only rank "
                         f"{world_rank(comm, root)} may pass one", ValueError)
