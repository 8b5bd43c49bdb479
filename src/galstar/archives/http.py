"""A polite, resumable, concurrent downloader shared by every archive client.

What it guarantees, whatever the server does (retries and rate limits:
:mod:`galstar.archives.retry`):

- at most ``concurrency`` requests in flight and at most ``rate_per_s`` started per
  second (a token bucket shared by all workers, retries included);
- 429 (honouring ``Retry-After``), 5xx, connection errors, timeouts and truncated or
  malformed bodies are retried with exponential backoff and jitter, up to
  ``max_retries`` times; a 404 or a permanent validation failure is not retried;
- in bulk (:func:`download_all`) a retry waits in a queue, not in a connection, an
  answer far slower than the recent ones is cut short and retried, and a run of
  failures on every connection pauses them all (an outage);
- nothing is accepted before the caller's validator passes, and every accepted file is
  written atomically, so the cache only ever holds valid files;
- files already in the cache and valid are not fetched again (a killed run resumes);
- every object ends with one :class:`Outcome` (status, attempts, sha256, reason).

The machinery does not care where bytes come from: a ``fetch`` callable may issue an
HTTP request or render a mock cutout in-process.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from queue import SimpleQueue
from urllib.parse import urlsplit

import numpy as np
import requests
import urllib3
from tqdm import tqdm

from galstar.archives.retry import (
    FetchError,
    RetryPolicy,
    RetryQueue,
    StallTimer,
    TokenBucket,
    parse_retry_after,
    with_retries,
)
from galstar.archives.validate import Rejected
from galstar.io import atomic_path

__all__ = [
    "FetchError",
    "TokenBucket",
    "RetryPolicy",
    "Download",
    "Outcome",
    "outcome_columns",
    "parse_retry_after",
    "http_get",
    "stall_limit",
    "thread_session",
    "with_retries",
    "download_all",
    "download_file",
]

log = logging.getLogger(__name__)

USER_AGENT = "galstar/0.1 (+https://github.com/galstar; polite bulk download)"


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


@dataclass
class Outcome:
    """What happened to one object (one manifest row)."""

    key: int | str
    path: str
    status: str  # ok | failed
    reject_reason: str
    sha256: str
    attempts: int
    from_cache: bool = False


def outcome_columns(outcomes: Sequence[Outcome]) -> dict[str, list | np.ndarray]:
    """The manifest columns every client shares: path, status, reject_reason, sha256 and
    attempts (int32), one entry per outcome."""
    return {
        "path": [o.path for o in outcomes],
        "status": [o.status for o in outcomes],
        "reject_reason": [o.reject_reason for o in outcomes],
        "sha256": [o.sha256 for o in outcomes],
        "attempts": np.array([o.attempts for o in outcomes], dtype=np.int32),
    }


_local = threading.local()


class _PooledSession(requests.Session):
    """A session that looks the environment's proxy and CA settings up once per server.

    ``requests`` reads the proxy variables (and ``no_proxy``) and the CA bundle from the
    environment for every request, a tenth of a millisecond of Python under the GIL
    each time; they cannot change during a download, so the merged settings are kept
    per scheme, host and request options. Connections are pooled and kept alive as in
    any session.
    """

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple, dict] = {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if proxies or not isinstance(verify, (bool, str, type(None))):
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        key = (urlsplit(url)[:2], stream, verify, cert if isinstance(cert, str) else None)
        if cert is not None and not isinstance(cert, str):
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        settings = self._environment.get(key)
        if settings is None:
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            self._environment[key] = settings
        return {**settings, "proxies": dict(settings["proxies"])}


def thread_session() -> requests.Session:
    """A ``requests.Session`` private to the calling thread (sessions are not thread-safe):
    one pooled keep-alive connection per server and worker thread."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _PooledSession()
        session.headers["User-Agent"] = USER_AGENT
        _local.session = session
    return session


def _raise_for_status(response: requests.Response) -> None:
    code = response.status_code
    if code in (200, 206):
        return
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    transient = code == 429 or code == 408 or code >= 500
    raise FetchError(f"http_{code}", permanent=not transient, retry_after=retry_after)


