"""A loopback archive server with deterministic fault injection, for tests and the bench.

It plays three archives on 127.0.0.1 (a random free port):

- ``/viewer/fits-cutout?ra=&dec=&layer=&pixscale=&bands=&size=``: the Legacy Survey
  cutout service, answered by a callable ``cutout(params) -> bytes``;
- ``/dr9/<region>/sweep/<version>/<name>``: sweep files from a mock archive root, with
  HTTP ``Range`` support (resumable downloads);
- ``/dr17/SkyServerWS/SearchTools/SqlSearch?cmd=&format=csv``: SkyServer SQL, run by
  SQLite on tables built from the mock ``skyserver/galSpec.fits`` (T-SQL ``TOP n``
  becomes ``LIMIT n``), answered as SkyServer CSV (``#Table1`` then a header).

Faults are decided by hashing ``(seed, request, attempt number of that request)``, so
the same requests get the same faults whatever the thread interleaving. After
``max_faults_per_key`` faults a request is answered cleanly, so a client with enough
retries always gets every object.

Use the ``fault_server`` fixture (import it into the test module), or
:class:`FaultServer` as a context manager.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits
from skyserver_schema import SCHEMA_CSV, skyserver_columns

FAULT_KINDS = ("500", "429", "timeout", "truncated", "truncated_nolength", "html")
HTML_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Service busy</title></head>"
             b"<body><h1>Please try again later</h1></body></html>\n")


@dataclass
class FaultPlan:
    """Which requests fail, and how.

    Parameters
    ----------
    rate : float
        Probability that one attempt of a request is faulted.
    kinds : tuple of str
        Fault kinds drawn from (:data:`FAULT_KINDS`).
    seed : int
        Seeds the schedule.
    max_faults_per_key : int
        A request is answered cleanly after this many faults.
    timeout_s : float
        How long a ``timeout`` fault stalls (longer than the client timeout).
    retry_after_s : float
        ``Retry-After`` sent with 429.
    latency_s : float
        Delay added before every answer (bench).
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 0
    max_faults_per_key: int = 3
    timeout_s: float = 0.6
    retry_after_s: float = 0.05
    latency_s: float = 0.0

    def fault(self, key: str, attempt: int, faults_so_far: int) -> str | None:
        """The fault for attempt ``attempt`` (0-based) of request ``key``, or None."""
        if self.rate <= 0 or faults_so_far >= self.max_faults_per_key:
            return None
        digest = hashlib.sha256(f"{self.seed}|{key}|{attempt}".encode()).digest()
        draw = int.from_bytes(digest[:8], "little") / 2**64
        if draw >= self.rate:
            return None
        return self.kinds[int.from_bytes(digest[8:12], "little") % len(self.kinds)]


@dataclass
class ServerStats:
    """What the server saw: requests and faults by kind, per route."""

    requests: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def total_faults(self) -> int:
        return sum(self.faults.values())


