"""What the examples share: command-line flags, data, evaluation, checkpoints and reports.

Each example stays a plain PyTorch-style training loop; this module holds only the parts
that would otherwise be written three times.
"""
import argparse
import json
import math
import os
import sys
import time

import distgrad as dg
import distgrad.distributed as dist
from distgrad.data import DataLoader, DistributedSampler, Subset
from distgrad.data.datasets import MNIST, Digits
from distgrad.data.transforms import Normalize
from distgrad.distributed.elastic import ElasticSampler, State
from distgrad.profiler.run_timeline import RunTimeline, recording as recording_run
from distgrad.utils.checkpoint import Checkpointer
from distgrad.utils.logging import get_logger, rank_prefix
from distgrad.utils.metrics import RunningAverage

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
log = get_logger("distgrad.examples")


def parser(description, epochs, batch_size, lr):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=batch_size, help="per rank")
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None, help="MNIST folder (default: $DISTGRAD_DATA, then the cache)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto")
    p.add_argument("--output", default="runs", help="folder for the metrics JSON and the plot")
    p.add_argument("--checkpoint-dir", default=None)
    p.add_argument("--checkpoint-every", type=int, default=1, help="epochs between checkpoints")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    p.add_argument("--max-steps", type=int, default=None, help="stop each epoch early (smoke tests)")
    p.add_argument("--tensorboard", metavar="DIR", default=None,
                   help="log loss, accuracy, learning rate and samples/s to TensorBoard event files in DIR")
    p.add_argument("--profile", type=int, nargs="?", const=5, default=0, metavar="STEPS",
                   help="profile STEPS training steps (default 5) after 2 warm-up steps: print the op table "
                        "and write a Chrome trace next to the metrics")
    p.add_argument("--timeline", metavar="PATH", default=None,
                   help="record every rank's ops and all-reduces over the --profile steps (default 5) "
                        "into one Chrome trace at PATH, drawn in a PNG beside it")
    return p


def setup(args):
    """Start the world, pick this rank's device, seed everything identically on every rank."""
    dist.init()
    device = "cpu"
    if args.device in ("auto", "cuda") and dg.cuda.is_available():
        device = f"cuda:{dist.get_local_rank() % dg.cuda.device_count()}"
    elif args.device == "cuda":
        raise RuntimeError(f"{rank_prefix()} --device cuda, but CUDA is not available here")
    dg.manual_seed(args.seed)
    return device


def load_datasets(args):
    """MNIST from --data-dir / $DISTGRAD_DATA / the cache / a download; where none of those
    works (no copy, no network), scikit-learn's handwritten digits, said in one line."""
    transform = Normalize(MNIST_MEAN, MNIST_STD)
    try:
        return (MNIST(args.data_dir, train=True, transform=transform, download=True),
                MNIST(args.data_dir, train=False, transform=transform, download=True))
    except (FileNotFoundError, OSError, RuntimeError) as error:
        try:
            train, test = Digits(train=True, transform=transform), Digits(train=False, transform=transform)
        except ImportError:
            raise error from None
        log.warning("MNIST is not reachable (%s); training on scikit-learn's 8x8 handwritten digits "
                    "(1,797 images, enlarged to 28x28) instead", str(error).splitlines()[0])
        return train, test


def mnist_loaders(args, device):
    train, test = load_datasets(args)
    if getattr(args, "elastic", False):
        sampler = ElasticSampler(train, shuffle=True, seed=args.seed, keep_global_batch=args.keep_global_batch)
    else:
        sampler = DistributedSampler(train, shuffle=True, seed=args.seed)
    train_loader = DataLoader(train, batch_size=args.batch_size, sampler=sampler, device=device)
    return train_loader, test_loader(test, device), sampler


def test_loader(test, device):
    """Each rank scores a disjoint slice of the test set; the counts are summed across ranks."""
    shard = Subset(test, range(dist.get_rank(), len(test), dist.get_world_size()))
    return DataLoader(shard, batch_size=1000, device=device)


