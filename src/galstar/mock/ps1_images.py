"""The mock's Pan-STARRS1 grizy cutouts, written as ``fitscut.cgi`` returns them, with the
``ps1filenames.py`` listing of each, and the mock branch of their acquisition.

:class:`MockPs1Service` renders the mock universe in g, r, i, z, y at 0.25 arcsec/pixel
with the GalSim renderer of the Legacy Survey and SDSS mocks (:mod:`galstar.mock.cutouts`)
and the PS1 fluxes, cell PSFs, exposure times and depths of
:mod:`galstar.simulate.ps1_imaging`. :func:`build_ps1_images` writes, for the first
``n_images`` galaxy rows of ``galSpec.fits`` (``specObjID`` order, as the SDSS mocks):

- ``ps1/<specObjID>/<stack file name>``: one FITS per listed band, primary HDU float32
  (size, size) of linear counts (the AB zero point is ``FPA.ZP`` = 25 + 2.5
  log10(EXPTIME)), TAN WCS centred on the object, ``HIERARCH FPA.FILTER = 'g.00000'``,
  ``EXPTIME``, ``HIERARCH FPA.ZP``, ``PSFFWHM`` [arcsec];
- ``ps1/index.parquet``: ``specObjID, ra, dec, listing`` (the ``ps1filenames.py`` text:
  bands in a random order per object, as the real service's order is not g..y; a
  ``missing_band_fraction`` of objects lack one band, listed and rendered nowhere);
- ``ps1/manifest.json`` last (the completion marker).

:func:`mock_fetch_ps1` copies them into the live client's cache layout
(:func:`galstar.archives.panstarrs.fetch_ps1_cutouts`) with its manifest columns, so
everything downstream is identical for ``archive: mock`` and ``archive: live``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from galstar.archives.panstarrs import (
    MANIFEST_COLUMNS,
    NO_STACK,
    PS1_BANDS,
    PS1_PIXSCALE,
    listing_bands,
    parse_listing,
    validate_ps1_cutout,
)
from galstar.archives.validate import Rejected
from galstar.io import atomic_path, read_parquet, write_parquet
from galstar.mock.cutouts import MockCutoutService
from galstar.mock.skyserver import MOCK_GALSPEC, read_mock_mpajhu
from galstar.options import check_option_names
from galstar.simulate.ps1_imaging import (
    grizy_fluxes,
    ps1_cell,
    ps1_exptime,
    ps1_pixel_sigma,
    ps1_psf_fwhm,
    zero_point,
)
from galstar.simulate.render import render_scene

__all__ = ["PS1_DIR", "Ps1MockSettings", "MockPs1Service", "stack_filename",
           "listing_text", "build_ps1_images", "mock_fetch_ps1"]

#: Where the mock keeps its PS1 cutouts, relative to its root.
PS1_DIR = Path("ps1")
_LISTING_HEAD = "projcell subcell ra dec filter mjd type filename shortname badflag"


@dataclass(frozen=True)
class Ps1MockSettings:
    """What shapes the mock PS1 cutouts (config ``mock.panstarrs``; the cutout size is
    ``spectra_from_images.data.panstarrs.size``).

    Attributes
    ----------
    n_images : int or None
        Objects rendered: the first this many galaxy rows of ``galSpec.fits`` in
        ``specObjID`` order (a random sample: plates are filled in random order); None:
        every galaxy row. Others are ``not_in_archive``. ~20 ms an object at 64 px.
    size : int
        Cutout side [pixels] (224 as the paper; fewer in the demo).
    missing_band_fraction : float
        Objects whose listing lacks one band (a random one): the reject the live
        service gives at survey edges and masked stacks.
    psf_fwhm_scale : float
        Multiplies every cell's PSF FWHM (3pi stack medians g 1.31 ... y 1.02 arcsec),
        before the 0.9-1.6 arcsec clip.
    depth_offset_mag : float
        Added to the 5-sigma depths (g 23.3 ... y 21.4 mag): +1 mag is 2.5 x less sky
        noise per pixel.
    """

    n_images: int | None = None
    size: int = 224
    missing_band_fraction: float = 0.02
    psf_fwhm_scale: float = 1.0
    depth_offset_mag: float = 0.0

    def __post_init__(self):
        if self.n_images is not None and int(self.n_images) < 0:
            raise ValueError(f"mock.panstarrs.n_images must be >= 0, got {self.n_images}")
        if not 8 <= int(self.size) <= 1024:
            raise ValueError(f"PS1 cutout size must be in [8, 1024], got {self.size}")
        if not 0.3 <= float(self.psf_fwhm_scale) <= 3.0:
            raise ValueError("mock.panstarrs.psf_fwhm_scale must be in [0.3, 3], got "
                             f"{self.psf_fwhm_scale}")
        if not 0.0 <= float(self.missing_band_fraction) <= 1.0:
            raise ValueError("mock.panstarrs.missing_band_fraction must be in [0, 1], got "
                             f"{self.missing_band_fraction}")

    @classmethod
    def from_options(cls, **opts: Any) -> Ps1MockSettings:
        """Build from keyword options; an unknown name raises naming it."""
        check_option_names(opts, cls, "mock.panstarrs")
        return cls(**opts)


def stack_filename(ra: float, dec: float, band: str) -> str:
    """The ``filename`` column of a listing: a stack skycell file of the cell holding
    (ra, dec), e.g. ``/rings.v3.skycell/1234/056/rings.v3.skycell.1234.056.stk.g.unconv.fits``."""
    cra, cdec = ps1_cell(ra, dec)
    proj, sub = 635 + cdec * 10 + cra // 100, cra % 100
    name = f"rings.v3.skycell.{proj:04d}.{sub:03d}.stk.{band}.unconv.fits"
    return f"/rings.v3.skycell/{proj:04d}/{sub:03d}/{name}"


def listing_text(ra: float, dec: float, bands: str) -> str:
    """A ``ps1filenames.py`` answer listing ``bands`` in the given order."""
    lines = [_LISTING_HEAD]
    for band in bands:
        path = stack_filename(ra, dec, band)
        proj, sub = path.split("/")[2:4]
        lines.append(f"{proj} {sub} {ra:.6f} {dec:.6f} {band} 0 stack {path} "
                     f"{path.rsplit('/', 1)[1]} 0")
    return "\n".join(lines) + "\n"


class MockPs1Service(MockCutoutService):
    """PS1 grizy cutouts of the mock universe.

    Deterministic in (ra, dec, size, band, seed): the noise of each band is seeded by
    the archive seed, the rounded position, the size and the band.
    """

    def __init__(self, root: str | os.PathLike, psf_fwhm_scale: float = 1.0,
                 depth_offset_mag: float = 0.0):
        super().__init__(root)
        u = self._u
        self._flux = grizy_fluxes(u[["flux_g", "flux_r", "flux_z"]].to_numpy(),
                                  u["ebv"].to_numpy())
        self.sigma = ps1_pixel_sigma() * 10 ** (-0.4 * float(depth_offset_mag))
        self.psf_fwhm_scale = float(psf_fwhm_scale)

    def psf(self, ra: float, dec: float) -> np.ndarray:
        """PSF FWHM [arcsec] g, r, i, z, y of a cutout centred at (ra, dec)."""
        fwhm = ps1_psf_fwhm(ra, dec, self.seed)
        if self.psf_fwhm_scale == 1.0:
            return fwhm
        return np.round(np.clip(fwhm * self.psf_fwhm_scale, 0.9, 1.6), 2)

    def image(self, ra: float, dec: float, size: int = 224, noise: bool = True
              ) -> np.ndarray:
        """(5, size, size) float32 [nmgy] g, r, i, z, y centred on (ra, dec)."""
        if not (np.isfinite(ra) and np.isfinite(dec)) or int(size) < 1:
            raise ValueError(f"bad PS1 cutout request: ra={ra}, dec={dec}, size={size}")
        _, stamps, _ = self._scene(float(ra), float(dec), int(size), PS1_PIXSCALE)
        fwhm = self.psf(ra, dec)
        image = render_scene(stamps, int(size), PS1_PIXSCALE, fwhm, self.sigma,
                             self._settings())
        if noise:
            key = [self.seed, 29, int(round(np.mod(ra, 360.0) * 1e7)),
                   int(round((dec + 90.0) * 1e7)), int(size)]
            for k in range(len(PS1_BANDS)):
                rng = np.random.default_rng([*key, k])
                image[k] += rng.normal(0.0, self.sigma[k], image[k].shape)
        return image.astype(np.float32)

    def band_files(self, ra: float, dec: float, size: int = 224,
                   bands: str = PS1_BANDS) -> dict[str, bytes]:
        """Band -> fitscut FITS bytes (linear counts at ``FPA.ZP``) for ``bands``."""
        cube = self.image(ra, dec, size)
        exptime = ps1_exptime(ra, dec, self.seed)
        fwhm = self.psf(ra, dec)
        out = {}
        for band in bands:
            k = PS1_BANDS.index(band)
            zp = float(zero_point(exptime[k]))
            counts = cube[k] * np.float32(10.0 ** (0.4 * (zp - 22.5)))
            out[band] = _fits_bytes(ra, dec, counts, band, float(exptime[k]), zp,
                                    float(fwhm[k]))
        return out


def _card(key: str, value: Any, comment: str = "") -> str:
    """One 80-character FITS header card (fixed format; HIERARCH for long keys)."""
    if isinstance(value, bool):
        text = f"{'T' if value else 'F':>20}"
    elif isinstance(value, (int, np.integer)):
        text = f"{int(value):>20d}"
    elif isinstance(value, (float, np.floating)):
        v = next(t for t in (f"{float(value):.{p}G}" for p in (16, 15, 14, 13))
                 if len(t) <= 20)
        text = f"{v if ('.' in v or 'E' in v) else v + '.':>20}"
    else:
        text = f"'{str(value).replace(chr(39), chr(39) * 2):<8}'"
    head = f"HIERARCH {key} = " if len(key) > 8 or "." in key else f"{key:<8}= "
    card = head + text + (f" / {comment}" if comment else "")
    if len(card) > 80:
        raise ValueError(f"FITS card too long: {card!r}")
    return f"{card:<80}"


def _fits_bytes(ra: float, dec: float, data: np.ndarray, band: str, exptime: float,
                zp: float, fwhm: float) -> bytes:
    """A fitscut-like float32 primary-HDU FITS file, serialised directly (astropy's
    Header and writeto cost ~3 ms a file; the layout is the same)."""
    size = int(data.shape[0])
    crpix = (size + 1) / 2.0
    cards = [_card("SIMPLE", True), _card("BITPIX", -32), _card("NAXIS", 2),
             _card("NAXIS1", int(data.shape[1])), _card("NAXIS2", size),
             _card("EXTEND", True),
             _card("CTYPE1", "RA---TAN"), _card("CTYPE2", "DEC--TAN"),
             _card("CRVAL1", float(ra)), _card("CRVAL2", float(dec)),
             _card("CRPIX1", crpix), _card("CRPIX2", crpix),
             _card("CUNIT1", "deg"), _card("CUNIT2", "deg"),
             _card("CD1_1", -PS1_PIXSCALE / 3600.0), _card("CD1_2", 0.0),
             _card("CD2_1", 0.0), _card("CD2_2", PS1_PIXSCALE / 3600.0),
             _card("FPA.FILTER", f"{band}.00000"),
             _card("EXPTIME", float(exptime), "stack exposure time [s]"),
             _card("FPA.ZP", round(float(zp), 6), "AB zero point of the counts"),
             _card("PSFFWHM", float(fwhm), "PSF FWHM [arcsec]"),
             f"{'END':<80}"]
    head = "".join(cards)
    head += " " * (-len(head) % 2880)
    raw = np.ascontiguousarray(data, dtype=">f4").tobytes()
    return head.encode("ascii") + raw + b"\0" * (-len(raw) % 2880)


def build_ps1_images(root: str | os.PathLike, **opts: Any) -> dict[str, Any]:
    """Write the PS1 cutouts and listings of the archive's galaxy rows (module docstring).

    Parameters
    ----------
    root : path
        An existing mock archive; read, never changed outside ``ps1/``.
    **opts
        :class:`Ps1MockSettings` fields, validated before anything is written.

    Returns
    -------
    dict
        The manifest written last to ``ps1/manifest.json``. Objects of an earlier run
        that are no longer rendered are removed.
    """
    settings = Ps1MockSettings.from_options(**opts)
    root = Path(root)
    galspec = read_mock_mpajhu(root / MOCK_GALSPEC)
    rows = galspec[galspec["spectrotype"] == "GALAXY"].sort_values("specObjID")
    if settings.n_images is not None:
        rows = rows.iloc[: int(settings.n_images)]
    service = MockPs1Service(root, settings.psf_fwhm_scale, settings.depth_offset_mag)
    index = []
    for row in rows.itertuples():
        spec = int(row.specObjID)
        rng = np.random.default_rng([service.seed, 31, spec])
        order = "".join(rng.permutation(list(PS1_BANDS)))
        if rng.random() < settings.missing_band_fraction:
            drop = order[int(rng.integers(len(order)))]
            order = order.replace(drop, "")
        files = service.band_files(float(row.ra), float(row.dec), settings.size, order)
        folder = root / PS1_DIR / str(spec)
        for band, data in files.items():
            name = stack_filename(float(row.ra), float(row.dec), band).rsplit("/", 1)[1]
            with atomic_path(folder / name) as tmp:
                tmp.write_bytes(data)
        index.append({"specObjID": spec, "ra": float(row.ra), "dec": float(row.dec),
                      "listing": listing_text(float(row.ra), float(row.dec), order)})
    keep = {str(r["specObjID"]) for r in index}
    for stale in (root / PS1_DIR).glob("*"):
        if stale.is_dir() and stale.name not in keep:
            shutil.rmtree(stale)
    frame = pd.DataFrame(index, columns=["specObjID", "ra", "dec", "listing"])
    frame["specObjID"] = frame["specObjID"].astype(np.int64)
    write_parquet(frame, root / PS1_DIR / "index.parquet")
    n_missing = int(sum(len(parse_listing(t.encode())) < 5 for t in frame["listing"]))
    manifest = {"settings": asdict(settings), "n_images": len(frame),
                "n_missing_band": n_missing, "pixscale": PS1_PIXSCALE, "bands": PS1_BANDS,
                "key": "specObjID", "index": str(PS1_DIR / "index.parquet")}
    with atomic_path(root / PS1_DIR / "manifest.json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def read_index(root: str | os.PathLike) -> pd.DataFrame:
    """The mock's ``ps1/index.parquet`` (raises naming the file when it is not built)."""
    root = Path(root)
    if not (root / PS1_DIR / "manifest.json").is_file():
        raise FileNotFoundError(f"{root / PS1_DIR / 'manifest.json'}: the mock archive "
                                "has no PS1 cutouts (galstar.mock.ps1_images.build_ps1_images)")
    return read_parquet(root / PS1_DIR / "index.parquet")


