"""Argument checks and array staging shared by the Tensor collectives (collectives.py,
rooted.py, point_to_point.py) and DistributedOptimizer. Errors name the rank through
``comm.error``; ranks in messages are world ranks, as the caller passed them."""
import numpy

from ..tensor import Tensor
from ..world.comm.base import REDUCE_OPS
from ..world.state import communicator


def result(work, async_op):
    if async_op:
        return work
    return work.wait()


OP_NAMES = {name: name for name in REDUCE_OPS}
OP_NAMES.update(avg="mean", SUM="sum", MEAN="mean", AVG="mean", MAX="max", MIN="min")


def op_name(comm, op, what):
    if op.__class__ is str and op in OP_NAMES:  # the common case, without the checks below
        return OP_NAMES[op]
    name = getattr(op, "name", op)  # also accepts enums such as torch's ReduceOp members
    if isinstance(name, str) and name.lower() in REDUCE_OPS + ("avg",):
        return "mean" if name.lower() == "avg" else name.lower()
    raise comm.error(f"{what}: unknown reduce op {op!r}; expected one of 'sum', 'mean', 'max', 'min' "
                     "(or dist.ReduceOp.SUM, ...)", ValueError)


def check_tensor(comm, tensor, what):
    if not isinstance(tensor, Tensor):
        raise comm.error(f"{what}: expected a distgrad Tensor, got {type(tensor).__name__}", TypeError)


def check_rank(comm, rank, what, name):
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


def world_rank(comm, rank):
    """A rank of ``comm`` as a world rank."""
    return rank if comm.world_ranks is None else comm.world_ranks[rank]


def check_outputs(comm, tensors, like, count, what, name="tensor_list"):
    if len(tensors) != count:
        raise comm.error(f"{what}: {name} has {len(tensors)} tensors but the world has {count} ranks")
    for i, t in enumerate(tensors):
        check_tensor(comm, t, what)
        if tuple(t.shape) != tuple(like.shape) or t.dtype != like.dtype:
            raise comm.error(f"{what}: {name}[{i}] has shape {tuple(t.shape)} and dtype {t.dtype}, "
                             f"expected {tuple(like.shape)} and {like.dtype}")


def check_shape(comm, tensor, shape, what, name):
    check_tensor(comm, tensor, what)
    if tuple(tensor.shape) != tuple(shape):
        raise comm.error(f"{what}: {name} has shape {tuple(tensor.shape)}, expected {tuple(shape)}")


def lead(tensor):
    if tensor.ndim == 0:
        raise communicator().error("expected a tensor with at least one dimension, got a scalar", ValueError)
    return tensor.shape[0]


def contiguous(tensor):
    """The array a collective may work on: the tensor's own when it is C-contiguous."""
    array = tensor.array
    if array.flags.c_contiguous:
        return array
    return tensor.xp.ascontiguousarray(array)


def written(tensor, array):
    """After an in-place collective: put a staged result back and mark the tensor changed."""
    if array is not tensor.array:
        tensor.array[...] = array
    tensor._bump_version()


def write(tensor, values):
    tensor.array[...] = values
    tensor._bump_version()
