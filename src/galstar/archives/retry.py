"""Retries and rate limits for archive requests: backoff with jitter and a token bucket.

:func:`with_retries` repeats one attempt until it succeeds, fails permanently (a
:class:`FetchError` or :class:`~galstar.archives.validate.Rejected` marked permanent)
or runs out of retries, taking a token from a shared :class:`TokenBucket` before each
try and waiting per :class:`RetryPolicy` (a server's ``Retry-After`` is a lower bound).
Bulk downloads of many objects wait out their backoff in a :class:`RetryQueue` instead,
and cut a stalled answer short by a :class:`StallTimer`.
"""

from __future__ import annotations

import email.utils
import heapq
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from galstar.archives.validate import Rejected

__all__ = ["FetchError", "TokenBucket", "RetryPolicy", "RetryQueue", "StallTimer",
           "parse_retry_after", "with_retries"]

log = logging.getLogger(__name__)

class FetchError(Exception):
    """A request failed before a usable body arrived.

    Parameters
    ----------
    reason : str
        Short description (``http_500``, ``timeout``, ``connection``, ...).
    permanent : bool
        True when asking again cannot help (404, 400, ...).
    retry_after : float, optional
        Seconds the server asked us to wait (``Retry-After``).
    """

    def __init__(self, reason: str, permanent: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


class TokenBucket:
    """Thread-safe token bucket: on average ``rate_per_s`` acquisitions per second.

    Parameters
    ----------
    rate_per_s : float or None
        Sustained rate; ``None`` or ``<= 0`` disables the limit.
    burst : int
        Tokens that may accumulate while idle (requests that may start at once).
    """

    def __init__(self, rate_per_s: float | None, burst: int = 1) -> None:
        self.rate = rate_per_s if rate_per_s and rate_per_s > 0 else None
        self.capacity = float(max(1, burst))
        self._tokens = self.capacity
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until a token is available and take it."""
        if self.rate is None:
            return
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                wait = (1.0 - self._tokens) / self.rate
            time.sleep(wait)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before asking again.

    Parameters
    ----------
    max_retries : int
        Retries after the first attempt (so ``max_retries + 1`` attempts at most).
    backoff_s : float
        Delay before the first retry; doubled on each further retry.
    max_backoff_s : float
        Cap on the exponential delay.
    max_retry_after_s : float
        Cap on a server's ``Retry-After`` (a broken server must not stall us for days).
    stall_factor : float or None
        Bulk downloads (:func:`galstar.archives.bulk.download_all`) call an answer
        stalled when no byte arrives for this many times the recent answer time (see
        :class:`StallTimer`); ``None`` waits the full timeout every time.
    """

    max_retries: int = 8
    backoff_s: float = 1.0
    max_backoff_s: float = 120.0
    max_retry_after_s: float = 900.0
    stall_factor: float | None = 4.0

    def delay(self, retry: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based).

        Exponential backoff with "equal jitter" (between half and all of the
        exponential delay) so that workers hit by the same outage spread out; a
        ``Retry-After`` from the server is a lower bound.
        """
        base = min(self.max_backoff_s, self.backoff_s * 2.0 ** (retry - 1))
        wait = base * (0.5 + 0.5 * rng.random())
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_retry_after_s))
        return wait


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def with_retries(attempt: Callable[[], object], policy: RetryPolicy, bucket: TokenBucket,
                 rng: random.Random, what: str = "") -> tuple[object, int, str]:
    """Call ``attempt()`` until it succeeds, fails permanently or retries run out.

    Parameters
    ----------
    attempt : callable
        Does one try; raises :class:`FetchError` or :class:`Rejected` on failure.
    policy : RetryPolicy
        Backoff settings.
    bucket : TokenBucket
        Rate limit, taken before every try.
    rng : random.Random
        Jitter source.
    what : str
        Named in debug logs.

    Returns
    -------
    tuple
        ``(result or None, attempts, reason)``: ``reason`` is ``""`` on success.
    """
    reason = ""
    for n in range(1, policy.max_retries + 2):
        bucket.acquire()
        try:
            return attempt(), n, ""
        except (FetchError, Rejected) as err:
            reason = err.reason
            if err.permanent:
                return None, n, reason
            retry_after = getattr(err, "retry_after", None)
        if n <= policy.max_retries:
            wait = policy.delay(n, rng, retry_after)
            log.debug("%s: %s, retry %d in %.2fs", what, reason, n, wait)
            time.sleep(wait)
    return None, policy.max_retries + 1, f"gave_up: {reason}"


class StallTimer:
    """An adaptive read timeout: a multiple of how long recent answers took.

    A server that answered the last hundred requests in 50 ms and has sent nothing for
    a second has most likely dropped the request; waiting out the full timeout (a
    minute by default) holds a connection slot for nothing. The limit is ``factor``
    times the 90th percentile of the last ``window`` successful attempts' durations,
    not below ``floor_s``; it applies once ``min_samples`` answers are known. It bounds
    the silence between bytes (the read timeout), not the whole transfer, so a large
    body that keeps arriving is never cut. The caller retries an attempt cut short with
    the full timeout, so a server that merely slowed down is still waited for (and
    its slower answers then raise the limit).

    Parameters
    ----------
    factor : float or None
        Multiple of the recent 90th percentile; ``None`` disables the timer.
    window : int
        Successful attempts remembered.
    min_samples : int
        Answers needed before the timer applies.
    floor_s : float
        Smallest limit, seconds.
    """

    def __init__(self, factor: float | None = 4.0, window: int = 64, min_samples: int = 8,
                 floor_s: float = 0.1) -> None:
        self.factor = factor
        self.min_samples = min_samples
        self.floor_s = floor_s
        self._recent: deque[float] = deque(maxlen=window)

    def record(self, seconds: float) -> None:
        """Remember the duration of one successful attempt."""
        self._recent.append(seconds)

    def limit(self) -> float | None:
        """Seconds of silence after which an answer counts as stalled (None: no limit)."""
        recent = sorted(self._recent)  # a copy: other threads keep appending
        if self.factor is None or len(recent) < self.min_samples:
            return None
        p90 = recent[min(len(recent) - 1, int(0.9 * len(recent)))]
        return max(self.floor_s, self.factor * p90)


class RetryQueue:
    """The objects of a bulk download waiting for a connection, each with the earliest
    time it may start.

    A retry waits out its backoff here rather than in a connection slot: meanwhile the
    worker fetches the next object, so a fault costs only the failed attempt. Failures
    in a row on every connection are an outage, not bad luck: each ``pause_after``
    of them (the number of workers) double a pause of every worker (the policy's
    backoff), so a failing server is not hammered with first attempts either, and
    ``pause_after * (policy.max_retries + 1)`` of them stop the download (the
    circuit opens: :attr:`outage` says why), instead of trying every remaining object
    against a dead server for hours. One real answer ends a pause.

    Parameters
    ----------
    items : sequence of int
        What to fetch, all ready now.
    policy : RetryPolicy
        Backoff of the pool-wide pause, and its retries.
    pause_after : int
        Failures in a row that pause every worker.
    rng : random.Random
        Jitter of the pause.
    """

    def __init__(self, items, policy: RetryPolicy, pause_after: int,
                 rng: random.Random) -> None:
        self._fresh = deque(items)
        self._due: list[tuple[float, int, object]] = []  # retries: (start, order, item)
        self._order = 0
        self._unfinished = len(self._fresh)
        self._policy = policy
        self._pause_after = max(1, pause_after)
        self._rng = rng
        self._failures = 0
        self._paused_until = 0.0
        self._closed = False
        self._cond = threading.Condition()
        #: Why the download stopped early (None while it has not).
        self.outage: str | None = None

    def get(self):
        """The next item to try, blocking until one may start; None once every item is
        done (or the queue was closed). A retry whose time has come goes before the
        objects not tried yet, so retries do not pile up at the end of the run."""
        with self._cond:
            while True:
                if self._closed or self._unfinished == 0:
                    return None
                now = time.monotonic()
                wait = self._paused_until - now
                if wait <= 0:
                    if self._due and self._due[0][0] <= now:
                        return heapq.heappop(self._due)[2]
                    if self._fresh:
                        return self._fresh.popleft()
                    # Only retries not yet due, or items being fetched or validated
                    # that may come back as retries.
                    wait = self._due[0][0] - now if self._due else None
                self._cond.wait(wait)

    def retry(self, item, delay_s: float) -> None:
        """Put ``item`` back, to start no earlier than ``delay_s`` from now."""
        with self._cond:
            heapq.heappush(self._due, (time.monotonic() + delay_s, self._order, item))
            self._order += 1
            self._cond.notify()

    def done(self) -> None:
        """One item finished (accepted, or failed for good)."""
        with self._cond:
            self._unfinished -= 1
            if self._unfinished == 0:
                self._cond.notify_all()

    def answered(self) -> None:
        """An attempt got a real answer (accepted, or rejected for good): no outage."""
        with self._cond:
            self._failures = 0
            self._paused_until = 0.0

    def failed(self, reason: str = "") -> None:
        """An attempt failed for a reason a retry may fix."""
        with self._cond:
            self._failures += 1
            rounds = self._failures // self._pause_after
            if rounds > self._policy.max_retries:
                self.outage = (f"outage: {self._failures} attempts in a row failed "
                               f"(last: {reason})")
                self._closed = True
                self._cond.notify_all()
            elif rounds >= 1 and self._failures % self._pause_after == 0:
                pause = self._policy.delay(rounds, self._rng)
                self._paused_until = max(self._paused_until, time.monotonic() + pause)
                log.debug("%d attempts in a row failed: every worker pauses %.2fs",
                          self._failures, pause)

    def close(self) -> None:
        """Stop handing out items (a worker failed); waiting workers return None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
