"""MPA-JHU from SkyServer: ``galSpecInfo JOIN galSpecExtra`` through astroquery, paged.

The whole DR8 catalogue (about 1.8 million rows) does not fit in one SkyServer answer,
so rows are fetched in pages of ``TOP page_rows`` with keyset pagination
(``WHERE specObjID > <last of previous page> ORDER BY specObjID``): unlike OFFSET
paging, each page costs the server an index seek and a page lost to a fault is simply
asked again. A ``COUNT(*)`` with the same selection is compared with the rows received.

astroquery builds the request (payload, CSV format); the endpoint is a config value,
so tests point it at a loopback server.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa
import requests
from astropy.table import Table
from astroquery.exceptions import RemoteServiceError
from astroquery.sdss import SDSSClass

from galstar.archives.http import (
    FetchError,
    RetryPolicy,
    TokenBucket,
    parse_retry_after,
    with_retries,
)
from galstar.archives.validate import Rejected, sniff_html

__all__ = [
    "INFO_COLUMNS",
    "SPECOBJ_SN_COLUMNS",
    "EXTRA_COLUMNS",
    "MPAJHU_COLUMNS",
    "INTEGER_COLUMNS",
    "TEXT_COLUMNS",
    "SkyServerSQL",
    "mpajhu_where",
    "mpajhu_page_sql",
    "mpajhu_count_sql",
    "iter_mpajhu_pages",
    "arrow_page",
]

log = logging.getLogger(__name__)

#: galSpecInfo columns kept (as SkyServer names them).
INFO_COLUMNS: tuple[str, ...] = (
    "specObjID", "plateid", "mjd", "fiberid", "ra", "dec", "primtarget", "targettype",
    "spectrotype", "subclass", "z", "z_err", "z_warning", "v_disp", "e_bv_sfd", "release",
    "reliable",
)
#: Per-band median S/N comes from SpecObjAll (``snMedian_r``), renamed ``sn_median_r``.
SPECOBJ_SN_COLUMNS: dict[str, str] = {f"sn_median_{b}": f"snMedian_{b}" for b in "ugriz"}
_PERCENTILES = ("p2p5", "p16", "p50", "p84", "p97p5")
#: galSpecExtra columns kept: BPT class and the mass / SFR / sSFR PDF summaries. SkyServer
#: has percentiles for all three and an entropy for SFR and sSFR only; the PDFs' AVG and
#: MODE are in the MPA-JHU DR7 flat files, not in galSpecExtra.
EXTRA_COLUMNS: tuple[str, ...] = ("bptclass",) + tuple(
    f"{q}_{a}_{s}"
    for q in ("lgm", "sfr", "specsfr")
    for a in ("tot", "fib")
    for s in _PERCENTILES + (() if q == "lgm" else ("entropy",))
)
#: Columns of ``mpajhu.parquet``, in order.
MPAJHU_COLUMNS: tuple[str, ...] = INFO_COLUMNS + tuple(SPECOBJ_SN_COLUMNS) + EXTRA_COLUMNS
#: Columns stored as int64, and as text; every other column is float64.
INTEGER_COLUMNS: frozenset[str] = frozenset(
    {"specObjID", "plateid", "mjd", "fiberid", "primtarget", "z_warning", "reliable",
     "bptclass"}
)
TEXT_COLUMNS: frozenset[str] = frozenset({"targettype", "spectrotype", "subclass", "release"})


class _RedirectedSDSS(SDSSClass):
    """astroquery's SDSS client with the SQL endpoint taken from our config."""

    def __init__(self, query_url: str) -> None:
        super().__init__()
        self._query_url = query_url

    def _get_query_url(self, data_release: int) -> str:  # noqa: ARG002 (astroquery hook)
        self._last_url = self._query_url
        return self._query_url


class SkyServerSQL:
    """Runs SQL on SkyServer (``SqlSearch``), with retries and answer validation.

    Parameters
    ----------
    url : str
        SqlSearch endpoint (config ``live.skyserver.url``).
    data_release : int
        SDSS data release (config ``live.skyserver.data_release``).
    timeout : float
        Seconds for the connection and between bytes.
    policy : RetryPolicy, optional
        Backoff settings.
    rate_per_s : float, optional
        Query rate limit.
    seed : int
        Jitter seed.
    """

    def __init__(self, url: str, data_release: int = 17, timeout: float = 60.0,
                 policy: RetryPolicy | None = None, rate_per_s: float | None = None,
                 seed: int = 0) -> None:
        self.url = url
        self.data_release = int(data_release)
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.bucket = TokenBucket(rate_per_s)
        self.rng = random.Random(seed)
        self._client = _RedirectedSDSS(url)
        self.requests = 0

    def _query_once(self, sql: str, columns: Sequence[str]) -> Table:
        self.requests += 1
        try:
            response = self._client.query_sql_async(
                sql, timeout=self.timeout, data_release=self.data_release, cache=False
            )
            body = response.content
        except requests.Timeout:
            raise FetchError("timeout") from None
        except requests.RequestException as err:
            raise FetchError(f"connection: {type(err).__name__}") from None
        code = response.status_code
        if code != 200:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            transient = code == 429 or code >= 500 or code == 408
            raise FetchError(f"http_{code}: {body[:200]!r}", permanent=not transient,
                             retry_after=retry_after)
        declared = response.headers.get("Content-Length")
        if declared is not None and "Content-Encoding" not in response.headers:
            if len(body) != int(declared):
                raise FetchError(f"short_body: {len(body)} of {declared} bytes")
        if sniff_html(body):
            raise Rejected("html_page")
        text = body.decode("utf-8", errors="replace")
        if "error_message" in text or text.lstrip().startswith("Error"):
            raise RemoteServiceError(f"SkyServer rejected the query: {text[:500]}")
        if not text.endswith("\n"):
            # A body cut at a line end parses cleanly but loses rows; one cut inside a
            # line would silently shorten a number.
            raise Rejected("truncated: answer does not end with a newline")
        try:
            table = Table.read(text, format="ascii.csv", comment="#")
        except (ValueError, IndexError, TypeError) as err:
            raise Rejected(f"bad_csv: {err}") from None
        missing = [c for c in columns if c not in table.colnames]
        if missing:
            raise Rejected(f"missing_columns: {missing}")
        return table

    def query(self, sql: str, columns: Sequence[str]) -> Table:
        """Run one query, retrying transient failures; return the rows as a Table.

        Parameters
        ----------
        sql : str
            The query.
        columns : sequence of str
            Columns the answer must have (an answer without them is retried).

        Raises
        ------
        RuntimeError
            When retries run out (names the endpoint and the last failure).
        astroquery.exceptions.RemoteServiceError
            When SkyServer reports an SQL error (not retried).
        """
        table, attempts, reason = with_retries(
            lambda: self._query_once(sql, columns), self.policy, self.bucket, self.rng,
            self.url,
        )
        if table is None:
            raise RuntimeError(f"SkyServer query at {self.url} failed after {attempts} "
                               f"attempts ({reason}): {sql[:200]}")
        return table

    def count(self, sql: str) -> int:
        """Run a ``SELECT COUNT(*) AS n ...`` query and return ``n``."""
        table = self.query(sql, ["n"])
        return int(table["n"][0]) if len(table) else 0


