"""Progress while computing, as ``dask.diagnostics``: ``with ProgressBar(): x.compute()``
prints ``[########################################] | 100% Completed |  1.2s``."""

import sys
import threading

_active = threading.local()


def _callbacks():
    return getattr(_active, "bars", [])


def progress_callback():
    """The callback ``compute`` passes to the engine: every active bar hears it."""
    bars = list(_callbacks())
    if not bars:
        return None

    def report(done, total, elapsed, finished):
        for bar in bars:
            bar._update(done, total, elapsed, finished)

    return report


class ProgressBar:
    """A text progress bar for every ``compute()`` inside the ``with`` block.

    ``minimum``: seconds a computation runs before the bar shows; ``width``: characters
    of the bar; ``out``: where it is written (stdout by default).
    """

    def __init__(self, minimum=0.0, width=40, dt=0.1, out=None):
        self.minimum = minimum
        self.width = width
        self.dt = dt
        self._out = out
        self._last = -1.0

    @property
    def out(self):
        return self._out if self._out is not None else sys.stdout

    def __enter__(self):
        _active.bars = _callbacks() + [self]
        return self

    def __exit__(self, *exc):
        bars = _callbacks()
        _active.bars = [b for b in bars if b is not self]
        return False

    def _update(self, done, total, elapsed, finished):
        if elapsed < self.minimum:
            return
        if not finished and elapsed - self._last < self.dt:
            return
        self._last = -1.0 if finished else elapsed
        fraction = done / total if total else 1.0
        bar = "#" * int(self.width * fraction)
        line = f"\r[{bar:<{self.width}}] | {fraction * 100:3.0f}% Completed | {elapsed:4.1f}s"
        self.out.write(line + ("\n" if finished else ""))
        self.out.flush()
