"""What a request costs, in tokens scored (chunks x their lengths: the model's work), how long that takes on this
server (the rate measured on its own requests), and who goes first: a demo request before a long evaluation run."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from ui import config


class Rate:
    """Tokens scored per second on this server: measured on every request that scored (the examples scored at start
    first), a moving average that follows the load; config.TOKENS_PER_S until the first measurement."""

    def __init__(self, fallback: float, weight: float = 0.3):
        self.value, self.measured, self.weight = fallback, False, weight
        self._lock = threading.Lock()

    def observe(self, tokens: int, seconds: float) -> None:
        if tokens < 256 or seconds <= 0:  # too little work to time
            return
        with self._lock:
            rate = tokens / seconds
            self.value = rate if not self.measured else (1 - self.weight) * self.value + self.weight * rate
            self.measured = True

    def seconds(self, tokens: int) -> float:
        return tokens / self.value


RATE = Rate(config.TOKENS_PER_S)


def refusal(tokens: int, limit: int, what: str, advice: str) -> str:
    """Markdown: a request over its budget, what it would cost here in time, and how to make it fit."""
    measured = "measured here" if RATE.measured else "expected here"
    seconds = lambda n: f"{RATE.seconds(n):,.{0 if RATE.seconds(n) >= 10 else 1}f}"  # noqa: E731
    article = "an" if what[0] in "aeiou" else "a"
    return (
        f"This {what} would score {tokens:,} tokens, about {seconds(tokens)} s at the {RATE.value:,.0f} tokens/s "
        f"{measured}; the limit for {article} {what} is {limit:,} tokens (about {seconds(limit)} s): {advice}"
    )


class Priority:
    """Demo requests first: an evaluation run waits between its batches while any demo request is scoring, so a
    click is answered in about its usual time while a run goes on (the CPU is not shared between them)."""

    def __init__(self):
        self._active = 0
        self._idle = threading.Condition()

    @contextlib.contextmanager
    def demo(self) -> Iterator[None]:
        with self._idle:
            self._active += 1
        try:
            yield
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def wait_for_demos(self, most: float = 30.0) -> None:
        """Return once no demo request is scoring (or after `most` seconds: a run is never held for good)."""
        deadline = time.monotonic() + most
        with self._idle:
            while self._active and time.monotonic() < deadline:
                self._idle.wait(0.1)


PRIORITY = Priority()
