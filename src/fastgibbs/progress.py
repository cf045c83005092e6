"""A small progress bar on stderr, shown only on a terminal and only for runs that
last longer than ``delay`` seconds. Thread safe: workers call :meth:`add`."""
import sys
import threading
import time

__all__ = ["ProgressBar"]


class ProgressBar:
    """``with ProgressBar(total, "sweeps") as bar: ... bar.add(n) ...``"""

    def __init__(self, total, unit="sweeps", delay=1.0, stream=None, width=30):
        self.total = max(int(total), 1)
        self.unit = unit
        self.delay = delay
        self.stream = sys.stderr if stream is None else stream
        self.width = width
        self.done = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._shown = False
        self._thread = None
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())

    def add(self, n):
        with self._lock:
            self.done += n

    def _line(self, elapsed):
        frac = min(self.done / self.total, 1.0)
        filled = int(round(frac * self.width))
        return (f"\r[{'#' * filled}{'.' * (self.width - filled)}] {100 * frac:5.1f}% "
                f"{self.done}/{self.total} {self.unit} {elapsed:6.1f} s")

    def _run(self):
        start = time.perf_counter()
        while not self._stop.wait(0.2):
            elapsed = time.perf_counter() - start
            if elapsed >= self.delay:
                self.stream.write(self._line(elapsed))
                self.stream.flush()
                self._shown = True
        if self._shown:
            self.stream.write(self._line(time.perf_counter() - start) + "\n")
            self.stream.flush()

    def __enter__(self):
        if self.enabled:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return False
