"""The sky patch: gnomonic projection, source placement, the DR9 brick tiling (it sets
the seeing), and the isophote-overlap definition of a blend.

The sweep file names the mock writes are in :mod:`galstar.mock.sweeps`.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from galstar.simulate.photometry import moffat_isophote_radius, sersic_isophote_radius

ARCSEC_PER_DEG = 3600.0

#: DR9 north (BASS/MzLS) / south (DECaLS) boundary in declination [deg].
NORTH_SOUTH_DEC = 32.375

#: Brick geometry of the Legacy Surveys: 0.25 deg rows in Dec.
BRICK_SIZE_DEG = 0.25


def radec_to_tangent(
    ra: np.ndarray, dec: np.ndarray, ra0: float, dec0: float
) -> tuple[np.ndarray, np.ndarray]:
    """Gnomonic (TAN) projection about (ra0, dec0): standard coordinates xi, eta [deg].

    ``xi`` grows towards East (increasing RA), ``eta`` towards North.
    """
    a = np.radians(np.asarray(ra, dtype=float) - ra0)
    d = np.radians(np.asarray(dec, dtype=float))
    d0 = np.radians(dec0)
    cos_c = np.sin(d0) * np.sin(d) + np.cos(d0) * np.cos(d) * np.cos(a)
    xi = np.cos(d) * np.sin(a) / cos_c
    eta = (np.cos(d0) * np.sin(d) - np.sin(d0) * np.cos(d) * np.cos(a)) / cos_c
    return np.degrees(xi), np.degrees(eta)


def tangent_to_radec(
    xi: np.ndarray, eta: np.ndarray, ra0: float, dec0: float
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`radec_to_tangent`; returns (ra, dec) [deg], ra in [0, 360)."""
    x = np.radians(np.asarray(xi, dtype=float))
    y = np.radians(np.asarray(eta, dtype=float))
    d0 = np.radians(dec0)
    denom = np.cos(d0) - y * np.sin(d0)
    ra = ra0 + np.degrees(np.arctan2(x, denom))
    dec = np.degrees(np.arctan2(np.sin(d0) + y * np.cos(d0), np.hypot(x, denom)))
    return np.mod(ra, 360.0), dec


def poisson_disk(
    n: int, rng: np.random.Generator, half_width: float, min_sep: float
) -> np.ndarray:
    """``n`` points uniform in a square of ``half_width``, no two closer than ``min_sep``.

    Greedy dart throwing (random sequential addition) on a grid of ``min_sep`` cells,
    so the result depends only on the generator state.

    Raises
    ------
    ValueError
        When the discs would cover more than 40% of the square (random sequential
        addition jams near 55%).
    """
    cover = n * np.pi * (min_sep / 2.0) ** 2 / (2.0 * half_width) ** 2
    if cover > 0.4:
        raise ValueError(
            f"cannot place {n} sources {min_sep} arcsec apart in a square of half-width "
            f"{half_width:.0f} arcsec (cover {cover:.2f} > 0.4): lower mock option "
            "min_target_separation_arcsec or density_per_deg2"
        )
    cells: dict[tuple[int, int], list[int]] = {}
    accepted: list[np.ndarray] = []
    sep2 = min_sep**2
    while len(accepted) < n:
        for p in rng.uniform(-half_width, half_width, size=(4 * (n - len(accepted)) + 16, 2)):
            cx, cy = int(np.floor(p[0] / min_sep)), int(np.floor(p[1] / min_sep))
            ok = True
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    for j in cells.get((cx + dx, cy + dy), ()):
                        q = accepted[j]
                        if (q[0] - p[0]) ** 2 + (q[1] - p[1]) ** 2 < sep2:
                            ok = False
                            break
                    if not ok:
                        break
                if not ok:
                    break
            if ok:
                cells.setdefault((cx, cy), []).append(len(accepted))
                accepted.append(p)
                if len(accepted) == n:
                    break
    return np.array(accepted).reshape(-1, 2)


def uniform_avoiding(
    n: int,
    rng: np.random.Generator,
    half_width: float,
    avoid: np.ndarray,
    radius: float,
) -> np.ndarray:
    """``n`` points uniform in the square, none within ``radius`` of a point of ``avoid``."""
    tree = cKDTree(avoid) if len(avoid) else None
    out: list[np.ndarray] = []
    total = 0
    while total < n:
        cand = rng.uniform(-half_width, half_width, size=(max(2 * (n - total), 16), 2))
        if tree is not None:
            dist, _ = tree.query(cand, k=1)
            cand = cand[dist >= radius]
        out.append(cand)
        total += len(cand)
    return np.concatenate(out)[:n]


def _brick_rows() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dec_c = -90.0 + BRICK_SIZE_DEG * np.arange(int(180 / BRICK_SIZE_DEG) + 1)
    ncol = np.maximum(1, np.ceil(360.0 * np.cos(np.radians(dec_c)) / BRICK_SIZE_DEG)).astype(
        np.int64
    )
    ncol[[0, -1]] = 1
    first_id = np.concatenate([[1], 1 + np.cumsum(ncol)[:-1]])
    return dec_c, ncol, first_id


_DEC_C, _NCOL, _FIRST_ID = _brick_rows()


