"""Pan-STARRS1 grizy stack cutouts (live): ``ps1filenames.py`` then ``fitscut.cgi``.

For each object the PS1 image service is asked which stack images cover it
(``<filenames_url>?ra=&dec=&filters=grizy``: a whitespace-separated table with a header
line naming at least ``filter`` and ``filename``), then each listed band is cut
(``<fitscut_url>?ra=&dec=&size=&format=fits&red=<filename>``: one FITS per band, a 2-D
primary image of linear flux in counts whose AB zero point is ``FPA.ZP`` =
``25 + 2.5 log10(EXPTIME)``). The service lists the bands in its own order (the
reference code stacked them as y, z, i, r, g by accident): nothing here relies on the
listing or file order; :func:`read_ps1_cutouts` takes each file's band from its header
(``FPA.FILTER`` / ``HIERARCH FPA.FILTER`` / ``FILTER``, e.g. ``'g.00000'``) and returns
g, r, i, z, y.

Files go to ``<dest>/<object_id>/listing.txt`` and ``<dest>/<object_id>/<band>.fits``
through :func:`galstar.archives.bulk.download_all` (retries with backoff, rate limit,
validation before anything is written, atomic writes, a valid cached file is not fetched
again: a killed run resumes). ``<dest>/source.json`` records the request (URLs, size);
a cache made for another request is removed first, never served. An object whose
listing lacks a band is a ``missing_band: <bands>`` reject, not an error.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from galstar.archives.bulk import Download, download_all
from galstar.archives.http import RetryPolicy, http_get
from galstar.archives.validate import Rejected, _check_complete, _check_magic, sniff_html
from galstar.io import atomic_path

__all__ = ["PS1_BANDS", "PS1_PIXSCALE", "FILENAMES_URL", "FITSCUT_URL", "MANIFEST_COLUMNS",
           "COMMON_ZERO_POINT", "NO_STACK", "parse_listing", "listing_bands", "band_of_header",
           "validate_ps1_cutout", "read_ps1_cutouts", "manifest_paths",
           "fetch_ps1_cutouts", "acquire_ps1"]

log = logging.getLogger(__name__)

PS1_BANDS = "grizy"
#: Stack pixel scale [arcsec/pixel] (fitscut cuts at the native scale).
PS1_PIXSCALE = 0.25
FILENAMES_URL = "https://ps1images.stsci.edu/cgi-bin/ps1filenames.py"
FITSCUT_URL = "https://ps1images.stsci.edu/cgi-bin/fitscut.cgi"
#: AB zero point :func:`read_ps1_cutouts` scales to: 22.5 makes the unit nanomaggies.
COMMON_ZERO_POINT = 22.5
#: One row per object: ``listed`` is the service's band order; ``path`` and ``sha256``
#: are ``;``-joined in that order (every listed band, when ok).
MANIFEST_COLUMNS = ["object_id", "ra", "dec", "listed", "path", "status", "reject_reason",
                    "sha256", "attempts"]
_FILTER_KEYS = ("FPA.FILTER", "HIERARCH FPA.FILTER", "FILTER")
#: The reject of an object whose listing is empty (no band at all).
NO_STACK = "no_stack: ps1filenames.py lists no stack image at this position"


def parse_listing(body: bytes) -> list[tuple[str, str]]:
    """``(band, filename)`` rows of a ``ps1filenames.py`` answer, in the service's order.

    Raises
    ------
    Rejected
        ``html_page`` or ``bad_listing`` (a header without ``filter``/``filename``, a
        row with the wrong number of fields, no final newline: a cut body), retried.
    """
    if sniff_html(body[:512]):
        raise Rejected("html_page")
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise Rejected("bad_listing: not ASCII text") from None
    if not text.endswith("\n"):
        raise Rejected("bad_listing: no final newline (cut short)")
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    if not lines or "filter" not in lines[0] or "filename" not in lines[0]:
        raise Rejected(f"bad_listing: header {text[:80]!r} lacks filter/filename")
    head = lines[0]
    f, n = head.index("filter"), head.index("filename")
    rows = []
    for fields in lines[1:]:
        if len(fields) != len(head):
            raise Rejected(f"bad_listing: {len(fields)} fields, header has {len(head)}")
        band = fields[f].strip()[:1]
        if band not in PS1_BANDS:
            raise Rejected(f"bad_listing: unknown filter {fields[f]!r}", permanent=True)
        rows.append((band, fields[n]))
    return rows


def listing_bands(rows: Sequence[tuple[str, str]]) -> str:
    """The listed bands in listing order (``'yzirg'``)."""
    return "".join(b for b, _ in rows)


def band_of_header(header: fits.Header) -> str:
    """The PS1 band letter of a cutout's header (``FPA.FILTER`` = ``'g.00000'`` -> ``g``).

    Raises
    ------
    ValueError
        When no filter keyword names a PS1 band.
    """
    for key in _FILTER_KEYS:
        if key in header:
            band = str(header[key]).strip()[:1].lower()
            if band in PS1_BANDS:
                return band
            raise ValueError(f"filter keyword {key} = {header[key]!r} is not a PS1 band")
    raise ValueError("no FPA.FILTER / FILTER keyword in the header")


def _zero_point(header: fits.Header) -> float:
    for key in ("FPA.ZP", "HIERARCH FPA.ZP"):
        if key in header:
            return float(header[key])
    if "EXPTIME" in header and float(header["EXPTIME"]) > 0:
        return 25.0 + 2.5 * np.log10(float(header["EXPTIME"]))
    raise ValueError("neither FPA.ZP nor a positive EXPTIME in the header")


def _linear(data: np.ndarray, header: fits.Header) -> np.ndarray:
    """Undo the asinh compression of PS1 stack pixels when ``BSOFTEN``/``BOFFSET`` say
    it is there (``flux = BOFFSET + BSOFTEN * 2 sinh(x ln(10) / 2.5)``)."""
    if "BSOFTEN" in header and "BOFFSET" in header:
        a = np.log(10.0) / 2.5
        return float(header["BOFFSET"]) + float(header["BSOFTEN"]) * 2.0 * np.sinh(a * data)
    return data


def validate_ps1_cutout(body: bytes, size: int) -> str:
    """Check one fitscut answer; return its band.

    Raises
    ------
    Rejected
        ``html_page``, ``not_fits``, ``truncated`` (retried); ``bad_shape``, ``no_filter``
        (permanent).
    """
    import io

    _check_magic(body[:2880])
    buffer = io.BytesIO(body)
    _check_complete(buffer, len(body), 1)
    try:
        with fits.open(buffer) as hdul:
            data, header = hdul[0].data, hdul[0].header
            if data is None or data.shape != (int(size), int(size)):
                raise Rejected(f"bad_shape: {None if data is None else data.shape}, "
                               f"expected ({size}, {size})", permanent=True)
            try:
                return band_of_header(header)
            except ValueError as err:
                raise Rejected(f"no_filter: {err}", permanent=True) from None
    except Rejected:
        raise
    except (OSError, ValueError, TypeError) as err:
        raise Rejected(f"not_fits: {err}") from None


def read_ps1_cutouts(paths: Sequence[str | os.PathLike],
                     zero_point: float = COMMON_ZERO_POINT) -> np.ndarray:
    """Stack one fitscut FITS per band into (5, H, W) float32, bands g, r, i, z, y.

    Parameters
    ----------
    paths : sequence of path
        The band files of one object, in any order; each file's band is read from its
        header (``FPA.FILTER``, ``HIERARCH FPA.FILTER`` or ``FILTER``), never from the
        file name or position.
    zero_point : float
        Common AB zero point of the output: each band is scaled by
        ``10 ** (-0.4 * (ZP_file - zero_point))`` with ``ZP_file`` = ``FPA.ZP`` (or
        ``25 + 2.5 log10(EXPTIME)``); the default 22.5 gives nanomaggies.

    Raises
    ------
    ValueError
        Naming the missing band(s), a band given twice, a file without a filter or
        zero point, or planes of different shapes.
    """
    planes: dict[str, np.ndarray] = {}
    for path in paths:
        with fits.open(path, memmap=False) as hdul:
            data, header = hdul[0].data, hdul[0].header
            try:
                band = band_of_header(header)
                zp = _zero_point(header)
            except ValueError as err:
                raise ValueError(f"{path}: {err}") from None
            if data is None or data.ndim != 2:
                raise ValueError(f"{path}: primary HDU is not a 2-D image")
            if band in planes:
                raise ValueError(f"{path}: band {band} given twice")
            flux = _linear(np.asarray(data, dtype=np.float64), header)
            planes[band] = (flux * 10.0 ** (-0.4 * (zp - zero_point))).astype(np.float32)
    missing = [b for b in PS1_BANDS if b not in planes]
    if missing:
        raise ValueError(f"missing PS1 band(s) {', '.join(missing)} among "
                         f"{[str(p) for p in paths]}")
    shapes = {planes[b].shape for b in PS1_BANDS}
    if len(shapes) != 1:
        raise ValueError(f"PS1 bands of {[str(p) for p in paths]} differ in shape: {shapes}")
    return np.stack([planes[b] for b in PS1_BANDS])


def manifest_paths(row) -> list[str]:
    """The band files of one ok manifest row (``path`` split on ``;``)."""
    return [p for p in str(row).split(";") if p]


def _validate_listing(body: bytes) -> None:
    parse_listing(body)


def _check_source(dest: Path, key: dict) -> None:
    """Empty ``dest`` when it caches another request than ``key``; then record ``key``."""
    marker = dest / "source.json"
    if marker.is_file():
        try:
            same = json.loads(marker.read_text()) == key
        except ValueError:
            same = False
        if not same:
            log.warning("%s: cached PS1 cutouts are from another request; removed", dest)
            for child in dest.iterdir():
                if child.is_dir():
                    shutil.rmtree(child)
                elif child != marker:
                    child.unlink()
    dest.mkdir(parents=True, exist_ok=True)
    with atomic_path(marker) as tmp:
        tmp.write_text(json.dumps(key, sort_keys=True) + "\n")


def fetch_ps1_cutouts(targets: pd.DataFrame, dest_dir: str | os.PathLike, *,
                      filenames_url: str = FILENAMES_URL, fitscut_url: str = FITSCUT_URL,
                      size: int = 224, concurrency: int = 4, rate_per_s: float | None = 4.0,
                      timeout_s: float = 60.0, max_retries: int = 8, backoff_s: float = 1.0,
                      seed: int = 0) -> pd.DataFrame:
    """grizy cutouts of ``targets`` (``object_id``, ``ra``, ``dec``), resumable.

    Returns
    -------
    pandas.DataFrame
        One row per target (:data:`MANIFEST_COLUMNS`). ``failed`` rows say why:
        ``listing:<reason>``, ``no_stack`` (an empty listing: outside the footprint),
        ``missing_band: <bands> (listed <bands>)`` or
        ``fitscut:<reason> (band <b>)``.
    """
    if not filenames_url or not fitscut_url:
        raise ValueError("archive 'live' needs live.panstarrs.filenames_url and fitscut_url")
    dest = Path(dest_dir)
    _check_source(dest, {"filenames_url": filenames_url, "fitscut_url": fitscut_url,
                         "size": int(size), "bands": PS1_BANDS})
    policy = RetryPolicy(max_retries=int(max_retries), backoff_s=float(backoff_s))
    common = dict(concurrency=concurrency, rate_per_s=rate_per_s, policy=policy, seed=seed,
                  progress=False)
    objs = [int(o) for o in targets["object_id"]]
    ras = [float(r) for r in targets["ra"]]
    decs = [float(d) for d in targets["dec"]]
    listings = download_all(
        [Download(o, dest / str(o) / "listing.txt",
                  partial(http_get, filenames_url,
                          {"ra": f"{r:.7f}", "dec": f"{d:.7f}", "filters": PS1_BANDS},
                          timeout_s))
         for o, r, d in zip(objs, ras, decs, strict=True)],
        _validate_listing, desc="PS1 listings", **common)
    rows, tasks = [], []
    for o, r, d, got in zip(objs, ras, decs, listings, strict=True):
        row = {"object_id": o, "ra": r, "dec": d, "listed": "", "path": "",
               "status": "failed", "reject_reason": "", "sha256": "",
               "attempts": got.attempts}
        rows.append(row)
        if got.status != "ok":
            row["reject_reason"] = f"listing:{got.reject_reason}"
            continue
        listed = parse_listing(Path(got.path).read_bytes())
        row["listed"] = listing_bands(listed)
        missing = [b for b in PS1_BANDS if b not in row["listed"]]
        if not row["listed"]:  # outside the 3pi footprint
            row["reject_reason"] = NO_STACK
            continue
        if missing:
            row["reject_reason"] = (f"missing_band: {','.join(missing)} "
                                    f"(listed {row['listed'] or 'none'})")
            continue
        for band, filename in listed:
            params = {"ra": f"{r:.7f}", "dec": f"{d:.7f}", "size": int(size),
                      "format": "fits", "red": filename}
            tasks.append((row, band, Download(f"{o}:{band}", dest / str(o) / f"{band}.fits",
                                              partial(http_get, fitscut_url, params,
                                                      timeout_s))))
    got_bands = download_all([t for _, _, t in tasks],
                             partial(validate_ps1_cutout, size=int(size)),
                             desc="PS1 fitscut", **common)
    per_row: dict[int, list] = {}
    for (row, band, _), outcome in zip(tasks, got_bands, strict=True):
        per_row.setdefault(id(row), []).append((band, outcome))
    for row in rows:
        outcomes = per_row.get(id(row))
        if outcomes is None:
            continue
        row["attempts"] += sum(o.attempts for _, o in outcomes)
        bad = [(b, o.reject_reason) for b, o in outcomes if o.status != "ok"]
        if bad:
            row["reject_reason"] = f"fitscut:{bad[0][1]} (band {bad[0][0]})"
            continue
        row.update(status="ok", path=";".join(o.path for _, o in outcomes),
                   sha256=";".join(o.sha256 for _, o in outcomes))
    out = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    out["object_id"] = out["object_id"].astype(np.int64)
    out["attempts"] = out["attempts"].astype(np.int32)
    return out


def acquire_ps1(catalog_path: str | os.PathLike, out_path: str | os.PathLike, fetch,
                dest_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """Fetch the grizy cutouts of every object of a catalogue shard (at its MPA-JHU
    position) and write the manifest (one row per object, catalogue order).

    Parameters
    ----------
    catalog_path, out_path : path
        ``results/galaxies/catalog/shards/{shard}.parquet``; the manifest
        (:data:`MANIFEST_COLUMNS`, Parquet, atomic).
    fetch : callable
        ``fetch(targets, dest_dir) -> manifest`` (:func:`galstar.mock.sources.ps1_fetcher`).
    dest_dir : path, optional
        Cache (default ``cache/{shard}/`` beside the manifest).
    """
    from galstar.io import read_parquet, write_parquet

    cat = read_parquet(catalog_path)
    need = ["object_id", "specObjID", "ra", "dec"]
    missing = [c for c in need if c not in cat.columns]
    if missing:
        raise KeyError(f"{catalog_path}: catalogue shard lacks column(s) {missing}")
    targets = cat[need].reset_index(drop=True)
    out_path = Path(out_path)
    dest = out_path.parent / "cache" / out_path.stem if dest_dir is None else Path(dest_dir)
    manifest = fetch(targets, dest).reset_index(drop=True)
    if len(manifest) != len(targets) or not np.array_equal(
            manifest["object_id"].to_numpy(np.int64), targets["object_id"].to_numpy(np.int64)):
        raise RuntimeError(f"{catalog_path}: the PS1 manifest does not list the shard's "
                           "objects in order")
    write_parquet(manifest, out_path)
    failed = manifest[manifest["status"] != "ok"]
    log.info("PS1 cutouts %s: %d of %d ok; failed by reason: %s", out_path,
             len(manifest) - len(failed), len(manifest),
             failed["reject_reason"].str.split(":").str[0].value_counts().to_dict())
    return manifest
