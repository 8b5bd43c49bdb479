"""BT-Settl model spectra: Lyon grid file names, validation, and the two live sources.

- The Lyon grid serves one ASCII ``.spec.7`` file (often ``.bz2``) per (Teff, log g,
  [M/H], [alpha/M]) under a grid directory, named
  ``lte{Teff/100:03.0f}-{logg:.1f}{[M/H]:+.1f}a{[alpha/M]:+.1f}.BT-Settl.spec.7`` with
  solar metallicity written ``-0.0`` (e.g. ``lte039-5.0-0.0a+0.0.BT-Settl.spec.7``).
- The SVO theoretical-spectra service answers an SSAP query (``ssap.php``, VOTable)
  with the address of each matching spectrum, served as a two-column linear-flux
  table (wavelength [A], F_lambda [erg/s/cm2/A]) with ``format=ascii``.

Both go through :mod:`galstar.archives.bulk` and :mod:`galstar.archives.http` (polite
concurrency, retries with backoff, validation before acceptance, atomic writes,
resume). The base addresses are config values (``live.btsettl``); check them against
the services before a live run.
"""

from __future__ import annotations

import bz2
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urljoin

import pandas as pd

from galstar.archives.bulk import Download, download_all
from galstar.archives.http import (
    FetchError,
    RetryPolicy,
    http_get,
)
from galstar.archives.validate import Rejected, sniff_html

__all__ = ["btsettl_filename", "parse_btsettl_filename", "Spec7Info", "validate_spec7",
           "validate_svo_ascii", "svo_query_url", "svo_spectrum_url", "fetch_btsettl_lyon",
           "fetch_btsettl_svo", "GRID_MANIFEST_COLUMNS"]

_NAME = re.compile(r"^lte(\d{3}(?:\.\d)?)-(\d\.\d)([-+]\d\.\d)a([-+]\d\.\d)"
                   r"\.BT-Settl\.spec\.7(\.bz2)?$")
_NUMBER = re.compile(rb"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[DdEe][-+]?\d+)?")
#: Columns of the grid download manifest, in order.
GRID_MANIFEST_COLUMNS = ["teff", "logg", "mh", "alpha", "url", "path", "status",
                         "reject_reason", "sha256", "attempts"]


def _signed(value: float) -> str:
    """``+0.5``, ``-0.5``, and ``-0.0`` for zero (the Lyon grid's spelling)."""
    text = f"{value:+.1f}"
    return "-0.0" if text == "+0.0" else text


def btsettl_filename(teff: float, logg: float, mh: float, alpha: float = 0.0,
                     compressed: bool = False) -> str:
    """The Lyon grid's file name of one model.

    >>> btsettl_filename(3900, 5.0, 0.0)
    'lte039-5.0-0.0a+0.0.BT-Settl.spec.7'
    >>> btsettl_filename(2300, 4.5, 0.5, compressed=True)
    'lte023-4.5+0.5a+0.0.BT-Settl.spec.7.bz2'
    """
    alpha_text = f"{alpha:+.1f}"
    name = f"lte{teff / 100:03.0f}-{logg:.1f}{_signed(mh)}a{alpha_text}.BT-Settl.spec.7"
    return name + (".bz2" if compressed else "")


def parse_btsettl_filename(name: str) -> tuple[float, float, float, float]:
    """(Teff [K], log g, [M/H], [alpha/M]) from a Lyon file name.

    Raises
    ------
    ValueError
        When ``name`` is not a BT-Settl ``.spec.7`` name.
    """
    match = _NAME.match(Path(name).name)
    if not match:
        raise ValueError(f"not a BT-Settl .spec.7 file name: {name!r}")
    teff, logg, mh, alpha = (float(match.group(i)) for i in range(1, 5))
    return teff * 100.0, logg, mh, alpha


@dataclass(frozen=True)
class Spec7Info:
    """What a valid grid file holds: rows and wavelength range [A]."""

    n_rows: int
    wave_min: float
    wave_max: float


def _decompress(body: bytes) -> bytes:
    if body[:3] == b"BZh":
        try:
            return bz2.decompress(body)
        except (OSError, EOFError, ValueError) as err:
            raise Rejected(f"truncated: bz2 stream incomplete ({err})") from None
    return body


def _first_numbers(text: bytes) -> list[float]:
    return [float(m.replace(b"D", b"E").replace(b"d", b"e"))
            for m in _NUMBER.findall(text)]


