"""Retries and rate limits for archive requests: backoff with jitter and a token bucket.

:func:`with_retries` repeats one attempt until it succeeds, fails permanently (a
:class:`FetchError` or :class:`~galstar.archives.validate.Rejected` marked permanent)
or runs out of retries, taking a token from a shared :class:`TokenBucket` before each
try and waiting per :class:`RetryPolicy` (a server's ``Retry-After`` is a lower bound).
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from galstar.archives.validate import Rejected

__all__ = ["FetchError", "TokenBucket", "RetryPolicy", "parse_retry_after", "with_retries"]

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
    """

    max_retries: int = 8
    backoff_s: float = 1.0
    max_backoff_s: float = 120.0
    max_retry_after_s: float = 900.0

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
