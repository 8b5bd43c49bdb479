"""SDSS ugriz cutouts cut from calibrated frames (live).

For each object a locator names the imaging field holding it (run, camcol, field,
rerun: :func:`astroquery_locator` asks SkyServer through ``astroquery.sdss``); the
frames of every needed field and band are downloaded once from the SAS
(``<base>/sas/<release>/eboss/photoObj/frames/<rerun>/<run>/<camcol>/
frame-<band>-<run:06d>-<camcol>-<field:04d>.fits.bz2``: HDU 0 is the sky-subtracted,
calibrated image in nanomaggies with its WCS), streamed, resumable and validated; then
each band is cut around the object with ``astropy.nddata.Cutout2D`` and resampled with
``reproject.reproject_interp`` onto one common 64 x 64 TAN grid at 0.396 arcsec/pixel
(north up, east left), flux per pixel scaled by the pixel-area ratio.

Output: ``<dest>/cutouts/<object_id>.fits``, one primary HDU of float32
(5, size, size) nanomaggies in band order u, g, r, i, z with ``BANDS``, ``BAND0..4``
and the TAN WCS: the Legacy Survey cutout layout (:mod:`galstar.archives.validate`
checks it). Objects whose cut leaves the frame are rejected (``frame_edge``).
"""

from __future__ import annotations

import bz2
import io
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from astropy.io import fits

from galstar.archives.http import RetryPolicy, TokenBucket, download_file
from galstar.archives.validate import Rejected, _check_complete, _check_magic, validate_cutout
from galstar.io import atomic_path

__all__ = ["SDSS_BANDS", "SDSS_PIXSCALE", "Field", "frame_url", "validate_frame",
           "cut_and_resample", "astroquery_locator", "fetch_sdss_images",
           "MANIFEST_COLUMNS"]

SDSS_BANDS = "ugriz"
SDSS_PIXSCALE = 0.396
MANIFEST_COLUMNS = ["object_id", "ra", "dec", "path", "status", "reject_reason",
                    "n_frames"]


@dataclass(frozen=True)
class Field:
    """An SDSS imaging field."""

    run: int
    camcol: int
    field: int
    rerun: int = 301


def frame_url(base_url: str, f: Field, band: str, release: str = "dr17") -> str:
    """Address of a calibrated frame on a SAS mirror.

    >>> frame_url("https://data.sdss.org", Field(756, 3, 200), "r")
    'https://data.sdss.org/sas/dr17/eboss/photoObj/frames/301/756/3/frame-r-000756-3-0200.fits.bz2'
    """
    return (f"{base_url.rstrip('/')}/sas/{release}/eboss/photoObj/frames/{f.rerun}/{f.run}/"
            f"{f.camcol}/frame-{band}-{f.run:06d}-{f.camcol}-{f.field:04d}.fits.bz2")


def _open_frame(path: Path) -> fits.HDUList:
    raw = path.read_bytes()
    if raw[:3] == b"BZh":
        try:
            raw = bz2.decompress(raw)
        except (OSError, ValueError, EOFError) as err:
            raise Rejected(f"truncated: bz2 stream ({err})") from None
    _check_magic(raw[:2880])
    buffer = io.BytesIO(raw)
    _check_complete(buffer, len(raw), 1)
    return fits.open(buffer)


def validate_frame(path: str | os.PathLike) -> tuple[int, int]:
    """Validate a downloaded frame (bz2 or plain FITS); return the image shape.

    Raises
    ------
    Rejected
        ``html_page``, ``not_fits``, ``truncated`` (retried); ``bad_shape`` or
        ``no_wcs`` (permanent).
    """
    from astropy.wcs import WCS

    try:
        with _open_frame(Path(path)) as hdul:
            data, header = hdul[0].data, hdul[0].header
            if data is None or data.ndim != 2:
                raise Rejected(f"bad_shape: HDU 0 is {None if data is None else data.shape}",
                               permanent=True)
            if not WCS(header).has_celestial:
                raise Rejected("no_wcs: HDU 0 has no celestial WCS", permanent=True)
            return tuple(int(n) for n in data.shape)
    except Rejected:
        raise
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise Rejected(f"not_fits: {err}") from None