def brick_of(ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DR9-like brick of each position: ``(BRICKID, BRICKNAME)``.

    Bricks are 0.25 deg rows in Dec, each cut into ``ceil(360 cos(dec) / 0.25)`` equal
    RA columns and numbered row by row from the south pole (as in the Legacy Surveys;
    the exact edges of the real bricks may differ slightly). BRICKNAME encodes the
    brick centre as ``RRRR{p|m}DDD`` (RA and |Dec| in 0.1 deg).
    """
    ra = np.mod(np.asarray(ra, dtype=float), 360.0)
    dec = np.asarray(dec, dtype=float)
    row = np.clip(np.floor((dec + 90.0) / BRICK_SIZE_DEG + 0.5).astype(np.int64), 0,
                  len(_DEC_C) - 1)
    ncol = _NCOL[row]
    col = np.minimum((ra / 360.0 * ncol).astype(np.int64), ncol - 1)
    brickid = _FIRST_ID[row] + col
    ra_c = (col + 0.5) * 360.0 / ncol
    dec_c = _DEC_C[row]
    names = np.array(
        [
            f"{int(r * 10):04d}{'m' if d < 0 else 'p'}{int(round(abs(d) * 10)):03d}"
            for r, d in zip(ra_c, dec_c, strict=True)
        ]
    )
    return brickid, names


def isophote_radii(
    flux_sum: np.ndarray,
    r_e: np.ndarray,
    sersic_n: np.ndarray,
    is_point: np.ndarray,
    level: float,
    psf_fwhm: float,
    psf_beta: float,
    trunc: float,
) -> np.ndarray:
    """Circularised isophotal radius [arcsec] of each source at surface brightness ``level``.

    Galaxies: the larger of the PSF-free Sersic isophote and that of a point source of
    the same flux (the PSF sets the size of compact galaxies). Point sources: Moffat.
    ``flux_sum`` is the grz-summed flux [nmgy], ``level`` in nmgy/arcsec^2.
    """
    point = moffat_isophote_radius(flux_sum, psf_fwhm, psf_beta, level)
    radius = point.copy()
    gal = ~np.asarray(is_point, dtype=bool)
    if gal.any():
        sers = sersic_isophote_radius(flux_sum[gal], r_e[gal], sersic_n[gal], level, trunc)
        radius[gal] = np.maximum(sers, point[gal])
    return radius


def _radius_along(
    iso_circ: np.ndarray, q: np.ndarray, pa_deg: np.ndarray, direction_deg: np.ndarray
) -> np.ndarray:
    """Radius of an ellipse (circularised radius, axis ratio q, PA) along a direction."""
    delta = np.radians(direction_deg - pa_deg)
    return iso_circ / np.sqrt(q * np.cos(delta) ** 2 + np.sin(delta) ** 2 / q)


def overlapping_isophotes(
    xy_arcsec: np.ndarray,
    iso_radius: np.ndarray,
    axis_ratio: np.ndarray,
    pa_deg: np.ndarray,
    targets: np.ndarray,
    flux: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Which targets have a neighbour whose isophote overlaps their own.

    Two isophotes overlap when their separation is smaller than the sum of the two
    ellipses' radii along the line joining the centres. Sources with a zero isophote
    (never as bright as the level) overlap nothing.

    Parameters
    ----------
    xy_arcsec : (n, 2) array
        Tangent-plane positions (x East, y North) [arcsec] of every source.
    iso_radius, axis_ratio, pa_deg : (n,) arrays
        Isophote size (circularised) and shape of every source (PA east of north).
    targets : (m,) int array
        Indices of the sources to test.
    flux : (n,) array, optional
        Fluxes; when given, a fourth array is returned: the summed flux of the
        overlapping neighbours over the target's flux.

    Returns
    -------
    is_blend : (m,) bool
    n_overlapping : (m,) int
        Number of overlapping neighbours.
    brightest : (m,) int
        Index of the overlapping neighbour with the largest isophote (-1 if none).
    """
    tree = cKDTree(xy_arcsec)
    r_max = float(iso_radius.max()) if len(iso_radius) else 0.0
    m = len(targets)
    is_blend = np.zeros(m, dtype=bool)
    n_over = np.zeros(m, dtype=np.int64)
    brightest = np.full(m, -1, dtype=np.int64)
    ratio = np.zeros(m)
    for k, t in enumerate(targets):
        if iso_radius[t] <= 0:
            continue
        cand = np.asarray(tree.query_ball_point(xy_arcsec[t], iso_radius[t] + r_max), int)
        cand = cand[(cand != t) & (iso_radius[cand] > 0)]
        if cand.size == 0:
            continue
        d = xy_arcsec[cand] - xy_arcsec[t]
        sep = np.hypot(d[:, 0], d[:, 1])
        # position angle of the joining line, east of north (x is East)
        direction = np.degrees(np.arctan2(d[:, 0], d[:, 1]))
        reach = _radius_along(iso_radius[t], axis_ratio[t], pa_deg[t], direction) + (
            _radius_along(iso_radius[cand], axis_ratio[cand], pa_deg[cand], direction)
        )
        over = sep < reach
        n_over[k] = int(over.sum())
        if n_over[k]:
            is_blend[k] = True
            brightest[k] = int(cand[over][np.argmax(iso_radius[cand][over])])
            if flux is not None:
                ratio[k] = float(flux[cand[over]].sum() / flux[t])
    if flux is not None:
        return is_blend, n_over, brightest, ratio
    return is_blend, n_over, brightest