@dg.no_grad()
def evaluate(model, loader):
    """Test loss and accuracy over every rank's share of the test set."""
    model.eval()
    stats = RunningAverage()
    for inputs, labels in loader:
        outputs = model(inputs)
        loss = dg.nn.functional.cross_entropy(outputs, labels)
        correct = (outputs.argmax(1) == labels).sum().item()
        stats.update(len(labels), loss=loss.item(), accuracy=correct / len(labels))
    model.train()
    return stats.compute()


def checkpointer(args):
    return Checkpointer(args.checkpoint_dir, every=args.checkpoint_every) if args.checkpoint_dir else None


def resume(args, ckpt, model, optimizer, scheduler=None, sampler=None):
    """The first epoch to run (1-based) and the global step, from the newest checkpoint."""
    if not (args.resume and ckpt):
        return 1, 0
    state = ckpt.load(model, optimizer, scheduler, sampler)
    if state is None:
        log.info("--resume: no checkpoint in %s yet, starting from scratch", args.checkpoint_dir)
        return 1, 0
    log.info("resumed from epoch %d (step %d) in %s", state["epoch"], state["step"], args.checkpoint_dir)
    return state["epoch"] + 1, state["step"]


def elastic_flags(p):
    p.add_argument("--elastic", action="store_true",
                   help="commit the training state every --commit-every steps, and continue from the newest "
                        "commit when distgrad-run --max-restarts restarts the job (on however many ranks are left)")
    p.add_argument("--commit-every", type=int, default=10, metavar="STEPS")
    p.add_argument("--keep-global-batch", action="store_true",
                   help="with --elastic: after ranks are lost, each rank accumulates gradients over several batches "
                        "per step so that the global batch stays that of the first world size")


class Elastic:
    """--elastic for a training loop: ``step_done(batch_idx, batch_size, step)`` after each optimizer
    step, ``epoch_done(epoch)`` after each epoch; ``epoch`` and ``step`` say where to start."""

    def __init__(self, args, model, optimizer, sampler, epoch, step):
        self.every, self.sampler = args.commit_every, sampler
        self.state = State(model, optimizer, sampler=sampler, epoch=epoch, step=step)
        self.state.restore()
        self.epoch, self.step = self.state.epoch, self.state.step

    def step_done(self, batch_idx, batch_size, step):
        self.sampler.record_batch(batch_idx, batch_size)
        self.state.step = step
        if step % self.every == 0:
            self.state.commit()

    def epoch_done(self, epoch):
        self.state.epoch = epoch + 1
        self.sampler.set_epoch(epoch + 1)  # the next epoch starts from its first sample
        self.state.commit()


def elastic(args, model, optimizer, sampler, epoch, step):
    """An Elastic with --elastic, else None."""
    return Elastic(args, model, optimizer, sampler, epoch, step) if getattr(args, "elastic", False) else None


def peak_memory():
    """This rank's peak memory in MB. The host's is the process's peak resident set from
    getrusage: free to read, so nothing counts allocations during training (distgrad.memory's
    tracemalloc would slow every step 2-3x), but it includes the interpreter, libraries and MPI.
    On a GPU, what CuPy's pool holds at the end: the pool keeps every block it was ever given,
    so that is its peak."""
    try:
        import resource
    except ImportError:  # no getrusage (Windows)
        return {}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    memory = {"host_peak_rss_mb": peak / (2**20 if sys.platform == "darwin" else 2**10)}  # bytes there, KiB here
    if dg.cuda.is_available():
        memory["gpu_pool_mb"] = dg.cuda.memory_reserved() / 2**20
    return memory