def synthetic_cutout(ra: float, dec: float, size: int = 152, bands: str = "grz",
                     pixscale: float = 0.262, empty_band: str | None = None) -> bytes:
    """A deterministic cutout in the service's format (a stand-in for the mock service).

    A Gaussian blob on noise, seeded by the position; ``empty_band`` is all zeros, as
    the service returns outside the footprint.
    """
    seed = int.from_bytes(hashlib.sha256(f"{ra!r},{dec!r}".encode()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    blob = np.exp(-(xx**2 + yy**2) / (2 * 4.0**2))
    cube = np.stack([rng.uniform(1, 5) * blob + rng.normal(0, 0.01, (size, size))
                     for _ in bands]).astype(np.float32)
    if empty_band is not None:
        cube[bands.index(empty_band)] = 0.0
    hdu = fits.PrimaryHDU(cube)
    header = hdu.header
    header["CTYPE1"], header["CTYPE2"] = "RA---TAN", "DEC--TAN"
    header["CRVAL1"], header["CRVAL2"] = float(ra), float(dec)
    header["CRPIX1"] = header["CRPIX2"] = (size + 1) / 2
    header["CD1_1"], header["CD2_2"] = -pixscale / 3600, pixscale / 3600
    header["CD1_2"] = header["CD2_1"] = 0.0
    header["BANDS"] = bands
    for i, band in enumerate(bands):
        header[f"BAND{i}"] = band
    buffer = io.BytesIO()
    hdu.writeto(buffer)
    return buffer.getvalue()


def synthetic_cutout_service(params: dict) -> bytes:
    """``cutout(params)`` for :class:`FaultServer` from :func:`synthetic_cutout`."""
    return synthetic_cutout(float(params["ra"]), float(params["dec"]), int(params["size"]),
                            params["bands"], float(params["pixscale"]))


def mock_cutout_service(root: str | Path) -> Callable[[dict], bytes]:
    """``cutout(params)`` answered by the mock archive's :class:`MockCutoutService`."""
    from galstar.mock.cutouts import MockCutoutService

    service = MockCutoutService(root)

    def answer(params: dict) -> bytes:
        return service.fits_bytes(float(params["ra"]), float(params["dec"]),
                                  size=int(params["size"]), pixscale=float(params["pixscale"]),
                                  bands=params["bands"], layer=params["layer"])

    return answer


_SPECOBJ_SN = re.compile(r"^sn_median_([ugriz])$")


def skyserver_database(galspec_fits: str | Path) -> sqlite3.Connection:
    """SQLite tables ``galSpecInfo``, ``galSpecExtra``, ``SpecObjAll`` from a galSpec FITS.

    Columns are split as on SkyServer (``fixtures/skyserver_schema.csv``): the per-band
    median S/N as ``SpecObjAll.snMedian_<band>``, the others in the table the schema puts
    them in, so a query for a column SkyServer lacks fails here too.

    Raises
    ------
    ValueError
        If the FITS has a column that no SkyServer table has (the mock would hide a
        mismatch with the live query).
    """
    schema = skyserver_columns()
    with fits.open(galspec_fits) as hdul:
        data = hdul[1].data
        columns = {}
        for name in data.columns.names:
            values = np.asarray(data[name])
            if values.ndim != 1:
                continue
            if values.dtype.kind in "SU":
                values = np.char.strip(values.astype(str))
            columns[name] = values.tolist()
    db = sqlite3.connect(":memory:", check_same_thread=False)
    tables = {"galSpecInfo": ["specObjID"], "galSpecExtra": ["specObjID"],
              "SpecObjAll": ["specObjID"]}
    renamed = {"specObjID": "specObjID"}
    for name in columns:
        if name == "specObjID":
            continue
        sn = _SPECOBJ_SN.match(name)
        if sn:
            tables["SpecObjAll"].append(name)
            renamed[name] = f"snMedian_{sn.group(1)}"
            continue
        owner = [t for t in ("galSpecInfo", "galSpecExtra") if name in schema[t]]
        if not owner:
            raise ValueError(f"{galspec_fits}: column {name} is in no SkyServer table "
                             f"({SCHEMA_CSV.name})")
        tables[owner[0]].append(name)
        renamed[name] = name
    n = len(columns["specObjID"])
    for table, names in tables.items():
        db.execute(f"CREATE TABLE {table} ({', '.join(renamed[c] for c in names)})")
        rows = zip(*(columns[c] for c in names), strict=True)
        db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(names))})", rows)
        db.execute(f"CREATE UNIQUE INDEX {table}_id ON {table} (specObjID)")
    assert db.execute("SELECT COUNT(*) FROM galSpecInfo").fetchone()[0] == n
    return db


_TOP = re.compile(r"^\s*SELECT\s+TOP\s+(\d+)\s+", re.IGNORECASE)


