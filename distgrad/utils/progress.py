"""Progress of an epoch, shown by rank 0: a tqdm bar on a terminal, periodic lines in a log.

    bar = ProgressBar(total=len(sampler), desc=f"epoch {epoch}")
    for x, y in loader:
        ...
        bar.update(len(x), loss=loss.item())
    bar.close()

On a terminal, with tqdm installed (``pip install 'distgrad[observe]'``), tqdm draws the bar:
percentage, count, rate, eta and the latest metrics. Off a terminal (a log file, a pipe, a
batch job), or without tqdm, a plain line every ``every_seconds`` seconds (or every
``every_steps`` updates) and one when closed:

    epoch 1: 27008/60000 samples, 45%, 5.21k samples/s, eta 6s, loss=0.3213

Other ranks write nothing.
"""
import sys
import time

from .logging import rank_and_world_size

_REDRAW_SECONDS = 0.1  # tqdm's redraws: more often only costs time in the training loop


def _si(value):
    """1234.5 -> '1.23k': rates and counts of any size in a few characters."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def _duration(seconds):
    seconds = int(round(seconds))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"


def _metrics(metrics):
    return "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in metrics.items())


def _tqdm_class():
    try:
        from tqdm import tqdm  # optional dependency: without it progress is printed as plain lines
    except ImportError:
        return None
    return tqdm


class ProgressBar:
    """Counts ``unit`` (samples by default) towards ``total`` and reports the rate.

    ``enabled`` defaults to "this is rank 0"; ``tty`` defaults to ``stream.isatty()``.
    ``clock`` is injectable so the periodic lines can be tested without waiting.
    """

    def __init__(self, total=None, desc="", unit="samples", every_seconds=10.0,
                 every_steps=None, stream=None, enabled=None, tty=None, clock=time.monotonic):
        self.stream = sys.stdout if stream is None else stream
        self.enabled = rank_and_world_size()[0] == 0 if enabled is None else enabled
        if tty is None:
            isatty = getattr(self.stream, "isatty", None)
            tty = bool(isatty and isatty())
        self.total, self.desc, self.unit = total, desc, unit
        self.every_seconds, self.every_steps = every_seconds, every_steps
        self.clock = clock
        self.count = 0
        self.steps = 0
        self.metrics = {}
        self.closed = False
        self._start = self._last_shown = clock()
        tqdm = _tqdm_class() if tty and self.enabled else None
        self._bar = None if tqdm is None else tqdm(
            total=total, desc=desc or None, unit=f" {unit}", unit_scale=True, file=self.stream,
            mininterval=_REDRAW_SECONDS, leave=True)
        self.tty = self._bar is not None  # drawing a bar in place (else: plain lines)

    def update(self, n=1, **metrics):
        """Add ``n`` units (e.g. the batch size) and set the latest metrics (e.g. loss)."""
        self.count += n
        self.steps += 1
        self.metrics.update(metrics)
        if not self.enabled or self.closed:
            return
        if self._bar is not None:
            if metrics:
                self._bar.set_postfix_str(_metrics(self.metrics), refresh=False)
            self._bar.update(n)
            return
        now = self.clock()
        if self._line_due(now):
            self._write_line(self._status(now) + "\n")
            self._last_shown = now

    def close(self):
        if self.closed:
            return
        self.closed = True
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
            return
        now = self.clock()
        elapsed = now - self._start
        done = f"{self._label()}done, {self.count} {self.unit} in {elapsed:.1f} s " \
               f"({_si(self._rate(now))} {self.unit}/s)"
        extra = _metrics(self.metrics)
        self._write_line(done + (f"  {extra}" if extra else "") + "\n")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- plain lines -----------------------------------------------------------------------

    def _line_due(self, now):
        if self.every_steps is not None:
            return self.steps % self.every_steps == 0
        return now - self._last_shown >= self.every_seconds

    def _rate(self, now):
        elapsed = now - self._start
        return self.count / elapsed if elapsed > 0 else 0.0

    def _label(self):
        return f"{self.desc}: " if self.desc else ""

    def _status(self, now):
        rate = self._rate(now)
        parts = [f"{self._label()}{self.count}" + (f"/{self.total}" if self.total else "") +
                 f" {self.unit}"]
        if self.total:
            parts.append(f"{100.0 * self.count / self.total:.0f}%")
        parts.append(f"{_si(rate)} {self.unit}/s")
        if self.total and rate > 0 and self.count < self.total:
            parts.append(f"eta {_duration((self.total - self.count) / rate)}")
        if self.metrics:
            parts.append(_metrics(self.metrics))
        return ", ".join(parts)

    def _write_line(self, text):
        self.stream.write(text)
        self.stream.flush()
