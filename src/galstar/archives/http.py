"""A polite, resumable, concurrent downloader shared by every archive client.

What it guarantees, whatever the server does (retries and rate limits:
:mod:`galstar.archives.retry`):

- at most ``concurrency`` requests in flight and at most ``rate_per_s`` started per
  second (a token bucket shared by all workers, retries included);
- 429 (honouring ``Retry-After``), 5xx, connection errors, timeouts and truncated or
  malformed bodies are retried with exponential backoff and jitter, up to
  ``max_retries`` times; a 404 or a permanent validation failure is not retried;
- in bulk (:mod:`galstar.archives.bulk`) a retry waits in a queue, not in a connection, an
  answer far slower than the recent ones is cut short and retried, and a run of
  failures on every connection pauses them all (an outage);
- nothing is accepted before the caller's validator passes, and every accepted file is
  written atomically, so the cache only ever holds valid files;
- files already in the cache and valid are not fetched again (a killed run resumes);
- every object ends with one :class:`Outcome` (status, attempts, sha256, reason).

This module holds the transport (pooled sessions, :func:`http_get`, the stall limit)
and single large files (:func:`download_file`, resumed with ``Range``). The bulk
machinery does not care where bytes come from: a ``fetch`` callable may issue an HTTP
request or render a mock cutout in-process.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import threading
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import requests
import urllib3

from galstar.archives.retry import (
    FetchError,
    RetryPolicy,
    TokenBucket,
    parse_retry_after,
    with_retries,
)
from galstar.archives.validate import Rejected

__all__ = [
    "FetchError",
    "TokenBucket",
    "RetryPolicy",
    "Outcome",
    "outcome_columns",
    "parse_retry_after",
    "http_get",
    "stall_limit",
    "thread_session",
    "with_retries",
    "download_file",
]

log = logging.getLogger(__name__)

USER_AGENT = "galstar/0.1 (+https://github.com/galstar; polite bulk download)"


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
