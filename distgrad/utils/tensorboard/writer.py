"""SummaryWriter: PyTorch's API over tensorboard's event file writer, on rank 0 only by default."""
import os
import socket
import time
from datetime import datetime

from tensorboard.compat.proto.event_pb2 import Event, SessionLog
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from ..logging import rank_and_world_size
from . import summaries


class SummaryWriter:
    """Writes event files under ``log_dir`` (default ``runs/<date>_<host><comment>``).

    ``enabled`` (not in PyTorch) defaults to "this is rank 0": on other ranks every method is a
    no-op and no file is made, so a data-parallel script logs once.
    """

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120,
                 filename_suffix="", *, enabled=None):
        if log_dir is None:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        self.log_dir = str(log_dir)
        self.enabled = rank_and_world_size()[0] == 0 if enabled is None else enabled
        self.purge_step, self.max_queue, self.flush_secs = purge_step, max_queue, flush_secs
        self.filename_suffix = filename_suffix
        self._writers = {}  # log dir -> EventFileWriter; add_scalars adds one per series
        if self.enabled:
            writer = self._writer(self.log_dir)
            if purge_step is not None:  # TensorBoard drops this run's events from purge_step on
                writer.add_event(Event(step=purge_step, session_log=SessionLog(status=SessionLog.START)))

    def get_logdir(self):
        return self.log_dir

    def _writer(self, log_dir):
        writer = self._writers.get(log_dir)
        if writer is None:
            writer = self._writers[log_dir] = EventFileWriter(log_dir, self.max_queue, self.flush_secs,
                                                              self.filename_suffix)
        return writer

    def _add(self, summary, global_step, walltime, log_dir=None):
        event = Event(summary=summary, wall_time=time.time() if walltime is None else walltime)
        if global_step is not None:
            event.step = int(global_step)
        self._writer(log_dir or self.log_dir).add_event(event)

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False,
                   double_precision=False):
        if self.enabled:
            self._add(summaries.scalar(tag, scalar_value), global_step, walltime)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """One series per key, each in its own run folder ``log_dir/main_tag_key`` (PyTorch's layout)."""
        if not self.enabled:
            return
        walltime = time.time() if walltime is None else walltime
        for tag, value in tag_scalar_dict.items():
            folder = os.path.join(self.log_dir, f"{main_tag}_{tag}".replace("/", "_"))
            self._add(summaries.scalar(main_tag, value), global_step, walltime, folder)

    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None, max_bins=None):
        if self.enabled:
            self._add(summaries.histogram(tag, values, bins, max_bins), global_step, walltime)

    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        if self.enabled:
            self._add(summaries.image(tag, img_tensor, dataformats), global_step, walltime)

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        if self.enabled:
            self._add(summaries.text(tag, text_string), global_step, walltime)

    def add_graph(self, model, input_to_model=None, verbose=False, use_strict_trace=True):
        raise NotImplementedError("SummaryWriter.add_graph: distgrad cannot trace a model into a "
                                  "TensorBoard graph; log scalars, histograms, images and text instead")

    def flush(self):
        for writer in self._writers.values():
            writer.flush()

    def close(self):
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