def _target_header(ra: float, dec: float, size: int, pixscale: float) -> fits.Header:
    crpix = (size + 1) / 2.0
    header = fits.Header()
    for key, value in (("NAXIS", 2), ("NAXIS1", size), ("NAXIS2", size),
                       ("CTYPE1", "RA---TAN"), ("CTYPE2", "DEC--TAN"), ("CRVAL1", float(ra)),
                       ("CRVAL2", float(dec)), ("CRPIX1", crpix), ("CRPIX2", crpix),
                       ("CUNIT1", "deg"), ("CUNIT2", "deg"),
                       ("CD1_1", -pixscale / 3600.0), ("CD1_2", 0.0), ("CD2_1", 0.0),
                       ("CD2_2", pixscale / 3600.0)):
        header[key] = value
    return header


def cut_and_resample(frames: dict[str, tuple[np.ndarray, fits.Header]], ra: float,
                     dec: float, size: int = 64, pixscale: float = SDSS_PIXSCALE,
                     bands: str = SDSS_BANDS) -> tuple[np.ndarray, fits.Header]:
    """Cut each band's frame around (ra, dec) and resample onto one grid.

    Parameters
    ----------
    frames : dict
        Band -> (image [nmgy/pixel], header with its WCS).
    ra, dec : float
        Centre [deg].
    size : int
        Output side [pixels].
    pixscale : float
        Output pixel scale [arcsec/pixel].
    bands : str
        Output band order.

    Returns
    -------
    cube : (nband, size, size) float32
        Nanomaggies per output pixel.
    header : astropy.io.fits.Header
        TAN WCS (2-d, shared by the planes) and ``BANDS``, ``BAND0..``.

    Raises
    ------
    Rejected
        ``frame_edge`` (permanent) when a band's cut is not covered by its frame.
    """
    from astropy.coordinates import SkyCoord
    from astropy.nddata import Cutout2D
    from astropy.wcs import WCS
    from astropy.wcs.utils import proj_plane_pixel_scales
    from reproject import reproject_interp

    target = _target_header(ra, dec, size, pixscale)
    target_wcs = WCS(target)
    position = SkyCoord(ra, dec, unit="deg")
    cube = np.empty((len(bands), size, size), dtype=np.float32)
    for k, band in enumerate(bands):
        data, header = frames[band]
        wcs = WCS(header).celestial
        native = float(np.mean(proj_plane_pixel_scales(wcs))) * 3600.0
        margin = int(np.ceil(size * pixscale / native)) + 6  # room for rotation
        try:
            cut = Cutout2D(np.asarray(data, dtype=np.float64), position, (margin, margin),
                           wcs=wcs, mode="partial", fill_value=np.nan)
        except Exception as err:  # astropy's NoOverlapError and friends
            raise Rejected(f"frame_edge: band {band} ({type(err).__name__})",
                           permanent=True) from None
        out, footprint = reproject_interp((cut.data, cut.wcs), target_wcs, shape_out=(size, size))
        if not np.all(footprint > 0) or not np.all(np.isfinite(out)):
            raise Rejected(f"frame_edge: band {band} cut leaves its frame", permanent=True)
        cube[k] = out * (pixscale / native) ** 2
    header = target.copy()
    for key in ("NAXIS", "NAXIS1", "NAXIS2"):
        del header[key]
    header["BANDS"] = bands
    for k, band in enumerate(bands):
        header[f"BAND{k}"] = band
    header["BUNIT"] = "nanomaggy"
    return cube, header


def astroquery_locator(data_release: int = 17) -> Callable[[float, float], Field | None]:
    """A locator asking SkyServer (``astroquery.sdss.SDSS.query_region``) for the field
    of the nearest primary photometric object within 2 arcsec (None when there is none).
    Needs the network; the tests use a locator of the mock."""
    def locate(ra: float, dec: float) -> Field | None:
        from astropy import units as u
        from astropy.coordinates import SkyCoord
        from astroquery.sdss import SDSS

        found = SDSS.query_region(SkyCoord(ra, dec, unit="deg"), radius=2 * u.arcsec,
                                  data_release=data_release,
                                  photoobj_fields=["run", "rerun", "camcol", "field"])
        if found is None or len(found) == 0:
            return None
        row = found[0]
        return Field(int(row["run"]), int(row["camcol"]), int(row["field"]), int(row["rerun"]))
    return locate


