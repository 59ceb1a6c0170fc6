"""Collectives on Tensors, shaped like torch.distributed's.

all_reduce and broadcast change the tensor in place; all_gather returns a list of tensors
(or fills the list it is given, as torch does); reduce_scatter returns this rank's block (or
fills ``output``). ``async_op=True``, or the ``i``-prefixed functions, return a Work handle
with ``wait()`` and ``is_completed()``; the tensors hold the result after ``wait()``.
Argument checks run in every world, the world of one included.
"""
import numpy

from ..tensor import Tensor
from .comm.base import REDUCE_OPS
from .world import communicator


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
    comm = _comm_for(group, "all_reduce")
    _check_tensor(comm, tensor, "all_reduce")
    op = _op_name(comm, op, "all_reduce")
    array = _contiguous(tensor)
    if not async_op:
        comm.allreduce(array, op)
        _written(tensor, array)
        return None
    return comm.iallreduce(array, op).then(lambda _: _written(tensor, array))


def broadcast(tensor, src=0, group=None, async_op=False):
    """Overwrite ``tensor`` with rank ``src``'s, in place."""
    comm = _comm_for(group, "broadcast")
    _check_tensor(comm, tensor, "broadcast")
    src = _check_rank(comm, src, "broadcast", "src")
    array = _contiguous(tensor)
    work = comm.ibroadcast(array, src).then(lambda _: _written(tensor, array))
    return _result(work, async_op)


