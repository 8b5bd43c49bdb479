"""Bulk download of many small objects (cutouts, model spectra): :func:`download_all`.

Worker threads only fetch; one accepting thread validates, writes and hashes each
body. A failed object waits for its retry in a :class:`~galstar.archives.retry.RetryQueue`,
not in a connection; an answer far slower than the recent ones is cut short
(:class:`~galstar.archives.retry.StallTimer`) and retried; a run of failures on every
connection pauses them all, and a longer one ends the run as an outage. Transport,
sessions and single large files: :mod:`galstar.archives.http`.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from queue import SimpleQueue

from tqdm import tqdm

from galstar.archives.http import Outcome, stall_limit
from galstar.archives.retry import (
    FetchError,
    RetryPolicy,
    RetryQueue,
    StallTimer,
    TokenBucket,
)
from galstar.archives.validate import Rejected
from galstar.io import atomic_path

__all__ = ["Download", "download_all"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Download:
    """One object to fetch.

    Parameters
    ----------
    key : int or str
        Identifies the object in the outcome (``object_id``).
    dest : pathlib.Path
        Cache file the validated body is written to.
    fetch : callable
        ``fetch() -> bytes``; raises :class:`FetchError` on transport failure.
    """

    key: int | str
    dest: Path
    fetch: Callable[[], bytes]


def _clean_partial(directory: Path) -> None:
    """Remove temporaries a killed run left behind (``atomic_path`` names them ``.*``)."""
    if directory.is_dir():
        for leftover in directory.glob(".*"):
            if leftover.is_file():
                leftover.unlink(missing_ok=True)


@dataclass
class _Attempts:
    """One object's retry state during :func:`download_all`."""

    attempts: int = 0
    full_timeout: bool = False  # its last attempt was cut short as stalled
    rng: random.Random | None = None


def _from_cache(task: Download, validate: Callable[[bytes], object]) -> Outcome | None:
    if not task.dest.is_file():
        return None
    body = task.dest.read_bytes()
    try:
        validate(body)
    except Rejected as err:
        log.warning("%s: cached file invalid (%s), fetching again", task.dest, err)
        task.dest.unlink(missing_ok=True)
        return None
    return Outcome(task.key, str(task.dest), "ok", "", hashlib.sha256(body).hexdigest(), 0,
                   from_cache=True)


def download_all(tasks: Iterable[Download], validate: Callable[[bytes], object], *,
                 concurrency: int = 8, rate_per_s: float | None = 10.0,
                 policy: RetryPolicy | None = None, seed: int = 0,
                 progress: bool = True, desc: str = "download") -> list[Outcome]:
    """Fetch, validate and cache every task; return one outcome per task, in order.

    ``concurrency`` worker threads only fetch: a body is handed to one accepting
    thread (validation, atomic write, sha256), so a connection never waits on the CPU
    work of the last answer. A failed object goes back to a :class:`RetryQueue` with
    its backoff and the worker goes on with the next one; an answer silent for longer
    than the :class:`StallTimer` allows (``policy.stall_factor``) is cut short and
    retried with the full timeout.

    Parameters
    ----------
    tasks : iterable of Download
        Objects to fetch.
    validate : callable
        ``validate(body)`` raises :class:`Rejected` when the body must not be accepted.
    concurrency : int
        Worker threads (requests in flight).
    rate_per_s : float or None
        Token-bucket rate shared by all workers; ``None`` for no limit (mock source).
    policy : RetryPolicy, optional
        Backoff settings.
    seed : int
        Seeds the jitter (per object, so runs are reproducible).
    progress : bool
        Show a tqdm bar.
    desc : str
        Label of the bar and of the summary log line.

    Returns
    -------
    list of Outcome
        Same order as ``tasks``.
    """
    tasks = list(tasks)
    policy = policy or RetryPolicy()
    workers = max(1, concurrency)
    bucket = TokenBucket(rate_per_s, burst=workers)
    for directory in {task.dest.parent for task in tasks}:
        _clean_partial(directory)
    outcomes: list[Outcome | None] = [_from_cache(task, validate) for task in tasks]
    todo = [n for n, outcome in enumerate(outcomes) if outcome is None]
    state = {n: _Attempts(rng=random.Random(f"{seed}:{tasks[n].key}")) for n in todo}
    queue = RetryQueue(todo, policy, pause_after=workers, rng=random.Random(f"{seed}:pause"))
    stall = StallTimer(policy.stall_factor)
    bodies: SimpleQueue = SimpleQueue()
    bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), desc=desc,
               disable=not progress, mininterval=2.0)

    finishing = threading.Lock()

    def finish(n: int, outcome: Outcome) -> None:
        with finishing:
            outcomes[n] = outcome
            bar.update()
        queue.done()

    def failed(n: int, err: FetchError | Rejected) -> None:
        tried = state[n]
        if err.permanent:  # the server answered: no sign of an outage
            queue.answered()
            finish(n, Outcome(tasks[n].key, "", "failed", err.reason, "", tried.attempts))
            return
        queue.failed(err.reason)
        if tried.attempts > policy.max_retries:
            finish(n, Outcome(tasks[n].key, "", "failed", f"gave_up: {err.reason}", "",
                              tried.attempts))
            return
        tried.full_timeout = err.reason == "stalled"
        wait = policy.delay(tried.attempts, tried.rng, getattr(err, "retry_after", None))
        log.debug("%s: %s, retry %d in %.2fs", tasks[n].key, err.reason, tried.attempts, wait)
        queue.retry(n, wait)

    def fetch_loop() -> None:
        while (n := queue.get()) is not None:
            bucket.acquire()
            tried = state[n]
            tried.attempts += 1
            started = time.monotonic()
            try:
                with stall_limit(None if tried.full_timeout else stall.limit()):
                    body = tasks[n].fetch()
            except (FetchError, Rejected) as err:
                failed(n, err)
                continue
            stall.record(time.monotonic() - started)
            bodies.put((n, body))

    def accept_loop() -> None:
        while (item := bodies.get()) is not None:
            n, body = item
            task = tasks[n]
            try:
                validate(body)
            except Rejected as err:
                failed(n, err)
                continue
            queue.answered()
            with atomic_path(task.dest) as tmp:
                tmp.write_bytes(body)
            finish(n, Outcome(task.key, str(task.dest), "ok", "",
                              hashlib.sha256(body).hexdigest(), state[n].attempts))

    def guarded(loop: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                loop()
            except BaseException:
                queue.close()  # nobody waits for work that will never come
                bodies.put(None)
                raise
        return run

    with bar, ThreadPoolExecutor(max_workers=workers + 1) as pool:
        accepting = pool.submit(guarded(accept_loop))
        fetching = [pool.submit(guarded(fetch_loop)) for _ in range(workers)]
        for future in fetching:
            future.exception()  # wait; raised below
        bodies.put(None)
        for future in [accepting, *fetching]:
            future.result()
    if queue.outage is not None:
        log.warning("%s: %s; the objects not fetched are recorded as failed", desc,
                    queue.outage)
    done = [Outcome(task.key, "", "failed", f"gave_up: {queue.outage}", "",
                    state[n].attempts) if outcome is None else outcome
            for n, (task, outcome) in enumerate(zip(tasks, outcomes, strict=True))]
    counts = Counter(o.status for o in done)
    reasons = Counter(o.reject_reason.split(":")[0] for o in done if o.status != "ok")
    log.info("%s: %d ok (%d from cache), %d failed %s, %d requests", desc, counts["ok"],
             sum(o.from_cache for o in done), counts["failed"], dict(reasons),
             sum(o.attempts for o in done))
    return done