class Report:
    """Per-epoch metrics: printed on rank 0, saved as JSON and drawn as a PNG."""

    def __init__(self, name, args):
        self.name, self.args = name, args
        self.epochs = []
        self.start = time.perf_counter()

    def add(self, epoch, train, test, seconds):
        row = {"epoch": epoch, "train_loss": train["loss"], "test_loss": test["loss"],
               "test_accuracy": test["accuracy"], "seconds": seconds}
        self.epochs.append(row)
        log.info("epoch %d: train loss %.4f, test loss %.4f, test accuracy %.2f%% (%.1f s)",
                 epoch, train["loss"], test["loss"], 100 * test["accuracy"], seconds)

    def save(self):
        memory = dist.all_gather_object(peak_memory())  # every rank calls save(): the JSON has each rank's
        if dist.get_rank() != 0 or not self.epochs:
            return
        flags = [getattr(self.args, name, None) for name in ("tensorboard", "profile", "timeline")]
        if any(flags) and not Observer.used:
            log.warning("--tensorboard, --profile and --timeline are not wired into %s yet: nothing was "
                        "logged or profiled (mnist_mlp and mnist_cnn show the few lines it takes)", self.name)
        os.makedirs(self.args.output, exist_ok=True)
        path = os.path.join(self.args.output, f"{self.name}.json")
        summary = {"example": self.name, "world_size": dist.get_world_size(),
                   "args": vars(self.args), **self._facts(), "epochs": self.epochs, **self._final(),
                   "total_seconds": time.perf_counter() - self.start, "peak_memory_per_rank": memory}
        with open(path, "w") as f:
            json.dump(summary, f, indent=2)
        png = self._plot()
        log.info("%s; metrics in %s%s", self._headline(), path, f", plot in {png}" if png else "")

    def _facts(self):  # what a subclass adds about the run before the epochs
        return {}

    def _final(self):
        return {"final_test_accuracy": self.epochs[-1]["test_accuracy"]}

    def _headline(self):
        return "final test accuracy %.2f%%" % (100 * self.epochs[-1]["test_accuracy"])

    def _plot(self, panels=None):
        """Loss on the left and the headline metric on the right (``panels``: the right one's
        (row key, scale, y label, title); by default test accuracy in percent)."""
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            log.info("matplotlib is not installed: no plot (pip install 'distgrad[examples]')")
            return None
        key, scale, ylabel, title = panels or ("test_accuracy", 100, "test accuracy (%)", "accuracy")
        epochs = [r["epoch"] for r in self.epochs]
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
        left.plot(epochs, [r["train_loss"] for r in self.epochs], "o-", label="train")
        left.plot(epochs, [r["test_loss"] for r in self.epochs], "o-", label="test")
        left.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
        left.legend()
        right.plot(epochs, [scale * r[key] for r in self.epochs], "o-", color="C2")
        right.set(xlabel="epoch", ylabel=ylabel, title=title)
        fig.suptitle(f"{self.name}: {dist.get_world_size()} rank(s)")
        fig.tight_layout()
        path = os.path.join(self.args.output, f"{self.name}.png")
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return path


class LanguageModelReport(Report):
    """Per-epoch metrics of a language model: train and validation loss per ``unit`` (word,
    character), validation perplexity; the JSON and the plot as Report's."""

    def __init__(self, name, args, unit, **facts):
        super().__init__(name, args)
        self.unit, self.facts = unit, facts

    def add(self, epoch, train_loss, val_loss, seconds, **extra):
        row = {"epoch": epoch, "train_loss": train_loss, "test_loss": val_loss, "val_loss": val_loss,
               "val_perplexity": math.exp(min(val_loss, 700)), "seconds": seconds, **extra}
        self.epochs.append(row)
        log.info("epoch %d: train loss %.4f, validation loss %.4f per %s (perplexity %.2f) (%.1f s)",
                 epoch, train_loss, val_loss, self.unit, row["val_perplexity"], seconds)

    def _facts(self):
        return {"unit": self.unit, **self.facts}

    def _final(self):
        last = self.epochs[-1]
        return {"final_val_loss": last["val_loss"], "final_val_perplexity": last["val_perplexity"]}

    def _headline(self):
        last = self.epochs[-1]
        return "final validation loss %.4f per %s (perplexity %.2f)" % (last["val_loss"], self.unit,
                                                                        last["val_perplexity"])

    def _plot(self, panels=None):
        return super()._plot(panels or ("val_perplexity", 1, "validation perplexity", "perplexity"))


