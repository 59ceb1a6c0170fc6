"""One PyTorch measurement for ddp.py: the seed MLP under torch DDP (gloo), one process per rank.

Started by ddp.py with RANK, WORLD_SIZE, MASTER_ADDR=127.0.0.1 and a free MASTER_PORT in the
environment (torch.distributed's env:// rendezvous). Modes: torch_local (plain model, no
communication) and torch_ddp (DistributedDataParallel, default 25 MB buckets). Rank 0 prints
one JSON line in the same shape as ddp_worker.py's.
"""
import argparse
import json

from .lib.collective_timing import compare
from .lib.common import single_thread
from .lib.networks import gradient_count, training_step


class TorchGroup:
    """collective_timing's process-group interface over torch.distributed."""

    def __init__(self, dist):
        self.dist = dist
        self.rank, self.size = dist.get_rank(), dist.get_world_size()

    def barrier(self):
        self.dist.barrier()

    def max(self, value):
        import torch
        t = torch.tensor([value], dtype=torch.float64)
        self.dist.all_reduce(t, op=self.dist.ReduceOp.MAX)
        return float(t.item())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--modes", default="torch_local,torch_ddp")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--budget", type=float, default=0.1)
    args = parser.parse_args()
    single_thread()
    import torch
    import torch.distributed as dist
    import torch.nn as nn
    import torch.optim as optim
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="env://")
    rank, n = dist.get_rank(), dist.get_world_size()
    ddp = torch.nn.parallel.DistributedDataParallel
    calls = {}
    for mode in args.modes.split(","):
        wrap = ddp if mode == "torch_ddp" else None
        calls[mode] = training_step(torch, nn, optim, args.batch, rank, wrap_model=wrap)[0]
    measured = compare(TorchGroup(dist), calls, args.rounds, args.budget, warmup=3)
    if rank == 0:
        out = {mode: {"step_ms": m["seconds"] * 1e3, "median_step_ms": m["median_seconds"] * 1e3,
                      "iters": m["iters"], "rounds": m["rounds"], "samples_per_s": n * args.batch / m["seconds"]}
               for mode, m in measured.items()}
        _, model = training_step(torch, nn, optim, 1, 0)
        print(json.dumps({"framework": "torch", "torch": torch.__version__, "ranks": n, "batch": args.batch,
                          "gradient_elements": gradient_count(model), "modes": out}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