def fetch_sdss_images(targets: pd.DataFrame, dest_dir: str | os.PathLike, *, base_url: str,
                      locate: Callable[[float, float], Field | None], size: int = 64,
                      pixscale: float = SDSS_PIXSCALE, bands: str = SDSS_BANDS,
                      release: str = "dr17", concurrency: int = 4,
                      rate_per_s: float | None = 4.0, timeout_s: float = 120.0,
                      max_retries: int = 8, backoff_s: float = 1.0,
                      seed: int = 0) -> pd.DataFrame:
    """ugriz cutouts of ``targets`` (``object_id``, ``ra``, ``dec``), resumable.

    Frames go to ``<dest_dir>/frames/<run>/<camcol>/`` (each downloaded once, however
    many objects it holds), cutouts to ``<dest_dir>/cutouts/<object_id>.fits``
    (atomically; a valid cutout already there is kept and its frames not fetched).

    Returns
    -------
    pandas.DataFrame
        One row per target (:data:`MANIFEST_COLUMNS`); ``failed`` rows say why
        (``no_field``, ``frame:<reason>``, ``frame_edge: ...``).
    """
    if not base_url:
        raise ValueError("archive 'live' needs the config key live.sdss_sas.url")
    dest = Path(dest_dir)
    out_paths = [dest / "cutouts" / f"{int(o)}.fits" for o in targets["object_id"]]
    done = []
    for path in out_paths:
        try:
            validate_cutout(path.read_bytes(), size, bands) if path.is_file() else None
            done.append(path.is_file())
        except Rejected:
            done.append(False)
    fields: list[Field | None] = [None if d else locate(float(r), float(c))
                                  for d, r, c in zip(done, targets["ra"], targets["dec"],
                                                     strict=True)]
    wanted = sorted({(f, b) for f in fields if f is not None for b in bands},
                    key=lambda x: (x[0].run, x[0].camcol, x[0].field, x[1]))
    policy = RetryPolicy(max_retries=int(max_retries), backoff_s=float(backoff_s))
    bucket = TokenBucket(rate_per_s, burst=max(1, concurrency))

    def frame_path(f: Field, band: str) -> Path:
        return (dest / "frames" / str(f.run) / str(f.camcol)
                / f"frame-{band}-{f.run:06d}-{f.camcol}-{f.field:04d}.fits.bz2")

    def one(item):
        f, band = item
        return download_file(frame_url(base_url, f, band, release), frame_path(f, band),
                             validate_frame, timeout=timeout_s, policy=policy, bucket=bucket,
                             seed=seed)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        frame_outcome = dict(zip(wanted, pool.map(one, wanted), strict=True))
    rows = []
    for i, (obj, ra, dec) in enumerate(zip(targets["object_id"], targets["ra"], targets["dec"],
                                           strict=True)):
        row = {"object_id": int(obj), "ra": float(ra), "dec": float(dec), "path": "",
               "status": "failed", "reject_reason": "", "n_frames": 0}
        if done[i]:
            row.update(path=str(out_paths[i]), status="ok")
            rows.append(row)
            continue
        f = fields[i]
        if f is None:
            row["reject_reason"] = "no_field: no SDSS photometric object within 2 arcsec"
            rows.append(row)
            continue
        bad = [(b, frame_outcome[(f, b)].reject_reason) for b in bands
               if frame_outcome[(f, b)].status != "ok"]
        if bad:
            row["reject_reason"] = f"frame:{bad[0][1]} (band {bad[0][0]})"
            rows.append(row)
            continue
        frames = {}
        for b in bands:
            with _open_frame(frame_path(f, b)) as hdul:
                frames[b] = (np.array(hdul[0].data), hdul[0].header.copy())
        try:
            cube, header = cut_and_resample(frames, float(ra), float(dec), size, pixscale,
                                            bands)
        except Rejected as err:
            row["reject_reason"] = err.reason
            rows.append(row)
            continue
        with atomic_path(out_paths[i]) as tmp:
            fits.PrimaryHDU(data=cube, header=header).writeto(tmp, overwrite=True)
        row.update(path=str(out_paths[i]), status="ok", n_frames=len(bands))
        rows.append(row)
    return pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