def mock_fetch_ps1(targets: pd.DataFrame, dest_dir: str | os.PathLike,
                   mock_root: str | os.PathLike, size: int = 224) -> pd.DataFrame:
    """Copy the PS1 cutouts of ``targets`` (``object_id``, ``specObjID``, ``ra``, ``dec``)
    from the mock archive into ``<dest_dir>/<object_id>/{listing.txt, <band>.fits}``.

    Returns
    -------
    pandas.DataFrame
        One row per target with the live client's columns and reasons
        (``missing_band: ...``; an object the mock did not render has an empty
        listing, as where the live service has no stack: ``no_stack``).
    """
    root = Path(mock_root)
    table = read_index(root)
    by_spec = dict(zip(table["specObjID"].astype(np.int64), table["listing"], strict=True))
    dest = Path(dest_dir)
    rows = []
    for obj, spec, ra, dec in zip(targets["object_id"], targets["specObjID"], targets["ra"],
                                  targets["dec"], strict=True):
        row = {"object_id": int(obj), "ra": float(ra), "dec": float(dec), "listed": "",
               "path": "", "status": "failed", "reject_reason": "", "sha256": "",
               "attempts": 0}
        rows.append(row)
        listing = by_spec.get(int(spec))
        if listing is None:
            # what the live service answers where it has no stack: an empty listing
            row["reject_reason"] = NO_STACK
            continue
        folder = dest / str(int(obj))
        _copy_bytes(listing.encode(), folder / "listing.txt")
        listed = parse_listing(listing.encode())
        row["listed"] = listing_bands(listed)
        missing = [b for b in PS1_BANDS if b not in row["listed"]]
        if missing:
            row["reject_reason"] = f"missing_band: {','.join(missing)} (listed {row['listed']})"
            continue
        paths, shas = [], []
        try:
            for band, filename in listed:
                src = root / PS1_DIR / str(int(spec)) / filename.rsplit("/", 1)[1]
                data = src.read_bytes()
                validate_ps1_cutout(data, int(size))
                out = folder / f"{band}.fits"
                _copy_bytes(data, out)
                paths.append(str(out))
                shas.append(hashlib.sha256(data).hexdigest())
        except Rejected as err:
            row["reject_reason"] = f"fitscut:{err.reason}"
            continue
        row.update(status="ok", path=";".join(paths), sha256=";".join(shas))
    out = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    out["object_id"] = out["object_id"].astype(np.int64)
    out["attempts"] = out["attempts"].astype(np.int32)
    return out


def _copy_bytes(data: bytes, dest: Path) -> None:
    if dest.is_file() and dest.read_bytes() == data:
        return
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)