class Observer:
    """--tensorboard, --profile and --timeline for a training loop: ``step(samples, loss)``
    after each optimizer step, ``epoch(epoch, **metrics)`` after each epoch, ``close()`` at the
    end. TensorBoard gets the loss, learning rate and samples/s (all ranks) every ``every``
    steps; the profile or timeline records a few steps after ``WARMUP`` (every rank records,
    rank 0 prints and draws)."""

    WARMUP = 2
    used = False  # whether any example made one (Report.save warns when the flags went unused)

    def __init__(self, name, args, optimizer, every=10):
        Observer.used = True
        self.name, self.args, self.optimizer, self.every = name, args, optimizer, every
        self.writer = None
        if args.tensorboard:
            from distgrad.utils.tensorboard import SummaryWriter  # needs the optional tensorboard
            self.writer = SummaryWriter(args.tensorboard)
        self.record_steps = args.profile or (5 if getattr(args, "timeline", None) else 0)
        if self.record_steps and recording_run():
            log.info("--profile/--timeline: distgrad-run --timeline records the whole run already")
            self.record_steps = 0
        self.recording = self.prof = self.step_range = None
        self.steps = 0  # steps recorded
        self.step_num, self.samples = 0, 0
        self.last_time = time.perf_counter()

    def step(self, samples, loss):
        self.step_num += 1
        self.samples += samples
        if self.record_steps:
            self._record_window()
        if self.writer is None or self.step_num % self.every:
            return
        now = time.perf_counter()
        rate = self.samples * dist.get_world_size() / (now - self.last_time)
        self.samples, self.last_time = 0, now
        self.writer.add_scalar("train/loss", float(loss), self.step_num)
        self.writer.add_scalar("train/lr", self.optimizer.param_groups[0]["lr"], self.step_num)
        self.writer.add_scalar("train/samples_per_s", rate, self.step_num)

    def epoch(self, epoch, **metrics):
        if self.writer is not None:
            for key, value in metrics.items():
                self.writer.add_scalar(f"epoch/{key}", value, epoch)
            self.writer.flush()

    def close(self):
        if self.recording is not None:  # the run ended inside the window
            self._stop_recording()
        if isinstance(self.prof, RunTimeline):
            self.prof.finish()
            self._report_timeline()
        if self.writer is not None:
            self.writer.close()

    def _end_step_range(self):
        if self.step_range is not None:
            self.step_range.__exit__(None, None, None)
            self.step_range = None

    def _record_window(self):
        from distgrad.profiler import record_function
        self._end_step_range()
        if self.step_num == self.WARMUP:
            from distgrad.profiler import profile
            timeline_path = getattr(self.args, "timeline", None)
            # A timeline is written by a collective at close(), which every rank reaches even
            # when ranks train for different numbers of steps (uneven_shards).
            self.recording = self.prof = RunTimeline(timeline_path, ops=True).start() if timeline_path else profile().__enter__()
        elif self.step_num == self.WARMUP + self.record_steps and self.recording is not None:
            self._stop_recording()
        if self.recording is not None:  # one range per step, as PyTorch's ProfilerStep#N
            self.step_range = record_function(f"ProfilerStep#{self.step_num}")
            self.step_range.__enter__()

    def _stop_recording(self):
        self._end_step_range()
        self.steps = min(self.record_steps, self.step_num - self.WARMUP)
        if isinstance(self.recording, RunTimeline):
            self.recording.stop()  # written at close()
            self.prof, self.recording = self.recording, None
            return
        self.recording.__exit__(None, None, None)
        self.recording = None
        os.makedirs(self.args.output, exist_ok=True)
        trace = self.prof.export_chrome_trace(
            os.path.join(self.args.output, f"{self.name}_profile_rank{dist.get_rank()}.json"))
        if dist.get_rank() == 0:
            print(self.prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12), flush=True)
            log.info("profile of %d steps: Chrome trace in %s (open in https://ui.perfetto.dev)", self.steps, trace)

    def _report_timeline(self):
        if dist.get_rank() != 0:
            return
        trace = self.args.timeline
        try:
            from distgrad.profiler import plot_timeline
            png = plot_timeline(trace, os.path.splitext(trace)[0] + ".png",
                                f"{self.name}: {self.steps} steps on {dist.get_world_size()} rank(s)")
            log.info("timeline of %d steps, every rank: %s, drawn in %s", self.steps, trace, png)
        except ImportError:
            log.info("timeline of %d steps, every rank: %s (no picture: matplotlib is not installed)",
                     self.steps, trace)
