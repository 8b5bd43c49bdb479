"""Write the simulated universe as the mock archive, in the real archives' formats.

:func:`build_mock_archive` draws the universe (:mod:`galstar.mock.universe`) and
writes, under ``root``: ``skyserver/galSpec.fits`` (:mod:`~galstar.mock.skyserver`),
``dr9/{north,south}/sweep/sweep-*.fits`` (:mod:`~galstar.mock.sweeps`),
``universe.parquet`` (what the cutout service renders, never read by the pipeline),
``truth/{galaxies,spectra,pairs}.parquet`` (:mod:`~galstar.mock.truth`, for scoring
only) and ``manifest.json`` (counts, settings, files).

Identifiers
-----------
``source_id`` (int64, from 1) numbers every simulated source: spectroscopic targets
first, then their blend companions, field galaxies, stars and quasars. A galaxy's
``galaxy_id`` is its ``source_id``. MPA-JHU rows carry SDSS-style ``specObjID``s (bit
packed plate/fiber/MJD); DR9 rows carry (RELEASE, BRICKID, OBJID) with RELEASE 9010 in
the north and 9000 in the south. ``truth/pairs.parquet`` links them through
``source_id``.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from galstar.io import atomic_path
from galstar.mock.settings import MockSettings
from galstar.mock.skyserver import MOCK_GALSPEC, mpajhu_rows, write_galspec
from galstar.mock.sweeps import dr9_catalogues, remove_stale_sweeps, write_sweeps
from galstar.mock.truth import cross_identify, primary_spectra, write_truth
from galstar.mock.universe import draw_universe, write_universe

__all__ = ["build_mock_archive"]

log = logging.getLogger(__name__)


def build_mock_archive(
    root: str | os.PathLike,
    n_galaxies: int,
    n_stars: int,
    n_field: int,
    seed: int,
    **opts: Any,
) -> dict[str, Any]:
    """Simulate the universe and write it as the mock archive under ``root``.

    Parameters
    ----------
    root : path
        Archive directory (config ``mock.root``).
    n_galaxies : int
        Spectroscopic galaxies (each with one or more MPA-JHU rows).
    n_stars : int
        Stars (a few bright; some with an MPA-JHU STAR spectrum).
    n_field : int
        Galaxies without a spectrum (blend companions included).
    seed : int
        Master seed; the archive is a pure function of the arguments.
    **opts
        :class:`galstar.mock.settings.MockSettings` fields (config ``mock.options``).

    Returns
    -------
    dict
        The manifest also written to ``root/manifest.json`` (counts, settings, files).

    Notes
    -----
    ``truth/galaxies.parquet`` (one row per galaxy): ``galaxy_id`` (= ``source_id``),
    true position, z, ``logm_true``, ``logssfr_true``, ``lgm_fib_true``,
    ``specsfr_fib_true``, colours, size, Sersic index, shape, fluxes, ``role``
    (target | companion | field), ``host_id`` (companions), ``has_spectrum``,
    ``has_dr9`` and the blend truth. **Definition of a blend**: a galaxy is blended
    (``is_blend``) when the isophote of another source overlaps its own, the isophote
    being at ``blend_isophote_nmgy_arcsec2`` (grz summed, default 1 nmgy/arcsec^2,
    ~2.4x the summed per-pixel noise) of the PSF-free elliptical Sersic profile, or of a
    point source of the same flux at the reference PSF when larger; two isophotes
    overlap when the centres are closer than the sum of the two ellipses' radii along
    the joining line. ``n_overlapping`` counts such neighbours,
    ``blend_neighbour_id`` names the largest and ``blend_flux_ratio`` is their summed
    grz flux over the galaxy's (to score with a stricter, flux-weighted definition).

    ``truth/spectra.parquet`` (one row per MPA-JHU row): ``specObjID``, ``source_id``,
    ``galaxy_id`` (-1 for stars and QSOs), ``kind``, ``injected`` (the defects put in,
    ';'-joined), ``expected_cut`` (first cut failed, '' if none; see
    :func:`galstar.mock.skyserver.expected_cut`), ``is_primary`` (among a galaxy's rows
    passing every cut, the highest ``sn_median_r``), ``has_dr9`` (the source has a DR9
    record, the only DR9 source within 3.5 arcsec) and ``n_dr9`` (its DR9 records: 2 in
    the north/south overlap).

    ``truth/pairs.parquet``: one row per (MPA-JHU row, DR9 record of the same source):
    ``specObjID, source_id, galaxy_id, RELEASE, BRICKID, OBJID, region, sep_arcsec``.
    """
    settings = MockSettings.from_options(**opts)
    for name, value, low in (("n_galaxies", n_galaxies, 1), ("n_stars", n_stars, 0),
                             ("n_field", n_field, 0)):
        if int(value) < low:
            raise ValueError(f"config key 'mock.{name}' must be >= {low}, got {value}")
    if int(seed) < 0:
        raise ValueError(f"config key 'seed' must be >= 0, got {seed}")
    root = Path(root)
    universe, gal_truth, geometry = draw_universe(
        int(n_galaxies), int(n_field), int(n_stars), int(seed), settings)
    dr9, dropped = dr9_catalogues(universe, int(seed), settings)
    gal_truth["has_dr9"] = ~gal_truth["galaxy_id"].isin(dropped)
    galspec, spectra = mpajhu_rows(universe, gal_truth, int(seed), settings)
    spectra["is_primary"] = primary_spectra(spectra)
    spectra, pairs = cross_identify(spectra, galspec, dr9)

    sweeps = write_sweeps(dr9, root)
    remove_stale_sweeps(root, sweeps)
    meta = {
        "seed": int(seed),
        "settings": asdict(settings),
        "pixel_sigma_nmgy": settings.pixel_sigma(),
        "render": {"psf_beta": settings.psf_beta, "sersic_trunc": settings.sersic_trunc},
    }
    write_universe(universe, meta, root / "universe.parquet")
    truth_files = write_truth(root, gal_truth, spectra, pairs)
    tgt = gal_truth[gal_truth["role"] == "target"]
    manifest = {
        **meta,
        "counts": {
            "n_galaxies": int(n_galaxies), "n_field": int(n_field), "n_stars": int(n_stars),
            **{k: v for k, v in geometry.items() if k.startswith("n_")},
            "universe": len(universe),
            "mpajhu_rows": len(galspec),
            "dr9_rows": {r: len(f) for r, f in dr9.items()},
            "expected_cut": spectra["expected_cut"].value_counts().to_dict(),
            "primary_with_dr9": int((spectra["is_primary"] & spectra["has_dr9"]).sum()),
            "target_blend_fraction": float(tgt["is_blend"].mean()),
        },
        "area_deg2": geometry["area_deg2"],
        "files": {
            "galspec": str(MOCK_GALSPEC),
            "sweeps": sweeps,
            "universe": "universe.parquet",
            "truth": truth_files,
        },
    }
    # galSpec.fits last: the workflow treats it as the archive's completion marker.
    write_galspec(galspec, root / MOCK_GALSPEC)
    with atomic_path(root / "manifest.json") as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True, default=str) + "\n")
    log.info("mock archive %s: %d sources, %d MPA-JHU rows, DR9 %s, blend fraction %.3f",
             root, len(universe), len(galspec), manifest["counts"]["dr9_rows"],
             manifest["counts"]["target_blend_fraction"])
    return manifest
