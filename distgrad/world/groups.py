"""Process groups (torch.distributed's ``new_group``): a subset of the world's ranks with a
communicator of its own, passed as ``group=`` to collectives, as ``process_group=`` to
DistributedDataParallel and SyncBatchNorm.

Every rank calls ``new_group`` with the same ranks, in the same order as the other
``new_group`` calls (one MPI split over the world each). Ranks outside the group get
``GroupMember.NON_GROUP_MEMBER``. As in torch, ``src``/``dst`` arguments stay world ranks;
``get_rank(group)`` is the rank inside the group.
"""
import numbers

from .state import communicator


class ProcessGroup:
    def __init__(self, ranks, comm):
        self.ranks = tuple(ranks)  # world ranks, in group-rank order
        self.comm = comm
        comm.world_ranks = self.ranks

    def rank(self):
        return self.comm.rank

    def size(self):
        return len(self.ranks)

    def __repr__(self):
        return f"<ProcessGroup of world ranks {list(self.ranks)}>"


class GroupMember:
    WORLD = None                     # group=None is the whole world
    NON_GROUP_MEMBER = object()      # what new_group returns on ranks outside the group


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False,
              group_desc=None):
    world = communicator()
    chosen = _checked_ranks(world, ranks)
    # Every rank must ask for the same group: a mismatch would split the world inconsistently.
    asked = world.allgather_object(chosen)
    differing = [r for r, theirs in enumerate(asked) if theirs != asked[0]]
    if differing:
        raise world.error(f"new_group: the ranks disagree on the group's ranks (rank 0: {list(asked[0])}; "
                          + "; ".join(f"rank {r}: {list(asked[r])}" for r in differing) + ")", ValueError)
    comm = world.split(chosen)
    if comm is None:
        return GroupMember.NON_GROUP_MEMBER
    return ProcessGroup(chosen, comm)


def group_communicator(group, what):
    """The communicator behind ``group`` (None: the world's), refusing a rank outside it."""
    world = communicator()
    if group is None:
        return world
    if isinstance(group, ProcessGroup):
        return group.comm
    if group is GroupMember.NON_GROUP_MEMBER:
        raise world.error(f"{what}: this rank is not a member of the group (new_group returned "
                          "GroupMember.NON_GROUP_MEMBER here)", ValueError)
    raise world.error(f"{what}: group must be None or what new_group returned, got {type(group).__name__}",
                      TypeError)


def get_rank(group=None):
    """This rank in the world, or in ``group`` (-1 where it is not a member, as torch)."""
    return communicator().rank if group is None else _in_group(group, "rank")


def get_world_size(group=None):
    return communicator().size if group is None else _in_group(group, "size")


def _in_group(group, what):
    if group is GroupMember.NON_GROUP_MEMBER:
        return -1
    return getattr(group, what)()


def get_process_group_ranks(group):
    return list(range(communicator().size)) if group is None else list(group.ranks)


def _checked_ranks(world, ranks):
    if ranks is None:
        return tuple(range(world.size))
    ranks = list(ranks)
    bad = [r for r in ranks if not isinstance(r, numbers.Integral) or not 0 <= r < world.size]
    if not ranks or bad:
        raise world.error(f"new_group: ranks must be a non-empty list of ranks of this world (0 to "
                          f"{world.size - 1}), got {ranks}", ValueError)
    return tuple(sorted({int(r) for r in ranks}))
