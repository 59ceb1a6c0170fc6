"""Collectives on Tensors, shaped like torch.distributed's.

all_reduce and broadcast change the tensor in place; all_gather returns a list of tensors
(or fills the list it is given, as torch does); reduce_scatter returns this rank's block (or
fills ``output``). ``async_op=True``, or the ``i``-prefixed functions, return a Work handle
with ``wait()`` and ``is_completed()``; the tensors hold the result after ``wait()``.
Argument checks run in every world, the world of one included.
"""
from ..tensor import Tensor
from ..world.groups import group_communicator
from ..world.state import communicator
from ._checks import (check_outputs, check_rank, check_shape, check_tensor, contiguous, lead, op_name, result,
                      write, written)


class ReduceOp:
    SUM = "sum"
    MEAN = AVG = "mean"
    MAX = "max"
    MIN = "min"


class _Group:
    WORLD = None


group = _Group()  # group.WORLD is the whole world, as group=None


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduce ``tensor`` across all ranks, in place ("sum", "mean", "max", "min")."""
    comm = group_communicator(group, "all_reduce")
    check_tensor(comm, tensor, "all_reduce")
    op = op_name(comm, op, "all_reduce")
    array = contiguous(tensor)
    if not async_op:
        comm.allreduce(array, op)
        written(tensor, array)
        return None
    return comm.iallreduce(array, op).then(lambda _: written(tensor, array))


def broadcast(tensor, src=0, group=None, async_op=False):
    """Overwrite ``tensor`` with rank ``src``'s, in place."""
    comm = group_communicator(group, "broadcast")
    check_tensor(comm, tensor, "broadcast")
    src = check_rank(comm, src, "broadcast", "src")
    array = contiguous(tensor)
    work = comm.ibroadcast(array, src).then(lambda _: written(tensor, array))
    return result(work, async_op)


def all_gather(tensor_list, tensor=None, group=None, async_op=False):
    """``all_gather(t)`` returns a list with every rank's ``t`` (rank order);
    ``all_gather(tensor_list, t)`` fills ``tensor_list`` instead, as torch does."""
    if tensor is None:
        tensor, tensor_list = tensor_list, None
    comm = group_communicator(group, "all_gather")
    check_tensor(comm, tensor, "all_gather")
    if tensor_list is not None:
        check_outputs(comm, tensor_list, tensor, comm.size, "all_gather")

    def deliver(rows):
        if tensor_list is None:
            return [Tensor._wrap(row) for row in rows]
        for out, row in zip(tensor_list, rows):
            write(out, row)
        return None
    work = comm.iallgather(contiguous(tensor)).then(deliver)
    return result(work, async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Fill ``output_tensor`` (shape ``(world_size * n, ...)``) with every rank's input."""
    comm = group_communicator(group, "all_gather_into_tensor")
    check_tensor(comm, input_tensor, "all_gather_into_tensor")
    expected = (comm.size * lead(input_tensor),) + tuple(input_tensor.shape[1:])
    check_shape(comm, output_tensor, expected, "all_gather_into_tensor", "output_tensor")
    work = comm.iallgather(contiguous(input_tensor))
    work.then(lambda rows: write(output_tensor, rows.reshape(expected)))
    return result(work, async_op)


def reduce_scatter(output, input_list=None, op=ReduceOp.SUM, group=None, async_op=False):
    """``reduce_scatter(t)``: ``t``'s first dimension is split into world_size blocks; returns
    block ``rank`` reduced over all ranks. ``reduce_scatter(output, input_list)``: torch's
    form, ``input_list[r]`` goes to rank r; the reduction lands in ``output``."""
    comm = group_communicator(group, "reduce_scatter")
    op = op_name(comm, op, "reduce_scatter")
    if input_list is None:
        check_tensor(comm, output, "reduce_scatter")
        work = comm.ireduce_scatter(contiguous(output), op)
        return result(work.then(Tensor._wrap), async_op)
    check_tensor(comm, output, "reduce_scatter")
    check_outputs(comm, input_list, output, comm.size, "reduce_scatter", "input_list")
    stacked = output.xp.stack([t.array for t in input_list])
    work = comm.ireduce_scatter(stacked, op).then(lambda block: write(output, block[0]))
    return result(work, async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """torch's reduce_scatter_tensor: ``input`` of shape ``(world_size * n, ...)``, ``output``
    of shape ``(n, ...)``."""
    comm = group_communicator(group, "reduce_scatter_tensor")
    check_tensor(comm, input, "reduce_scatter_tensor")
    op = op_name(comm, op, "reduce_scatter_tensor")
    expected = (lead(input) // comm.size,) + tuple(input.shape[1:])
    check_shape(comm, output, expected, "reduce_scatter_tensor", "output")
    work = comm.ireduce_scatter(contiguous(input), op)
    work.then(lambda block: write(output, block))
    return result(work, async_op)


def barrier(group=None, async_op=False):
    comm = group_communicator(group, "barrier")
    return result(comm.ibarrier(), async_op)


def broadcast_object(obj, src=0):
    """Rank ``src``'s ``obj`` on every rank (pickled: small objects, within one job)."""
    comm = communicator()
    return comm.broadcast_object(obj, check_rank(comm, src, "broadcast_object", "src"))


def broadcast_object_list(object_list, src=0, group=None):
    """torch's form: ``object_list`` is replaced, in place, by rank ``src``'s."""
    comm = group_communicator(group, "broadcast_object_list")
    object_list[:] = comm.broadcast_object(list(object_list),
                                           check_rank(comm, src, "broadcast_object_list", "src"))


_MISSING = object()


def all_gather_object(object_list, obj=_MISSING, group=None):
    """``all_gather_object(obj)`` returns every rank's ``obj``;
    ``all_gather_object(object_list, obj)`` fills ``object_list`` as torch does."""
    comm = group_communicator(group, "all_gather_object")
    if obj is _MISSING:
        return comm.allgather_object(object_list)
    gathered = comm.allgather_object(obj)
    if len(object_list) != comm.size:
        raise comm.error(f"all_gather_object: object_list has {len(object_list)} entries but the "
                         f"world has {comm.size} ranks")
    object_list[:] = gathered
    return None


def iall_reduce(tensor, op=ReduceOp.SUM):
    return all_reduce(tensor, op, async_op=True)


def ibroadcast(tensor, src=0):
    return broadcast(tensor, src, async_op=True)


def iall_gather(tensor):
    """A Work whose ``wait()`` returns the list of every rank's tensor."""
    return all_gather(tensor, async_op=True)


def ireduce_scatter(tensor, op=ReduceOp.SUM):
    """A Work whose ``wait()`` returns this rank's reduced block."""
    return reduce_scatter(tensor, op=op, async_op=True)
