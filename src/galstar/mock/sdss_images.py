"""The mock's SDSS ugriz imaging: 64 x 64 cutouts as the live client writes them, and
frame-like images for testing that client.

:class:`MockSdssImageService` renders the mock universe in u, g, r, i, z at 0.396
arcsec/pixel with the same GalSim renderer as the Legacy Survey cutouts
(:mod:`galstar.mock.cutouts`), SDSS fluxes, field PSFs and depths from
:mod:`galstar.simulate.sdss_imaging`. :func:`build_sdss_images` writes one cutout per
galaxy row of ``galSpec.fits`` (the first ``n_images``, in the order the spectra are
written) to ``<root>/sdss_images/<specObjID>.fits``, then
``sdss_images/manifest.json`` (the completion marker).

Cutout format (the live client's, :mod:`galstar.archives.sdss_images`): one primary
HDU, float32 (5, size, size) nanomaggies in band order u, g, r, i, z, TAN WCS centred on
the object (``CRPIX = (size + 1) / 2``, ``CD = diag(-pixscale, pixscale)`` in deg),
keywords ``BANDS = 'ugriz'``, ``BAND0..4``, ``PSFFWHM0..4`` [arcsec] and
``BUNIT = 'nanomaggy'``: the Legacy Survey cutout layout, so one reader serves both.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from galstar.io import atomic_path
from galstar.mock.cutouts import MockCutoutService
from galstar.mock.sdss_settings import SdssMockSettings
from galstar.mock.skyserver import MOCK_GALSPEC, read_mock_mpajhu
from galstar.simulate.render import render_scene
from galstar.simulate.sdss_imaging import (
    SDSS_BANDS,
    SDSS_PIXSCALE,
    sdss_pixel_sigma,
    sdss_psf_fwhm,
    ugriz_fluxes,
)

__all__ = ["MockSdssImageService", "SDSS_IMAGE_DIR", "build_sdss_images", "cutout_header"]

#: Where the mock keeps its ugriz cutouts, relative to its root.
SDSS_IMAGE_DIR = Path("sdss_images")


def cutout_header(ra: float, dec: float, size: int, pixscale: float,
                  fwhm: np.ndarray | None = None) -> fits.Header:
    """Header of a ugriz cutout cube (see the module docstring)."""
    crpix = (size + 1) / 2.0
    header = fits.Header()
    for key, value in (("CTYPE1", "RA---TAN"), ("CTYPE2", "DEC--TAN"), ("CRVAL1", float(ra)),
                       ("CRVAL2", float(dec)), ("CRPIX1", crpix), ("CRPIX2", crpix),
                       ("CUNIT1", "deg"), ("CUNIT2", "deg"),
                       ("CD1_1", -pixscale / 3600.0), ("CD1_2", 0.0), ("CD2_1", 0.0),
                       ("CD2_2", pixscale / 3600.0), ("BANDS", SDSS_BANDS)):
        header[key] = value
    for k, b in enumerate(SDSS_BANDS):
        header[f"BAND{k}"] = b
        if fwhm is not None:
            header[f"PSFFWHM{k}"] = (round(float(fwhm[k]), 4), f"{b} PSF FWHM [arcsec]")
    header["BUNIT"] = "nanomaggy"
    return header


class MockSdssImageService(MockCutoutService):
    """SDSS ugriz images of the mock universe.

    Parameters
    ----------
    root : path
        A mock archive (:func:`galstar.mock.build_mock_archive`).

    Notes
    -----
    Deterministic in (ra, dec, size, pixscale, band, seed), like the Legacy Survey mock:
    the noise of each band is seeded by the archive seed, the rounded position, the
    geometry and the band.
    """

    def __init__(self, root: str | os.PathLike):
        super().__init__(root)
        u = self._u
        self._flux = ugriz_fluxes(u[["flux_g", "flux_r", "flux_z"]].to_numpy(),
                                  u["kind"].to_numpy(), u["ebv"].to_numpy())
        self.sigma = sdss_pixel_sigma()

    def image(self, ra: float, dec: float, size: int = 64, pixscale: float = SDSS_PIXSCALE,
              noise: bool = True) -> np.ndarray:
        """(5, size, size) float32 [nmgy] centred on (ra, dec), north up, east left."""
        if not (np.isfinite(ra) and np.isfinite(dec)) or int(size) < 1 or pixscale <= 0:
            raise ValueError(f"bad SDSS cutout request: ra={ra}, dec={dec}, size={size}, "
                             f"pixscale={pixscale}")
        _, stamps, _ = self._scene(float(ra), float(dec), int(size), float(pixscale))
        fwhm = sdss_psf_fwhm(ra, dec, self.seed)
        image = render_scene(stamps, int(size), float(pixscale), fwhm, self.sigma,
                             self._settings())
        if noise:
            key = [self.seed, 17, int(round(np.mod(ra, 360.0) * 1e7)),
                   int(round((dec + 90.0) * 1e7)), int(size), int(round(pixscale * 1e6))]
            for k in range(len(SDSS_BANDS)):
                rng = np.random.default_rng([*key, k])
                image[k] += rng.normal(0.0, self.sigma[k], image[k].shape)
        return image.astype(np.float32)

    def cutout_bytes(self, ra: float, dec: float, size: int = 64,
                     pixscale: float = SDSS_PIXSCALE) -> bytes:
        """A cutout cube as FITS bytes (the live client's output format)."""
        data = self.image(ra, dec, size, pixscale)
        header = cutout_header(ra, dec, int(size), float(pixscale),
                               sdss_psf_fwhm(ra, dec, self.seed))
        return _fits_bytes(data, header)

    def frame_bytes(self, ra: float, dec: float, band: str, size: int = 200,
                    pixscale: float = SDSS_PIXSCALE) -> bytes:
        """A small calibrated-frame stand-in: one band, (size, size) nanomaggies, TAN WCS
        centred on (ra, dec) (for testing the live client's cut and resampling)."""
        k = SDSS_BANDS.index(band)
        data = self.image(ra, dec, size, pixscale)[k]
        header = cutout_header(ra, dec, int(size), float(pixscale))
        for key in [f"BAND{j}" for j in range(5)] + ["BANDS"]:
            del header[key]
        header["FILTER"] = band
        return _fits_bytes(data, header)


def _fits_bytes(data: np.ndarray, header: fits.Header) -> bytes:
    hdu = fits.PrimaryHDU(data=data, header=header)
    out = io.BytesIO()
    hdu.writeto(out)
    return out.getvalue()


def build_sdss_images(root: str | os.PathLike, **opts: Any) -> dict[str, Any]:
    """Write ugriz cutouts of the archive's galaxy spectra into ``root/sdss_images/``.

    Parameters
    ----------
    root : path
        An existing mock archive; read, never changed.
    **opts
        :class:`galstar.mock.sdss_settings.SdssMockSettings` fields (``n_images``: at
        most this many, the first galaxy rows of ``galSpec.fits`` in ``specObjID``
        order as the spectra; ``image_size``), validated before anything is written.

    Returns
    -------
    dict
        The manifest written last to ``sdss_images/manifest.json``; cutouts of an
        earlier, larger run that are no longer listed are removed.
    """
    settings = SdssMockSettings.from_options(**opts)
    n_images, size = settings.n_images, int(settings.image_size)
    root = Path(root)
    galspec = read_mock_mpajhu(root / MOCK_GALSPEC)
    rows = galspec[galspec["spectrotype"] == "GALAXY"].sort_values("specObjID")
    if n_images is not None:
        rows = rows.iloc[: int(n_images)]
    service = MockSdssImageService(root)
    files = []
    for row in rows.itertuples():
        rel = SDSS_IMAGE_DIR / f"{int(row.specObjID)}.fits"
        with atomic_path(root / rel) as tmp:
            tmp.write_bytes(service.cutout_bytes(row.ra, row.dec, int(size)))
        files.append(str(rel))
    keep = {root / f for f in files}
    for stale in (root / SDSS_IMAGE_DIR).glob("*.fits"):
        if stale not in keep:
            stale.unlink()
    manifest = {"n_images": len(files), "size": int(size), "pixscale": SDSS_PIXSCALE,
                "bands": SDSS_BANDS, "key": "specObjID", "files": files}
    with atomic_path(root / SDSS_IMAGE_DIR / "manifest.json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest
