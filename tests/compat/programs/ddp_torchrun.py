"""A torchrun-style data-parallel training script: `torchrun --nproc-per-node N ddp_torchrun.py`.
Ranks come from the environment, gloo process group, DistributedSampler, DDP, a loss averaged
over ranks for logging, and a rank-0 checkpoint."""
import argparse
import os

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, TensorDataset
from torch.utils.data.distributed import DistributedSampler


def ddp_setup():
    dist.init_process_group(backend="gloo")


class Trainer:
    def __init__(self, model, train_data, optimizer, save_path):
        self.local_rank = int(os.environ["LOCAL_RANK"])
        self.global_rank = int(os.environ["RANK"])
        self.model = DDP(model)
        self.train_data = train_data
        self.optimizer = optimizer
        self.save_path = save_path
        self.step = 0

    def _run_batch(self, source, targets):
        self.optimizer.zero_grad()
        output = self.model(source)
        loss = F.cross_entropy(output, targets)
        loss.backward()
        self.optimizer.step()
        return loss

    def _run_epoch(self, epoch, max_steps):
        self.train_data.sampler.set_epoch(epoch)
        for source, targets in self.train_data:
            if self.step == max_steps:
                return
            loss = self._run_batch(source, targets).detach().clone()
            dist.all_reduce(loss, op=dist.ReduceOp.SUM)
            loss /= dist.get_world_size()
            self.step += 1
            if self.global_rank == 0:
                print(f"[GPU{self.global_rank}] Epoch {epoch} | Step {self.step} | loss {loss.item():.6f}")

    def train(self, max_steps):
        epoch = 0
        while self.step < max_steps:
            self._run_epoch(epoch, max_steps)
            epoch += 1
        if self.global_rank == 0 and self.save_path:
            torch.save(self.model.module.state_dict(), self.save_path)


def make_dataset(n=128, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 20)).astype(np.float32)
    w = rng.standard_normal((20, 4)).astype(np.float32)
    y = (x @ w + 0.5 * rng.standard_normal((n, 4))).argmax(1)
    return TensorDataset(torch.from_numpy(x), torch.from_numpy(y.astype(np.int64)))


def main():
    parser = argparse.ArgumentParser(description="distributed training job")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=16, help="per rank")
    parser.add_argument("--init", default=None)
    parser.add_argument("--save-model", default=None)
    args = parser.parse_args()

    ddp_setup()
    model = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 4))
    if args.init:
        model.load_state_dict(torch.load(args.init))
    dataset = make_dataset()
    loader = DataLoader(dataset, batch_size=args.batch_size, pin_memory=True, shuffle=False,
                        sampler=DistributedSampler(dataset, shuffle=False))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    trainer = Trainer(model, loader, optimizer, args.save_model)
    trainer.train(args.steps)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