def all_gather(tensor_list, tensor=None, group=None, async_op=False):
    """``all_gather(t)`` returns a list with every rank's ``t`` (rank order);
    ``all_gather(tensor_list, t)`` fills ``tensor_list`` instead, as torch does."""
    if tensor is None:
        tensor, tensor_list = tensor_list, None
    comm = _comm_for(group, "all_gather")
    _check_tensor(comm, tensor, "all_gather")
    if tensor_list is not None:
        _check_outputs(comm, tensor_list, tensor, comm.size, "all_gather")

    def deliver(rows):
        if tensor_list is None:
            return [Tensor._wrap(row) for row in rows]
        for out, row in zip(tensor_list, rows):
            _write(out, row)
        return None
    work = comm.iallgather(_contiguous(tensor)).then(deliver)
    return _result(work, async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Fill ``output_tensor`` (shape ``(world_size * n, ...)``) with every rank's input."""
    comm = _comm_for(group, "all_gather_into_tensor")
    _check_tensor(comm, input_tensor, "all_gather_into_tensor")
    expected = (comm.size * _lead(input_tensor),) + tuple(input_tensor.shape[1:])
    _check_shape(comm, output_tensor, expected, "all_gather_into_tensor", "output_tensor")
    work = comm.iallgather(_contiguous(input_tensor))
    work.then(lambda rows: _write(output_tensor, rows.reshape(expected)))
    return _result(work, async_op)


def reduce_scatter(output, input_list=None, op=ReduceOp.SUM, group=None, async_op=False):
    """``reduce_scatter(t)``: ``t``'s first dimension is split into world_size blocks; returns
    block ``rank`` reduced over all ranks. ``reduce_scatter(output, input_list)``: torch's
    form, ``input_list[r]`` goes to rank r; the reduction lands in ``output``."""
    comm = _comm_for(group, "reduce_scatter")
    op = _op_name(comm, op, "reduce_scatter")
    if input_list is None:
        _check_tensor(comm, output, "reduce_scatter")
        work = comm.ireduce_scatter(_contiguous(output), op)
        return _result(work.then(Tensor._wrap), async_op)
    _check_tensor(comm, output, "reduce_scatter")
    _check_outputs(comm, input_list, output, comm.size, "reduce_scatter", "input_list")
    stacked = output.xp.stack([t.array for t in input_list])
    work = comm.ireduce_scatter(stacked, op).then(lambda block: _write(output, block[0]))
    return _result(work, async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """torch's reduce_scatter_tensor: ``input`` of shape ``(world_size * n, ...)``, ``output``
    of shape ``(n, ...)``."""
    comm = _comm_for(group, "reduce_scatter_tensor")
    _check_tensor(comm, input, "reduce_scatter_tensor")
    op = _op_name(comm, op, "reduce_scatter_tensor")
    expected = (_lead(input) // comm.size,) + tuple(input.shape[1:])
    _check_shape(comm, output, expected, "reduce_scatter_tensor", "output")
    work = comm.ireduce_scatter(_contiguous(input), op)
    work.then(lambda block: _write(output, block))
    return _result(work, async_op)


def barrier(group=None, async_op=False):
    comm = _comm_for(group, "barrier")
    return _result(comm.ibarrier(), async_op)


def broadcast_object(obj, src=0):
    """Rank ``src``'s ``obj`` on every rank (pickled: small objects, within one job)."""
    comm = communicator()
    return comm.broadcast_object(obj, _check_rank(comm, src, "broadcast_object", "src"))


def broadcast_object_list(object_list, src=0, group=None):
    """torch's form: ``object_list`` is replaced, in place, by rank ``src``'s."""
    comm = _comm_for(group, "broadcast_object_list")
    object_list[:] = comm.broadcast_object(list(object_list),
                                           _check_rank(comm, src, "broadcast_object_list", "src"))


_MISSING = object()


def all_gather_object(object_list, obj=_MISSING, group=None):
    """``all_gather_object(obj)`` returns every rank's ``obj``;
    ``all_gather_object(object_list, obj)`` fills ``object_list`` as torch does."""
    comm = _comm_for(group, "all_gather_object")
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


# ------------------------------------------------------------------------------- helpers
def _comm_for(group, what):
    if group is None:
        return communicator()
    from .groups import group_communicator
    return group_communicator(group, what)


def _result(work, async_op):
    if async_op:
        return work
    return work.wait()


_OP_NAMES = {name: name for name in REDUCE_OPS}
_OP_NAMES.update(avg="mean", SUM="sum", MEAN="mean", AVG="mean", MAX="max", MIN="min")


def _op_name(comm, op, what):
    if op.__class__ is str and op in _OP_NAMES:  # the common case, without the checks below
        return _OP_NAMES[op]
    name = getattr(op, "name", op)  # also accepts enums such as torch's ReduceOp members
    if isinstance(name, str) and name.lower() in REDUCE_OPS + ("avg",):
        return "mean" if name.lower() == "avg" else name.lower()
    raise comm.error(f"{what}: unknown reduce op {op!r}; expected one of 'sum', 'mean', 'max', 'min' "
                     "(or dist.ReduceOp.SUM, ...)", ValueError)


def _check_tensor(comm, tensor, what):
    if not isinstance(tensor, Tensor):
        raise comm.error(f"{what}: expected a distgrad Tensor, got {type(tensor).__name__}", TypeError)


def _check_rank(comm, rank, what, name):
    """``rank`` (a world rank, as in torch) as a rank of ``comm``."""
    members = comm.world_ranks
    if members is not None:  # a process group
        if not isinstance(rank, (int, numpy.integer)) or int(rank) not in members:
            raise comm.error(f"{what}: {name}={rank!r} is not a member of this group (world ranks "
                             f"{list(members)})", ValueError)
        return members.index(int(rank))
    if not isinstance(rank, (int, numpy.integer)) or not 0 <= rank < comm.size:
        raise comm.error(f"{what}: {name}={rank!r} is not a rank of this world (0 to {comm.size - 1})",
                         ValueError)
    return int(rank)


def _world_rank(comm, rank):
    """A rank of ``comm`` as a world rank."""
    return rank if comm.world_ranks is None else comm.world_ranks[rank]


def _check_outputs(comm, tensors, like, count, what, name="tensor_list"):
    if len(tensors) != count:
        raise comm.error(f"{what}: {name} has {len(tensors)} tensors but the world has {count} ranks")
    for i, t in enumerate(tensors):
        _check_tensor(comm, t, what)
        if tuple(t.shape) != tuple(like.shape) or t.dtype != like.dtype:
            raise comm.error(f"{what}: {name}[{i}] has shape {tuple(t.shape)} and dtype {t.dtype}, "
                             f"expected {tuple(like.shape)} and {like.dtype}")


def _check_shape(comm, tensor, shape, what, name):
    _check_tensor(comm, tensor, what)
    if tuple(tensor.shape) != tuple(shape):
        raise comm.error(f"{what}: {name} has shape {tuple(tensor.shape)}, expected {tuple(shape)}")


def _lead(tensor):
    if tensor.ndim == 0:
        raise communicator().error("expected a tensor with at least one dimension, got a scalar", ValueError)
    return tensor.shape[0]


def _contiguous(tensor):
    """The array a collective may work on: the tensor's own when it is C-contiguous."""
    array = tensor.array
    if array.flags.c_contiguous:
        return array
    return tensor.xp.ascontiguousarray(array)


def _written(tensor, array):
    """After an in-place collective: put a staged result back and mark the tensor changed."""
    if array is not tensor.array:
        tensor.array[...] = array
    tensor._bump_version()


def _write(tensor, values):
    tensor.array[...] = values
    tensor._bump_version()
