"""`BackgroundSampler`: a daemon thread that samples a `Telemetry` every `interval_s` and keeps the latest
sample, so the UI thread reads telemetry without ever waiting on a backend.

`latest()` returns the stored sample at once (None before the first one); it never calls the backend.
The sampler does not own the telemetry: close the sampler first, then the telemetry.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from mvla_tui.telemetry.protocol import Telemetry
from mvla_tui.telemetry.sample import TelemetrySample


class BackgroundSampler:
    def __init__(
        self,
        telemetry: Telemetry,
        interval_s: float = 1.0,
        on_sample: Callable[[TelemetrySample], None] | None = None,
        name: str = "telemetry-sampler",
        start_delay_s: float = 0.0,
    ) -> None:
        """`on_sample` runs on the sampler's thread after each sample (the app posts a message from it).
        `start_delay_s` postpones the first sample, e.g. so its CPU load covers a full window."""
        if interval_s <= 0 or start_delay_s < 0:
            raise ValueError("interval_s must be > 0 and start_delay_s >= 0")
        self._start_delay_s = start_delay_s
        self._telemetry = telemetry
        self._interval_s = interval_s
        self._on_sample = on_sample
        self._lock = threading.Lock()
        self._latest: TelemetrySample | None = None
        self._error: str | None = None
        self._first = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> BackgroundSampler:
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()
        return self

    def latest(self) -> TelemetrySample | None:
        with self._lock:
            return self._latest

    @property
    def error(self) -> str | None:
        """The last failure of `sample()` or `on_sample`, None after a clean sample."""
        with self._lock:
            return self._error

    def wait_first(self, timeout: float | None = None) -> TelemetrySample | None:
        """Wait (off the UI thread: tests, one-shot commands) until the first sample exists."""
        self._first.wait(timeout)
        return self.latest()

    def _run(self) -> None:
        if self._start_delay_s:
            self._stop.wait(self._start_delay_s)
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                sample = self._telemetry.sample()
                with self._lock:
                    self._latest, self._error = sample, None
                if self._on_sample is not None:
                    self._on_sample(sample)
            # The thread must outlive a bad sample; the failure is kept in `error` for the UI to show.
            except Exception as exc:
                with self._lock:
                    self._error = f"telemetry sample failed: {type(exc).__name__}: {exc}"
            finally:
                self._first.set()
            self._stop.wait(max(0.0, self._interval_s - (time.monotonic() - started)))

    def close(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def __enter__(self) -> BackgroundSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