def http_get(url: str, params: dict | None = None, timeout: float = 60.0,
             session: requests.Session | None = None) -> bytes:
    """GET ``url`` and return the whole body, mapping every failure to :class:`FetchError`.

    Parameters
    ----------
    url : str
        Address.
    params : dict, optional
        Query parameters.
    timeout : float
        Seconds to wait for the connection and between bytes of the response (less
        between bytes inside :func:`stall_limit`).
    session : requests.Session, optional
        Default: :func:`thread_session`.

    Returns
    -------
    bytes
        The body, checked against ``Content-Length`` when the server sent one.

    Raises
    ------
    FetchError
        ``timeout``, ``stalled`` (silent past the stall limit), ``connection: ...``,
        ``short_body: ...`` or ``http_<code>``.
    """
    session = session or thread_session()
    stall = getattr(_local, "stall_s", None)
    read = timeout if stall is None else min(timeout, stall)
    silent = "stalled" if read < timeout else "timeout"
    try:
        # The body in one read (urllib3 -> http.client, looping in C), not requests'
        # 10 kB chunks: each chunk retakes the GIL, and with 8 threads validating and
        # hashing, every retake can wait a switch interval (5 ms) on a busy one.
        with session.get(url, params=params, timeout=(timeout, read),
                         stream=True) as response:
            body = response.raw.read(decode_content=True)
    except requests.ConnectTimeout:
        raise FetchError("timeout") from None
    except requests.Timeout:
        raise FetchError(silent) from None
    except (requests.RequestException, urllib3.exceptions.HTTPError) as err:
        # Connection refused/reset, or the body ended before Content-Length bytes.
        if isinstance(err, urllib3.exceptions.TimeoutError):
            raise FetchError(silent) from None
        raise FetchError(f"connection: {type(err).__name__}") from None
    _raise_for_status(response)
    declared = response.headers.get("Content-Length")
    if declared is not None and "Content-Encoding" not in response.headers:
        if len(body) != int(declared):
            raise FetchError(f"short_body: {len(body)} of {declared} bytes")
    return body


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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


@contextmanager
def stall_limit(seconds: float | None):
    """Within the block, :func:`http_get` on this thread waits at most ``seconds`` for
    the next byte (when less than its timeout) and reports ``stalled`` when cut short."""
    previous = getattr(_local, "stall_s", None)
    _local.stall_s = seconds
    try:
        yield
    finally:
        _local.stall_s = previous


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


def _stream_to_part(url: str, part: Path, timeout: float, chunk_bytes: int) -> None:
    """Append the rest of ``url`` to ``part``, resuming with a Range request."""
    session = thread_session()
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        with session.get(url, headers=headers, timeout=timeout, stream=True) as response:
            if response.status_code == 416:  # nothing left to send or a stale part
                part.unlink(missing_ok=True)
                raise FetchError("http_416: restarting from byte 0")
            _raise_for_status(response)
            mode = "ab" if response.status_code == 206 else "wb"
            if mode == "ab" and not response.headers.get("Content-Range", "").startswith(
                f"bytes {have}-"
            ):
                part.unlink(missing_ok=True)
                raise FetchError("bad_content_range: restarting from byte 0")
            with open(part, mode) as fh:
                for block in response.iter_content(chunk_size=chunk_bytes):
                    fh.write(block)
    except requests.Timeout:
        raise FetchError("timeout") from None
    except requests.RequestException as err:
        raise FetchError(f"connection: {type(err).__name__}") from None


def download_file(url: str, dest: str | os.PathLike, validate: Callable[[Path], object], *,
                  timeout: float = 60.0, policy: RetryPolicy | None = None,
                  bucket: TokenBucket | None = None, seed: int = 0,
                  chunk_bytes: int = 1 << 20) -> Outcome:
    """Download one large file to disk, resumably, and accept it only if valid.

    The body streams into ``<dest>.part`` (never into memory); an interrupted transfer
    continues from the bytes already there with an HTTP ``Range`` request, also across
    runs. Once complete and valid, the part file is renamed onto ``dest``. A valid
    ``dest`` is not fetched again.

    Parameters
    ----------
    url : str
        Address.
    dest : str or os.PathLike
        Final path.
    validate : callable
        ``validate(path)`` raises :class:`Rejected` for a file that must not be kept.
    timeout : float
        Seconds for the connection and between bytes.
    policy : RetryPolicy, optional
        Backoff settings.
    bucket : TokenBucket, optional
        Shared rate limit.
    seed : int
        Jitter seed.
    chunk_bytes : int
        Read size while streaming.

    Returns
    -------
    Outcome
        ``status`` is ``failed`` with the reason (``http_404`` when the file does not exist).
    """
    dest = Path(dest)
    policy = policy or RetryPolicy()
    bucket = bucket or TokenBucket(None)
    if dest.is_file():
        try:
            validate(dest)
            return Outcome(url, str(dest), "ok", "", _sha256_file(dest), 0, from_cache=True)
        except Rejected as err:
            log.warning("%s: cached file invalid (%s), fetching again", dest, err)
            dest.unlink()
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")

    def attempt() -> None:
        _stream_to_part(url, part, timeout, chunk_bytes)
        try:
            validate(part)
        except Rejected:
            part.unlink(missing_ok=True)  # a bad body must not be resumed from
            raise
        os.replace(part, dest)

    _, attempts, reason = with_retries(attempt, policy, bucket, random.Random(f"{seed}:{url}"),
                                       url)
    if reason:
        return Outcome(url, "", "failed", reason, "", attempts)
    return Outcome(url, str(dest), "ok", "", _sha256_file(dest), attempts)