def mpajhu_where(push_cuts: bool, sn_median_r_min: float | None = None) -> str:
    """SQL selection for MPA-JHU rows (``""`` when nothing is pushed to the server).

    The cuts pushed are the unambiguous ones of the paper: GALAXY spectra, reliable,
    z > 0, no redshift warning, and S/N_r at least ``sn_median_r_min``. Label validity
    (sentinels) stays with the catalogue stage, which records it in the cut-flow.
    """
    if not push_cuts:
        return ""
    cuts = ["i.spectrotype = 'GALAXY'", "i.reliable = 1", "i.z > 0", "i.z_warning = 0"]
    if sn_median_r_min is not None:
        cuts.append(f"s.snMedian_r >= {float(sn_median_r_min)!r}")
    return " AND ".join(cuts)


_FROM = ("FROM galSpecInfo AS i "
         "JOIN galSpecExtra AS e ON e.specObjID = i.specObjID "
         "JOIN SpecObjAll AS s ON s.specObjID = i.specObjID")


def mpajhu_page_sql(page_rows: int, after: int | None, where: str = "") -> str:
    """One keyset page: the ``page_rows`` rows with the smallest specObjID > ``after``."""
    select = ", ".join(
        [f"i.{c}" for c in INFO_COLUMNS]
        + [f"s.{src} AS {dst}" for dst, src in SPECOBJ_SN_COLUMNS.items()]
        + [f"e.{c}" for c in EXTRA_COLUMNS]
    )
    conditions = [c for c in (where, None if after is None else f"i.specObjID > {int(after)}")
                  if c]
    clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT TOP {int(page_rows)} {select} {_FROM}{clause} ORDER BY i.specObjID"


def mpajhu_count_sql(where: str = "") -> str:
    """Number of rows the paged query will return."""
    return f"SELECT COUNT(*) AS n {_FROM}" + (f" WHERE {where}" if where else "")


def arrow_page(table: Table) -> pa.Table:
    """Convert one page to Arrow with stable types: int64 ids, float64, string.

    Types are fixed by name, not inferred per page, so that every page of a run has the
    same schema (a page may print a float column without decimals, or have a text
    column that is empty throughout and reads as a masked number).

    Raises
    ------
    ValueError
        If a numeric column has empty cells (MPA-JHU uses sentinels, never NULL).
    """
    arrays = {}
    for name in MPAJHU_COLUMNS:
        column = table[name]
        mask = np.ma.getmaskarray(column)
        values = np.ma.getdata(column)
        if name in TEXT_COLUMNS:
            text = np.char.strip(values.astype(str))
            arrays[name] = pa.array(np.where(mask, "", text), pa.string())
            continue
        if mask.any():
            raise ValueError(f"MPA-JHU column {name}: {int(mask.sum())} empty values")
        dtype = np.int64 if name in INTEGER_COLUMNS else np.float64
        arrays[name] = pa.array(values.astype(dtype))
    return pa.table(arrays)


def iter_mpajhu_pages(client: SkyServerSQL, page_rows: int, where: str = "") -> Iterator[Table]:
    """Yield every selected MPA-JHU row exactly once, page by page, in specObjID order.

    Stops at the first empty page (a short page is not taken as the end: a page cut at
    a line end would otherwise end the listing early).

    Raises
    ------
    RuntimeError
        If specObjIDs do not increase across pages (the server ignored the ordering).
    """
    after: int | None = None
    page = 0
    while True:
        table = client.query(mpajhu_page_sql(page_rows, after, where), MPAJHU_COLUMNS)
        if len(table) == 0:
            return
        ids = [int(v) for v in table["specObjID"]]
        if len(table) > page_rows or any(b <= a for a, b in zip(ids, ids[1:], strict=False)) \
                or (after is not None and ids[0] <= after):
            raise RuntimeError(f"{client.url}: page {page} is not a keyset page "
                               f"(rows={len(table)}, first={ids[0]}, after={after})")
        page += 1
        log.info("MPA-JHU page %d: %d rows, specObjID %d..%d", page, len(table), ids[0],
                 ids[-1])
        yield table
        after = ids[-1]
