"""Progress of an epoch, shown by rank 0: a bar on a terminal, periodic lines in a log file.

    bar = ProgressBar(total=len(sampler), desc=f"epoch {epoch}")
    for x, y in loader:
        ...
        bar.update(len(x), loss=loss.item())
    bar.close()

On a terminal the bar redraws itself in place (carriage returns, at most 10 times a second):

    epoch 1  45% [#########           ] 27008/60000  5.21k samples/s  eta 6s  loss=0.3213

When stdout is not a terminal (a log file, a pipe, a batch job) it writes a plain line every
``every_seconds`` seconds (or every ``every_steps`` updates) and one when closed. Other ranks
write nothing. No dependency beyond the standard library.
"""
import shutil
import sys
import time

from .logging import rank_and_world_size

_REDRAW_SECONDS = 0.1  # redrawing more often only costs time in the training loop


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
        self.tty = tty
        self.total, self.desc, self.unit = total, desc, unit
        self.every_seconds, self.every_steps = every_seconds, every_steps
        self.clock = clock
        self.count = 0
        self.steps = 0
        self.metrics = {}
        self.closed = False
        self._start = self._last_shown = clock()
        self._drawn_width = 0

    def update(self, n=1, **metrics):
        """Add ``n`` units (e.g. the batch size) and set the latest metrics (e.g. loss)."""
        self.count += n
        self.steps += 1
        self.metrics.update(metrics)
        if not self.enabled or self.closed:
            return
        now = self.clock()
        if self.tty:
            if now - self._last_shown >= _REDRAW_SECONDS:
                self._draw(now)
        elif self._line_due(now):
            self._write_line(self._status(now) + "\n")
            self._last_shown = now

    def close(self):
        if self.closed:
            return
        self.closed = True
        if not self.enabled:
            return
        now = self.clock()
        if self.tty:
            self._draw(now)
            self._write_line("\n")
        else:
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

    # -- internals -------------------------------------------------------------------------

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
        if self.metrics:
            parts.append(_metrics(self.metrics))
        return ", ".join(parts)

    def _bar_line(self, now):
        rate = self._rate(now)
        head = f"{self.desc} " if self.desc else ""
        tail = f"  {_si(rate)} {self.unit}/s"
        if self.total:
            fraction = min(1.0, self.count / self.total)
            width = 20
            filled = int(fraction * width)
            head += f"{100 * fraction:3.0f}% [{'#' * filled}{' ' * (width - filled)}] " \
                    f"{self.count}/{self.total}"
            if rate > 0 and self.count < self.total:
                tail += f"  eta {_duration((self.total - self.count) / rate)}"
        else:
            head += f"{self.count} {self.unit}"
        if self.metrics:
            tail += "  " + _metrics(self.metrics)
        return head + tail

    def _draw(self, now):
        columns = shutil.get_terminal_size((100, 20)).columns
        line = self._bar_line(now)[:max(columns - 1, 10)]
        # Pad with spaces to wipe what a longer previous line left behind.
        self._write_line("\r" + line + " " * max(0, self._drawn_width - len(line)))
        self._drawn_width = len(line)
        self._last_shown = now

    def _write_line(self, text):
        self.stream.write(text)
        self.stream.flush()