def validate_spec7(body: bytes, min_rows: int = 100,
                   required_range_a: tuple[float, float] | None = None) -> Spec7Info:
    """Validate the body of a ``.spec.7`` (or ``.spec.7.bz2``) file.

    Parameters
    ----------
    body : bytes
        The file as served.
    min_rows : int
        Fewer data rows than this is a truncated or empty file.
    required_range_a : (float, float), optional
        Wavelengths [A] the file must cover (a cut-off body usually lacks the end).

    Returns
    -------
    Spec7Info

    Raises
    ------
    Rejected
        ``html_page``, ``empty``, ``truncated`` (bz2 stream, last line or row count),
        ``not_spec7`` (rows without two numbers, non-positive wavelengths) or
        ``short_coverage``.
    """
    if sniff_html(body[:512]):
        raise Rejected("html_page")
    text = _decompress(body)
    if not text.strip():
        raise Rejected("empty: no rows")
    if not text.endswith(b"\n"):
        raise Rejected("truncated: last row incomplete")
    lines = text.splitlines()
    rows = [ln for ln in lines if ln.strip()]
    if len(rows) < min_rows:
        raise Rejected(f"truncated: {len(rows)} rows (want >= {min_rows})")
    for ln in rows[:20] + rows[-20:]:
        numbers = _first_numbers(ln)
        if len(numbers) < 2 or numbers[0] <= 0:
            raise Rejected(f"not_spec7: row {ln[:60]!r}", permanent=True)
    waves = [_first_numbers(ln[:24])[0] for ln in rows[:: max(1, len(rows) // 2000)]]
    waves += [_first_numbers(rows[-1][:24])[0]]
    info = Spec7Info(len(rows), min(waves), max(waves))
    if required_range_a is not None:
        lo, hi = required_range_a
        if info.wave_min > lo or info.wave_max < hi:
            raise Rejected(f"short_coverage: {info.wave_min:.1f}-{info.wave_max:.1f} A "
                           f"(want {lo:.1f}-{hi:.1f})")
    return info


def validate_svo_ascii(body: bytes, min_rows: int = 100) -> int:
    """Validate an SVO ``format=ascii`` spectrum (``#`` comments, two columns, linear
    flux); return its number of rows.

    Raises
    ------
    Rejected
        ``html_page``, ``empty``, ``truncated`` or ``not_svo_ascii``.
    """
    if sniff_html(body[:512]):
        raise Rejected("html_page")
    if not body.strip():
        raise Rejected("empty: no rows")
    if not body.endswith(b"\n"):
        raise Rejected("truncated: last row incomplete")
    rows = [ln for ln in body.splitlines() if ln.strip() and not ln.lstrip().startswith(b"#")]
    if len(rows) < min_rows:
        raise Rejected(f"truncated: {len(rows)} rows (want >= {min_rows})")
    for ln in rows[:10] + rows[-10:]:
        numbers = _first_numbers(ln)
        if len(numbers) != 2 or numbers[0] <= 0 or numbers[1] < 0:
            raise Rejected(f"not_svo_ascii: row {ln[:60]!r}", permanent=True)
    return len(rows)


def svo_query_url(base_url: str, model: str, teff: float, logg: float, mh: float) -> str:
    """SSAP query of one model at the SVO service (``<base_url>/ssap.php``)."""
    params = {"model": model, "REQUEST": "queryData",
              "teff_min": f"{teff:g}", "teff_max": f"{teff:g}",
              "logg_min": f"{logg:g}", "logg_max": f"{logg:g}",
              "meta_min": f"{mh:g}", "meta_max": f"{mh:g}"}
    return f"{base_url.rstrip('/')}/ssap.php?{urlencode(params)}"


def svo_spectrum_url(votable: bytes, query_url: str) -> str:
    """The spectrum address in an SSAP answer (first row), asking for ``format=ascii``.

    Raises
    ------
    FetchError
        ``not_votable`` (retried: a broken answer) or ``no_model`` (permanent: the
        service has no such model).
    """
    from astropy.io.votable import parse
    from astropy.io.votable.exceptions import VOTableSpecError

    if sniff_html(votable[:512]) and b"<VOTABLE" not in votable[:2000].upper():
        raise FetchError("html_page")
    try:
        table = parse(io.BytesIO(votable)).get_first_table()
    except (ValueError, IndexError, VOTableSpecError, OSError) as err:
        raise FetchError(f"not_votable: {type(err).__name__}") from None
    fields = table.fields
    col = next((f for f in fields if (f.ucd or "").lower() == "meta.ref.url"), None)
    col = col or next((f for f in fields if f.name.lower() in ("spectrum", "access_url",
                                                              "acref")), None)
    if col is None:
        raise FetchError("not_votable: no access-url field")
    values = table.array[col.ID or col.name]
    if len(values) == 0:
        raise FetchError("no_model: the query matched nothing", permanent=True)
    url = str(values[0])
    url = url.decode() if isinstance(url, bytes) else url
    url = urljoin(query_url, url)
    return url + ("&" if "?" in url else "?") + "format=ascii"


def _grid_tasks(nodes: Sequence[Sequence[float]]) -> list[tuple[float, float, float, float]]:
    out = []
    for node in nodes:
        t, g, m = (float(v) for v in node[:3])
        a = float(node[3]) if len(node) > 3 else 0.0
        out.append((t, g, m, a))
    return out


def _manifest(nodes, urls, outcomes) -> pd.DataFrame:
    frame = pd.DataFrame(nodes, columns=["teff", "logg", "mh", "alpha"])
    frame["url"] = urls
    frame["path"] = [o.path for o in outcomes]
    frame["status"] = [o.status for o in outcomes]
    frame["reject_reason"] = [o.reject_reason for o in outcomes]
    frame["sha256"] = [o.sha256 for o in outcomes]
    frame["attempts"] = [o.attempts for o in outcomes]
    return frame[GRID_MANIFEST_COLUMNS]


def fetch_btsettl_lyon(nodes: Sequence[Sequence[float]], dest_dir: str | os.PathLike, *,
                       base_url: str, compressed: bool = True, min_rows: int = 100,
                       required_range_a: tuple[float, float] | None = None,
                       concurrency: int = 4, rate_per_s: float | None = 2.0,
                       timeout_s: float = 120.0, max_retries: int = 8,
                       backoff_s: float = 1.0, seed: int = 0,
                       progress: bool = False) -> pd.DataFrame:
    """Download grid files from a Lyon-style directory, one per node.

    Parameters
    ----------
    nodes : sequence of (Teff, log g, [M/H]) or (Teff, log g, [M/H], [alpha/M])
        Models wanted.
    dest_dir : path
        Cache directory; files keep their Lyon names, valid ones are not fetched again.
    base_url : str
        The grid's directory (``<base_url>/<file name>``), e.g. a ``.../SPECTRA`` URL.
    compressed : bool
        Ask for ``.spec.7.bz2`` (the Lyon server's form) or plain ``.spec.7``.
    min_rows, required_range_a
        What a valid file holds (:func:`validate_spec7`).
    concurrency, rate_per_s, timeout_s, max_retries, backoff_s, seed, progress
        Download settings (config ``download``); keep the rate low on a shared server.

    Returns
    -------
    pandas.DataFrame
        One row per node (:data:`GRID_MANIFEST_COLUMNS`); a model the server lacks is
        ``failed`` with ``http_404``.
    """
    if not base_url:
        raise ValueError("the BT-Settl Lyon source needs the config key live.btsettl.lyon_url")
    nodes = _grid_tasks(nodes)
    dest = Path(dest_dir)
    names = [btsettl_filename(*n, compressed=compressed) for n in nodes]
    urls = [f"{base_url.rstrip('/')}/{name}" for name in names]
    tasks = [Download(name, dest / name, _getter(url, timeout_s))
             for name, url in zip(names, urls, strict=True)]

    def validate(body: bytes) -> Spec7Info:
        return validate_spec7(body, min_rows, required_range_a)

    outcomes = download_all(tasks, validate, concurrency=concurrency, rate_per_s=rate_per_s,
                            policy=RetryPolicy(max_retries=max_retries, backoff_s=backoff_s),
                            seed=seed, progress=progress, desc="BT-Settl (Lyon)")
    return _manifest(nodes, urls, outcomes)


def _getter(url: str, timeout_s: float):
    def fetch() -> bytes:
        return http_get(url, timeout=timeout_s)

    return fetch


def fetch_btsettl_svo(nodes: Sequence[Sequence[float]], dest_dir: str | os.PathLike, *,
                      base_url: str, model: str = "bt-settl-cifist", min_rows: int = 100,
                      concurrency: int = 2, rate_per_s: float | None = 1.0,
                      timeout_s: float = 120.0, max_retries: int = 8, backoff_s: float = 1.0,
                      seed: int = 0, progress: bool = False) -> pd.DataFrame:
    """Download models from the SVO theoretical-spectra service, one per node.

    Each node is an SSAP query (:func:`svo_query_url`) whose answer names the spectrum
    (:func:`svo_spectrum_url`), fetched as ``format=ascii`` and cached as
    ``<dest_dir>/<Lyon name without .spec.7>.svo.txt`` (two columns, linear flux).
    One attempt (query then spectrum) takes one rate-limit token; a failure of either
    retries both.

    Returns
    -------
    pandas.DataFrame
        One row per node (:data:`GRID_MANIFEST_COLUMNS`; ``url`` is the SSAP query).
    """
    if not base_url:
        raise ValueError("the BT-Settl SVO source needs the config key live.btsettl.svo_url")
    nodes = _grid_tasks(nodes)
    dest = Path(dest_dir)
    queries = [svo_query_url(base_url, model, t, g, m) for t, g, m, _ in nodes]

    def fetcher(query: str):
        def fetch() -> bytes:
            spectrum = svo_spectrum_url(http_get(query, timeout=timeout_s), query)
            return http_get(spectrum, timeout=timeout_s)

        return fetch

    tasks = []
    for node, query in zip(nodes, queries, strict=True):
        stem = btsettl_filename(*node).removesuffix(".BT-Settl.spec.7")
        tasks.append(Download(stem, dest / f"{stem}.svo.txt", fetcher(query)))
    outcomes = download_all(tasks, lambda body: validate_svo_ascii(body, min_rows),
                            concurrency=concurrency, rate_per_s=rate_per_s,
                            policy=RetryPolicy(max_retries=max_retries, backoff_s=backoff_s),
                            seed=seed, progress=progress, desc="BT-Settl (SVO)")
    return _manifest(nodes, queries, outcomes)
