"""A bound on how long a piece of a test may take: hang protection, not a timing."""

from __future__ import annotations

import contextlib
import signal


class TookTooLong(AssertionError):
    """The code under test ran past its bound (it would have hung the user's run)."""


@contextlib.contextmanager
def within_seconds(seconds: float, what: str = "it"):
    """Fail with TookTooLong if the body runs longer than `seconds` (SIGALRM: main thread,
    Unix only)."""

    def expired(signum, frame):
        raise TookTooLong(f"{what} did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
