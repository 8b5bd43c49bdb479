"""The mock Legacy Survey ``fits-cutout`` service, rendered from the mock universe.

:class:`MockCutoutService` answers cutout requests with the real service's FITS layout
(and, for scoring, the noiseless target and contaminant maps); :func:`renderer_digest`
is the identity of what it serves, for the cutout cache's ``source.json``.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from scipy.spatial import cKDTree

from galstar.mock.settings import MockSettings
from galstar.mock.truth import read_blend_truth
from galstar.mock.universe import psf_fwhm_of_bricks, read_universe
from galstar.simulate import sky
from galstar.simulate.render import RenderSettings, Stamps, render_scene
from galstar.units import nmgy_to_mag, unit_vectors

__all__ = ["MockCutoutService", "MAX_CUTOUT_SIZE", "renderer_digest"]

#: The Legacy Survey service caps the cutout size (pixels).
MAX_CUTOUT_SIZE = 512


class MockCutoutService:
    """The Legacy Survey ``fits-cutout`` service, rendered from the mock universe.

    Parameters
    ----------
    root : path
        A directory written by :func:`galstar.mock.writer.build_mock_archive`.

    Notes
    -----
    Responses are deterministic in (ra, dec, size, pixscale, band, seed): the noise of
    each band is drawn from a generator seeded by the archive seed, the position rounded
    to 1e-7 deg, the geometry and the band, so repeated calls return identical bytes.
    The PSF of a cutout is that of the brick holding its centre.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        u, meta = read_universe(self.root / "universe.parquet")
        self.seed = int(meta["seed"])
        self.settings = MockSettings.from_options(**meta["settings"])
        self.pixel_sigma = {b: float(v) for b, v in meta["pixel_sigma_nmgy"].items()}
        self._u = u
        self._ra = u["ra"].to_numpy()
        self._dec = u["dec"].to_numpy()
        self._flux = u[["flux_g", "flux_r", "flux_z"]].to_numpy()
        self._tree = cKDTree(unit_vectors(self._ra, self._dec))
        self._extent: dict[float, float] = {}
        self._blend = read_blend_truth(self.root)

    def _max_extent_arcsec(self, pixscale: float) -> float:
        """Largest stamp radius any source can have [arcsec] (bounds the neighbour query)."""
        if pixscale not in self._extent:
            self._extent[pixscale] = self._compute_max_extent(pixscale)
        return self._extent[pixscale]

    def _compute_max_extent(self, pixscale: float) -> float:
        settings = self._settings()
        gal = ~self._u["is_point"].to_numpy()
        extent = 0.0
        if gal.any():
            q = np.clip(self._u["axis_ratio"].to_numpy()[gal], 0.05, 1.0)
            extent = float(np.max(settings.sersic_trunc * self._u["r_e_arcsec"].to_numpy()[gal]
                                  / np.sqrt(q)))
        star = settings.star_stamp_max_px * pixscale
        return max(extent, star) + 2.5 * self.settings.psf_fwhm_range_arcsec[1] + 1.0

    def _settings(self) -> RenderSettings:
        return RenderSettings(psf_beta=self.settings.psf_beta,
                              sersic_trunc=self.settings.sersic_trunc)

    @staticmethod
    def _check(ra: float, dec: float, size: int, pixscale: float, bands: str = "grz",
               layer: str = "ls-dr9") -> None:
        if not (np.isfinite(ra) and np.isfinite(dec) and -90.0 <= dec <= 90.0):
            raise ValueError(f"cutout position out of range: ra={ra}, dec={dec}")
        if int(size) != size or not 1 <= size <= MAX_CUTOUT_SIZE:
            raise ValueError(f"cutout size must be an integer in [1, {MAX_CUTOUT_SIZE}]: {size}")
        if not (np.isfinite(pixscale) and pixscale > 0):
            raise ValueError(f"cutout pixscale must be > 0 arcsec: {pixscale}")
        if not bands or any(b not in "grz" for b in bands) or len(set(bands)) != len(bands):
            raise ValueError(f"cutout bands must be distinct letters of 'grz': {bands!r}")
        if layer != "ls-dr9":
            raise ValueError(f"the mock archive serves layer 'ls-dr9' only, not {layer!r}")

    def _scene(self, ra: float, dec: float, size: int, pixscale: float):
        """Sources that can touch the cutout, in its pixel frame; PSF of its brick."""
        half_diag = size * pixscale / np.sqrt(2.0)
        # reach of the largest stamps: bright-star wings and big galaxies
        reach = half_diag + self._max_extent_arcsec(pixscale)
        chord = 2 * np.sin(np.radians(reach / 7200.0))
        idx = np.sort(np.asarray(self._tree.query_ball_point(unit_vectors(ra, dec)[0], chord),
                                 dtype=np.int64))
        u = self._u.iloc[idx]
        xi, eta = sky.radec_to_tangent(self._ra[idx], self._dec[idx], ra, dec)
        scale = pixscale / 3600.0
        crpix = (size + 1) / 2.0
        stamps = Stamps(
            x=crpix - xi / scale,
            y=crpix + eta / scale,
            flux=self._flux[idx],
            r_e_arcsec=u["r_e_arcsec"].to_numpy(),
            sersic_n=u["sersic_n"].to_numpy(),
            axis_ratio=u["axis_ratio"].to_numpy(),
            beta_img_deg=90.0 + u["pa_deg"].to_numpy(),
            is_point=u["is_point"].to_numpy(),
        )
        brickid, _ = sky.brick_of(np.array([ra]), np.array([dec]))
        fwhm = psf_fwhm_of_bricks(brickid, self.seed, self.settings.psf_fwhm_range_arcsec)[0]
        return idx, stamps, fwhm

    def psf_fwhm(self, ra: float, dec: float) -> dict[str, float]:
        """Effective PSF FWHM [arcsec] per band of a cutout centred at (ra, dec)."""
        brickid, _ = sky.brick_of(np.array([ra]), np.array([dec]))
        fwhm = psf_fwhm_of_bricks(brickid, self.seed, self.settings.psf_fwhm_range_arcsec)[0]
        return dict(zip("grz", map(float, fwhm), strict=True))

    def cube(self, ra: float, dec: float, size: int = 152, pixscale: float = 0.262,
             bands: str = "grz") -> np.ndarray:
        """The noisy (nband, size, size) float32 image [nmgy] :meth:`fits_bytes` serves."""
        self._check(ra, dec, size, pixscale, bands)
        band_idx = ["grz".index(b) for b in bands]
        _, stamps, fwhm = self._scene(ra, dec, int(size), float(pixscale))
        # always rendered in g, r and z: which sources are drawn and how far out is
        # decided on all three, so a single-band request equals that plane of 'grz'
        sigma_all = np.array([self.pixel_sigma[b] for b in "grz"])
        image = render_scene(stamps, int(size), float(pixscale), fwhm, sigma_all,
                             self._settings())[band_idx]
        sigma = sigma_all[band_idx]
        key = [self.seed, 13, int(round(np.mod(ra, 360.0) * 1e7)),
               int(round((dec + 90.0) * 1e7)), int(size), int(round(pixscale * 1e6))]
        for k, b in enumerate(bands):
            rng = np.random.default_rng(key + ["grz".index(b)])
            image[k] += rng.normal(0.0, sigma[k], image[k].shape)
        return image.astype(np.float32)

    def fits_bytes(self, ra: float, dec: float, size: int = 152, pixscale: float = 0.262,
                   bands: str = "grz", layer: str = "ls-dr9") -> bytes:
        """A cutout as the Legacy Survey ``fits-cutout`` service returns it.

        One primary HDU: float32 (nband, size, size) nanomaggies, TAN WCS centred on
        (ra, dec) with ``CRPIX = (size + 1) / 2`` and ``CD = diag(-pixscale, pixscale)``,
        and keywords ``BANDS``, ``BAND0..``.

        Raises
        ------
        ValueError
            For a position, size (> 512), pixscale, band string or layer the service
            would refuse.
        """
        self._check(ra, dec, size, pixscale, bands, layer)
        data = self.cube(ra, dec, size, pixscale, bands)
        header = _cutout_header(int(size), float(pixscale), bands, layer).copy()
        header["CRVAL1"] = float(ra)
        header["CRVAL2"] = float(dec)
        # what HDUList.writeto writes (header blocks, big-endian data, zero padding),
        # without re-verifying every card of a template that was verified once
        raw = data.astype(">f4", copy=False).tobytes()
        pad = (-len(raw)) % 2880
        return header.tostring().encode("ascii") + raw + b"\0" * pad

    def truth_maps(self, ra: float, dec: float, size: int = 152, pixscale: float = 0.262
                   ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Noiseless target and contaminant images (grz summed) and scalars, for scoring.

        The target is the galaxy whose true position is nearest the centre, within
        1 arcsec (cutouts are requested at DR9 positions, ~0.1 arcsec from the truth);
        without one, ``target`` is all zero and ``target_id`` is -1.

        Returns
        -------
        target, contaminant : (size, size) float32
            Noiseless flux [nmgy/pixel] summed over g, r, z.
        scalars : dict
            ``target_id``, ``is_blend`` and ``n_overlapping`` (the truth table's blend
            definition), ``target_flux`` and ``contaminant_flux`` (inside the cutout),
            ``target_flux_total`` (catalogue flux), ``contaminant_flux_in_isophote``
            (contaminant flux where the target map exceeds the blend isophote),
            ``n_sources`` (sources rendered), ``bright_star`` (a star with r < 13 within
            the cutout's half-diagonal plus 30 arcsec).
        """
        self._check(ra, dec, size, pixscale)
        idx, stamps, fwhm = self._scene(ra, dec, int(size), float(pixscale))
        sigma = np.array([self.pixel_sigma[b] for b in "grz"])
        kind = self._u["kind"].to_numpy()[idx]
        sep = np.degrees(np.arccos(np.clip(
            unit_vectors(ra, dec) @ unit_vectors(self._ra[idx], self._dec[idx]).T, -1, 1)))
        sep = np.atleast_1d(sep.squeeze()) * 3600.0
        gal = np.flatnonzero((kind == "galaxy") & (sep < 1.0))
        is_target = np.zeros(len(idx), dtype=bool)
        target_id = -1
        if gal.size:
            best = gal[np.argmin(sep[gal])]
            is_target[best] = True
            target_id = int(self._u["source_id"].to_numpy()[idx[best]])
        settings = self._settings()
        target = render_scene(stamps.subset(is_target), int(size), float(pixscale), fwhm,
                              sigma, settings).sum(axis=0)
        contaminant = render_scene(stamps.subset(~is_target), int(size), float(pixscale),
                                   fwhm, sigma, settings).sum(axis=0)
        level_px = self.settings.blend_isophote_nmgy_arcsec2 * pixscale**2
        blend = n_over = None
        if target_id > 0 and self._blend is not None and target_id in self._blend.index:
            blend = bool(self._blend.at[target_id, "is_blend"])
            n_over = int(self._blend.at[target_id, "n_overlapping"])
        r_mag = nmgy_to_mag(np.maximum(stamps.flux[:, 1], 1e-30))
        near = sep < size * pixscale / np.sqrt(2.0) + 30.0
        scalars = {
            "target_id": target_id,
            "is_blend": bool(blend) if blend is not None else False,
            "n_overlapping": n_over if n_over is not None else 0,
            "target_flux": float(target.sum()),
            "target_flux_total": float(stamps.flux[is_target].sum()) if target_id > 0 else 0.0,
            "contaminant_flux": float(contaminant.sum()),
            "contaminant_flux_in_isophote": float(contaminant[target > level_px].sum()),
            "n_sources": int(len(idx)),
            "bright_star": bool(np.any((kind == "star") & (r_mag < 13.0) & near)),
        }
        return target.astype(np.float32), contaminant.astype(np.float32), scalars


@lru_cache(maxsize=32)
def _cutout_header(size: int, pixscale: float, bands: str, layer: str) -> fits.Header:
    """The cutout header for a geometry (CRVAL filled per request), verified once."""
    crpix = (size + 1) / 2.0
    cards = [
        ("CTYPE1", "RA---TAN", "TAN (gnomic) projection"),
        ("CTYPE2", "DEC--TAN", "TAN (gnomic) projection"),
        ("CRVAL1", 0.0, "RA  of reference point"),
        ("CRVAL2", 0.0, "DEC of reference point"),
        ("CRPIX1", crpix, "X reference pixel"),
        ("CRPIX2", crpix, "Y reference pixel"),
        ("CUNIT1", "deg", "X pixel scale units"),
        ("CUNIT2", "deg", "Y pixel scale units"),
        ("CD1_1", -pixscale / 3600.0, "Transformation matrix"),
        ("CD1_2", 0.0, ""),
        ("CD2_1", 0.0, ""),
        ("CD2_2", pixscale / 3600.0, ""),
        ("IMAGEW", float(size), "Image width,  in pixels."),
        ("IMAGEH", float(size), "Image height, in pixels."),
        ("BANDS", bands, ""),
    ]
    cards += [(f"BAND{k}", b, "") for k, b in enumerate(bands)]
    cards += [("LAYER", layer, ""), ("VERSION", "DR9", "mock archive"),
              ("BUNIT", "nanomaggy", "")]
    header = fits.Header()
    for key, value, comment in cards:
        header[key] = (value, comment)
    hdu = fits.PrimaryHDU(data=np.zeros((len(bands), size, size), np.float32), header=header)
    hdu.verify("exception")
    hdu.update_header()
    return hdu.header


def renderer_digest(mock_root: str | os.PathLike) -> str:
    """sha256 of what the mock serves: the archive and the code that renders from it.

    Covers ``manifest.json`` and ``universe.parquet`` of the archive, and the source of
    ``galstar.mock``, ``galstar.simulate`` and ``galstar.units`` (a regenerated mock,
    or a changed renderer, serves other pixels under the same positions).
    """
    import galstar.mock as mock
    import galstar.simulate as simulate
    import galstar.units as units

    root = Path(mock_root)
    code = [*sorted(Path(mock.__file__).parent.glob("*.py")),
            *sorted(Path(simulate.__file__).parent.glob("*.py")), Path(units.__file__)]
    digest = hashlib.sha256()
    for path in [root / "manifest.json", root / "universe.parquet", *code]:
        digest.update(path.read_bytes())
    return digest.hexdigest()
