"""ElasticSampler(keep_global_batch=True): how many batches a rank accumulates per step for
the world size it has now, and elastic.steps / micro_steps, which group them and hold back
DDP's all-reduce for all but the last."""
from collections import Counter

import numpy as np
import pytest

import distgrad as dg
import distgrad.nn as nn
from distgrad.distributed.elastic import ElasticSampler, micro_steps, steps


@pytest.mark.parametrize("start, now, per_step", [(2, 1, 2), (4, 2, 2), (4, 1, 4), (3, 2, 2), (3, 1, 3), (1, 2, 1),
                                                  (2, 2, 1)])
def test_micro_batches_per_step_make_up_the_lost_ranks_share(start, now, per_step):
    dataset = list(range(48))
    first = ElasticSampler(dataset, num_replicas=start, rank=0, keep_global_batch=True)
    later = ElasticSampler(dataset, num_replicas=now, rank=0, keep_global_batch=True)
    later.load_state_dict(first.state_dict())  # the job's first world size comes with the state
    assert later.start_replicas == start
    assert later.micro_batches_per_step() == per_step
    plain = ElasticSampler(dataset, num_replicas=now, rank=0)
    plain.load_state_dict(first.state_dict())
    assert plain.micro_batches_per_step() == 1  # by default each rank keeps its batch


def test_after_2_to_1_ranks_a_step_takes_the_global_batch_and_each_sample_is_used_once():
    dataset, batch = list(range(40)), 4
    two = [ElasticSampler(dataset, num_replicas=2, rank=r, seed=5, keep_global_batch=True) for r in range(2)]
    used = []
    for s in two:
        s.set_epoch(1)
    iters = [iter(s) for s in two]
    for i in range(3):  # three steps on two ranks: 24 samples
        for s, it in zip(two, iters):
            taken = [next(it) for _ in range(batch)]
            used += taken
            s.record_batch(i, batch)
    one = ElasticSampler(dataset, num_replicas=1, rank=0, seed=5, keep_global_batch=True)
    one.load_state_dict(two[0].state_dict())
    loader_batches = np.array_split(one.indices(), range(batch, len(one), batch))
    per_step = one.micro_batches_per_step()
    grouped = list(steps(loader_batches, per_step))
    assert [sum(map(len, g)) for g in grouped] == [8, 8]  # the global batch of two ranks
    for i, group in enumerate(grouped):
        used += [int(k) for b in group for k in b]
        one.record_batch(i, sum(map(len, group)))
    assert Counter(used) == Counter(dataset) and one.processed == len(dataset)


def test_steps_groups_and_refuses_a_bad_count():
    assert list(steps(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(steps(range(2), 1)) == [[0], [1]]
    with pytest.raises(ValueError, match="per_step must be at least 1"):
        list(steps(range(2), 0))


class FakeDDP:
    def __init__(self):
        self.syncing, self.seen = True, []

    def no_sync(self):
        model = self

        class Off:
            def __enter__(self):
                model.syncing = False

            def __exit__(self, *exc):
                model.syncing = True
        return Off()


def test_micro_steps_hold_back_the_all_reduce_for_all_but_the_last():
    model = FakeDDP()
    for batch in micro_steps(model, ["a", "b", "c"]):
        model.seen.append((batch, model.syncing))
    assert model.seen == [("a", False), ("b", False), ("c", True)] and model.syncing
    assert list(micro_steps(nn.Linear(2, 2), [1, 2])) == [1, 2]  # a plain module: nothing to hold back


def test_accumulated_half_batches_give_the_gradient_of_the_whole_batch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 5)), rng.integers(0, 3, 8)
    dg.manual_seed(0)
    model = nn.Linear(5, 3).double()
    halves = [(dg.tensor(x[:4]), dg.tensor(y[:4])), (dg.tensor(x[4:]), dg.tensor(y[4:]))]
    for group in steps(halves, 2):
        for inputs, labels in micro_steps(model, group):
            (nn.functional.cross_entropy(model(inputs), labels) / len(group)).backward()
    ref = torch.nn.Linear(5, 3).double()
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(model.weight.detach().numpy()))
        ref.bias.copy_(torch.tensor(model.bias.detach().numpy()))
    torch.nn.functional.cross_entropy(ref(torch.tensor(x)), torch.tensor(y)).backward()
    np.testing.assert_allclose(model.weight.grad.numpy(), ref.weight.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(model.bias.grad.numpy(), ref.bias.grad.numpy(), rtol=1e-12, atol=1e-14)