def run_skyserver_sql(db: sqlite3.Connection, lock: threading.Lock, sql: str) -> bytes:
    """Run T-SQL (``TOP n`` only) on SQLite; answer as SkyServer's CSV."""
    top = _TOP.match(sql)
    if top:
        sql = "SELECT " + sql[top.end():] + f" LIMIT {int(top.group(1))}"
    with lock:
        cursor = db.execute(sql)
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    out = io.StringIO()
    out.write("#Table1\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    writer.writerows([[repr(v) if isinstance(v, float) else v for v in row] for row in rows])
    return out.getvalue().encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    _in_flight = False

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        owner = self.server.owner
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        route, answer = owner.route(url.path, params, self.headers.get("Range"))
        key = f"{url.path}?{url.query}"
        with owner.stats.lock:
            attempt = owner.attempts[key]
            owner.attempts[key] += 1
            fault = owner.plan.fault(key, attempt, owner.fault_counts[key])
            owner.stats.requests[route] += 1
            if fault:
                owner.fault_counts[key] += 1
                owner.stats.faults[fault] += 1
            owner.stats.in_flight += 1
            owner.stats.max_in_flight = max(owner.stats.max_in_flight, owner.stats.in_flight)
        self._in_flight = True
        try:
            if owner.plan.latency_s:
                time.sleep(owner.plan.latency_s)
            self._answer(fault, answer)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout faults)
        finally:
            self._land()

    def _land(self) -> None:
        """The request stops counting as in flight (once), before its answer is sent: a
        client that reads the answer and sends its next request at once would otherwise
        be counted twice while this thread is still between its write and its count."""
        if self._in_flight:
            self._in_flight = False
            with self.server.owner.stats.lock:
                self.server.owner.stats.in_flight -= 1

    def _send(self, code: int, body: bytes, headers: dict | None = None,
              length: int | None = None) -> None:
        self._land()
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)

    def _answer(self, fault: str | None, answer: Callable[[], tuple]) -> None:
        plan = self.server.owner.plan
        if fault == "500":
            return self._send(500, b"Internal Server Error\n", length=22)
        if fault == "429":
            return self._send(429, b"Too Many Requests\n",
                              {"Retry-After": f"{plan.retry_after_s:g}"}, length=18)
        if fault == "timeout":
            time.sleep(plan.timeout_s)
            self.close_connection = True
            return None
        if fault == "html":
            return self._send(200, HTML_PAGE, {"Content-Type": "text/html"},
                              length=len(HTML_PAGE))
        code, body, headers = answer()
        if fault == "truncated":  # announces the full length, sends half
            return self._send(code, body[: len(body) // 2], headers, length=len(body))
        if fault == "truncated_nolength":  # close-delimited: only validation can tell
            self.close_connection = True
            return self._send(code, body[: len(body) * 2 // 3], headers)
        return self._send(code, body, headers, length=len(body))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FaultServer


class FaultServer:
    """Loopback archive server; see the module docstring.

    Parameters
    ----------
    cutout : callable, optional
        ``cutout(params) -> bytes`` answering fits-cutout requests.
    root : path, optional
        Mock archive root (``dr9/`` sweeps and ``skyserver/galSpec.fits``).
    plan : FaultPlan, optional
        Fault schedule (default: none).
    """

    def __init__(self, cutout: Callable[[dict], bytes] | None = None,
                 root: str | Path | None = None, plan: FaultPlan | None = None) -> None:
        self.cutout = cutout
        self.root = Path(root) if root is not None else None
        self.plan = plan or FaultPlan()
        self.stats = ServerStats()
        self.attempts: Counter = Counter()
        self.fault_counts: Counter = Counter()
        self._db: sqlite3.Connection | None = None
        self._db_lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def cutout_url(self) -> str:
        return f"{self.base_url}/viewer/fits-cutout"

    @property
    def sweep_url(self) -> str:
        return f"{self.base_url}/dr9"

    @property
    def sql_url(self) -> str:
        return f"{self.base_url}/dr17/SkyServerWS/SearchTools/SqlSearch"

    def start(self) -> FaultServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
        if self._db is not None:
            self._db.close()

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def route(self, path: str, params: dict, range_header: str | None):
        """``(route name, answer())``; ``answer`` returns ``(code, body, headers)``."""
        if path == "/viewer/fits-cutout" and self.cutout is not None:
            return "cutout", lambda: (200, self.cutout(params),
                                      {"Content-Type": "application/fits"})
        sweep = re.fullmatch(r"/dr9/(north|south)/sweep/[^/]+/(sweep-[^/]+\.fits)", path)
        if sweep and self.root is not None:
            return "sweep", lambda: self._file(
                self.root / "dr9" / sweep.group(1) / "sweep" / sweep.group(2), range_header)
        if path.endswith("/SkyServerWS/SearchTools/SqlSearch") and self.root is not None:
            return "sql", lambda: self._sql(params.get("cmd", ""))
        return "other", lambda: (404, b"Not Found\n", {})

    def _file(self, path: Path, range_header: str | None) -> tuple:
        if not path.is_file():
            return 404, b"Not Found\n", {}
        data = path.read_bytes()
        match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
        if match:
            start = int(match.group(1))
            if start >= len(data):
                return 416, b"", {"Content-Range": f"bytes */{len(data)}"}
            return 206, data[start:], {
                "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
        return 200, data, {"Accept-Ranges": "bytes"}

    def _sql(self, sql: str) -> tuple:
        with self._db_lock:
            if self._db is None:
                self._db = skyserver_database(self.root / "skyserver" / "galSpec.fits")
        try:
            return 200, run_skyserver_sql(self._db, self._db_lock, sql), {
                "Content-Type": "text/plain"}
        except sqlite3.Error as err:  # SkyServer answers a bad query with 400
            return 400, f"error_message: {err}\n".encode(), {}


@pytest.fixture
def fault_server() -> Iterator[Callable[..., FaultServer]]:
    """Factory: ``fault_server(cutout=..., root=..., plan=...)`` starts a server.

    Every server started is stopped when the test ends.
    """
    started: list[FaultServer] = []

    def start(**kwargs) -> FaultServer:
        server = FaultServer(**kwargs).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


_TEXT = {"targettype": "SCIENCE", "subclass": "", "release": "dr8"}


def synthetic_galspec(path: str | Path, n: int, seed: int = 0) -> pd.DataFrame:
    """Write a small ``galSpec.fits`` with every MPA-JHU column; return it as a frame.

    specObjIDs are large, unsorted and gapped (like SkyServer's), spectrotype mixes
    GALAXY, STAR and QSO, and a fraction of rows fail each pushed cut.
    """
    from galstar.archives.skyserver import INTEGER_COLUMNS, MPAJHU_COLUMNS

    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(2**40, n, replace=False)).astype(np.int64) + 299_489_676_975_171_584
    rng.shuffle(ids)
    frame = {}
    for name in MPAJHU_COLUMNS:
        if name == "specObjID":
            frame[name] = ids
        elif name == "spectrotype":
            frame[name] = rng.choice(["GALAXY", "STAR", "QSO"], n, p=[0.8, 0.1, 0.1])
        elif name in _TEXT:
            frame[name] = np.full(n, _TEXT[name])
        elif name == "reliable":
            frame[name] = (rng.random(n) < 0.9).astype(np.int64)
        elif name == "z_warning":
            frame[name] = (rng.random(n) < 0.05).astype(np.int64)
        elif name in INTEGER_COLUMNS:
            frame[name] = rng.integers(0, 5000, n).astype(np.int64)
        elif name == "ra":
            frame[name] = rng.uniform(140.0, 165.0, n)
        elif name == "dec":
            frame[name] = rng.uniform(-4.0, 12.0, n)
        elif name == "z":
            frame[name] = np.where(rng.random(n) < 0.03, -0.001, rng.uniform(0.01, 0.3, n))
        elif name.startswith("sn_median"):
            frame[name] = rng.uniform(0.0, 30.0, n)
        else:
            frame[name] = np.round(rng.normal(0.0, 3.0, n), 6)
    table = pd.DataFrame(frame)
    columns = []
    for name in MPAJHU_COLUMNS:
        values = table[name].to_numpy()
        if values.dtype.kind in "OU":
            width = max(1, max(len(v) for v in values))
            columns.append(fits.Column(name, f"{width}A", array=values.astype(str)))
        elif values.dtype.kind == "i":
            columns.append(fits.Column(name, "K", array=values))
        else:
            columns.append(fits.Column(name, "D", array=values))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fits.BinTableHDU.from_columns(columns).writeto(path, overwrite=True)
    return table


def synthetic_sweep(path: str | Path, ra: np.ndarray, dec: np.ndarray,
                    first_objid: int = 0) -> None:
    """Write a sweep-like FITS table (identity, TYPE, position, fluxes) at ``path``."""
    n = len(ra)
    objid = np.arange(first_objid, first_objid + n, dtype=np.int32)
    types = np.array(["PSF", "REX", "EXP", "DEV", "SER"])[objid % 5]
    columns = [
        fits.Column("RELEASE", "I", array=np.full(n, 9010, dtype=np.int16)),
        fits.Column("BRICKID", "J", array=(objid // 1000).astype(np.int32)),
        fits.Column("OBJID", "J", array=objid),
        fits.Column("TYPE", "3A", array=types),
        fits.Column("RA", "D", array=np.asarray(ra, dtype=np.float64)),
        fits.Column("DEC", "D", array=np.asarray(dec, dtype=np.float64)),
        fits.Column("FLUX_G", "E", array=np.linspace(0.5, 50.0, n, dtype=np.float32)),
        fits.Column("FLUX_R", "E", array=np.linspace(1.0, 80.0, n, dtype=np.float32)),
        fits.Column("FLUX_Z", "E", array=np.linspace(1.5, 90.0, n, dtype=np.float32)),
    ]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fits.BinTableHDU.from_columns(columns).writeto(path, overwrite=True)
