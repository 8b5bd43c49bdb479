"""Catalogue-model contamination of a target's isophote (a FRACFLUX-like estimate).

The image-only blend passes see a neighbour only through what it breaks in the target's
light (a second peak, a saddle, a point asymmetry). A much brighter neighbour that lays
a smooth wing over the target, or one whose wing is partly symmetric about it, breaks
little of that. The Legacy Surveys' Tractor catalogue answers the question the other
way round: ``FRACFLUX`` is the profile-weighted flux of the *other* sources' models at
the target over the target's flux. This module does the same with the DR9 sweep rows of
the target's neighbours:

1. each neighbour's surface brightness is modelled from its catalogue row (``TYPE``,
   grz flux, ``SHAPE_R``, ``SHAPE_E1/E2``, ``SERSIC``), as a mixture of elliptical
   Gaussians fitted once per Sersic index, convolved analytically with a Moffat PSF
   (itself a Gaussian mixture) of width ``PSFSIZE``; mixtures keep the convolution
   exact and the cusp of a compact profile integrated over the pixel, like Tractor's
   own profiles;
2. the target's isophote is found in the image: the smoothed, background-subtracted
   grz flux *minus the neighbours' model*, above ``isophote_nmgy_arcsec2``, connected
   to the centre (the neighbours' light must not extend the target's footprint);
3. contamination = model flux of the neighbours on that footprint / (image flux there
   minus the model): the fractional bias of the target's isophotal flux.

Only pixels of the target's box are ever evaluated, so the cost is a few hundred
thousand exponentials per neighbour that reaches the box.

**Caveat.** On the mock, catalogue models and rendered galaxies share the same
profile family, so the estimate is as good there as it can ever be; real galaxies
depart from Sersic profiles and real catalogues merge or shred close pairs, so the
threshold must be checked on real cutouts before relying on it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

import cv2
import numpy as np
from scipy.optimize import nnls
from scipy.special import gammaincinv

__all__ = [
    "NEIGHBOUR_COLUMNS",
    "Neighbours",
    "neighbours_from_table",
    "sersic_mixture",
    "moffat_mixture",
    "render_neighbours",
    "isophote_contamination",
]

#: Sweep columns a neighbour row must have (plus the tangent-plane offsets).
NEIGHBOUR_COLUMNS: tuple[str, ...] = (
    "dx_arcsec", "dy_arcsec", "TYPE", "FLUX_G", "FLUX_R", "FLUX_Z", "SHAPE_R",
    "SHAPE_E1", "SHAPE_E2", "SERSIC", "PSFSIZE_G", "PSFSIZE_R", "PSFSIZE_Z",
)

# Sersic index of each Tractor model type (SER reads its own SERSIC column).
_TYPE_INDEX = {"REX": 1.0, "EXP": 1.0, "DEV": 4.0}


@dataclass(frozen=True)
class Neighbours:
    """Catalogue neighbours of one target, in the cutout's pixel frame.

    Attributes
    ----------
    x, y : numpy.ndarray
        Pixel column and row of each centre (0-based, cutout frame).
    flux : numpy.ndarray
        grz-summed flux, nanomaggies (negative catalogue fluxes clipped to 0).
    r_e_px : numpy.ndarray
        Half-light radius, px (0 for point sources).
    sersic_n : numpy.ndarray
        Sersic index (ignored for point sources).
    q : numpy.ndarray
        Axis ratio b / a.
    theta : numpy.ndarray
        Angle of the major axis from the +column axis towards +row, radians.
    psf_fwhm_px : numpy.ndarray
        Flux-weighted grz PSF FWHM at the neighbour, px.
    size : int
        Side of the cutout whose frame ``x`` and ``y`` are in, px.
    """

    x: np.ndarray
    y: np.ndarray
    flux: np.ndarray
    r_e_px: np.ndarray
    sersic_n: np.ndarray
    q: np.ndarray
    theta: np.ndarray
    psf_fwhm_px: np.ndarray
    size: int = 152

    def __len__(self) -> int:
        return len(self.x)

    def take(self, index: np.ndarray) -> Neighbours:
        """The neighbours at ``index`` (e.g. one target's rows of a shard's table)."""
        return Neighbours(**{f.name: getattr(self, f.name)[index]
                             for f in fields(self) if f.name != "size"}, size=self.size)

    def in_frame(self, size: int) -> Neighbours:
        """The same neighbours in the frame of a ``size`` px cutout (same centre)."""
        if size == self.size:
            return self
        shift = (size - self.size) / 2.0
        return replace(self, x=self.x + shift, y=self.y + shift, size=size)


def _column(table: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    return np.asarray(table[name], dtype=np.float64)


def neighbours_from_table(table: Mapping[str, np.ndarray], size: int, pixscale: float
                          ) -> Neighbours:
    """Pixel-frame neighbours from sweep rows with tangent-plane offsets.

    Parameters
    ----------
    table : mapping or pandas.DataFrame
        Columns :data:`NEIGHBOUR_COLUMNS`; ``dx_arcsec`` is the offset towards east
        (+RA), ``dy_arcsec`` towards north, from the cutout centre.
    size : int
        Cutout side, px.
    pixscale : float
        Pixel scale, arcsec / px.

    Returns
    -------
    Neighbours
        The cutout's FITS convention (``CD1_1 < 0``): east is towards lower columns,
        north towards higher rows; the centre is pixel (size - 1) / 2.
    """
    if hasattr(table, "columns"):  # a DataFrame: one conversion, not one per column
        numeric = [c for c in NEIGHBOUR_COLUMNS if c != "TYPE"]
        values = table[numeric].to_numpy(dtype=np.float64)
        kinds = table["TYPE"].to_numpy()
        table = {name: values[:, k] for k, name in enumerate(numeric)}
        table["TYPE"] = kinds
    centre = (size - 1) / 2.0
    x = centre - _column(table, "dx_arcsec") / pixscale
    y = centre + _column(table, "dy_arcsec") / pixscale
    bands = ("G", "R", "Z")
    fluxes = np.stack([np.clip(_column(table, f"FLUX_{b}"), 0.0, None) for b in bands])
    flux = fluxes.sum(axis=0)
    psf = np.stack([_column(table, f"PSFSIZE_{b}") for b in bands])
    weights = np.where(flux > 0, fluxes / np.where(flux > 0, flux, 1.0), 1.0 / 3.0)
    psf_fwhm = (weights * psf).sum(axis=0) / pixscale
    kind = np.asarray(table["TYPE"]).astype(str)
    kind = np.char.strip(kind)
    point = kind == "PSF"
    sersic = np.array([_TYPE_INDEX.get(k, np.nan) for k in kind])
    sersic = np.where(kind == "SER", _column(table, "SERSIC"), sersic)
    sersic = np.where(np.isfinite(sersic), sersic, 1.0)
    e1, e2 = _column(table, "SHAPE_E1"), _column(table, "SHAPE_E2")
    ell = np.clip(np.hypot(e1, e2), 0.0, 0.95)
    q = (1.0 - ell) / (1.0 + ell)
    # Tractor: e1 = e cos 2phi, e2 = e sin 2phi, phi the major axis' angle east of north.
    # East is -column and north +row, so the axis points along (-sin phi, cos phi).
    phi = 0.5 * np.arctan2(e2, e1)
    theta = np.arctan2(np.cos(phi), -np.sin(phi))
    r_e = np.where(point, 0.0, np.clip(_column(table, "SHAPE_R"), 0.0, None) / pixscale)
    return Neighbours(x=x, y=y, flux=flux, r_e_px=r_e, sersic_n=sersic, q=q, theta=theta,
                      psf_fwhm_px=psf_fwhm, size=int(size))


def _fit_mixture(radii: np.ndarray, profile: np.ndarray, variances: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative amplitudes of circular 2-D Gaussians (unit flux each) matching a
    radial surface-brightness profile on log-spaced radii.

    The residual is weighted by r^2 (flux per unit log radius), so the mixture matches
    where the light is, not the central cusp's peak value.
    """
    dlog = np.gradient(np.log(radii))
    total = float(np.sum(2.0 * math.pi * radii**2 * profile * dlog))
    basis = np.exp(-0.5 * radii[:, None] ** 2 / variances[None, :]) / (
        2.0 * math.pi * variances[None, :])
    w = radii**2
    amp, _ = nnls(basis * w[:, None], profile / total * w, maxiter=50 * len(variances))
    keep = amp > 1e-3
    amp, var = amp[keep], variances[keep]
    return amp / amp.sum(), var


@functools.lru_cache(maxsize=1024)  # indices rounded to 0.05: ~120 per truncation
def sersic_mixture(n: float, truncation_re: float = 5.0, n_components: int = 10
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian mixture of a unit-flux, unit-half-light-radius circular Sersic profile.

    Parameters
    ----------
    n : float
        Sersic index (rounded to 0.05 by the caller for caching).
    truncation_re : float
        The profile is cut at this many half-light radii before fitting (catalogue
        models, and the mock, truncate the wings of high-index profiles).
    n_components : int
        Gaussians on a log-spaced grid of widths.

    Returns
    -------
    (amplitudes, variances)
        Fractions of the flux (summing to 1) and variances in units of r_e^2.
    """
    b = float(gammaincinv(2.0 * n, 0.5))
    radii = np.geomspace(1e-3, truncation_re, 400)
    profile = np.where(radii < truncation_re, np.exp(-b * (radii ** (1.0 / n) - 1.0)), 0.0)
    sigmas = np.geomspace(2e-3 if n > 2 else 2e-2, 0.8 * truncation_re, n_components)
    return _fit_mixture(radii, profile, sigmas**2)


@functools.lru_cache(maxsize=8)
def moffat_mixture(beta: float, n_components: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian mixture of a unit-flux, unit-FWHM circular Moffat PSF.

    Returns
    -------
    (amplitudes, variances)
        Fractions of the flux and variances in units of FWHM^2 (fitted out to 8 FWHM,
        where a bright star's wing can still lift a target's isophote).
    """
    alpha = 0.5 / math.sqrt(2.0 ** (1.0 / beta) - 1.0)
    radii = np.geomspace(1e-2, 8.0, 300)
    profile = (1.0 + (radii / alpha) ** 2) ** (-beta)
    sigmas = np.geomspace(0.2, 3.0, n_components)
    return _fit_mixture(radii, profile, sigmas**2)


@functools.lru_cache(maxsize=1024)
def _mixture_products(n: float | None, psf_beta: float, truncation_re: float
                      ) -> tuple[np.ndarray, np.floating, np.ndarray, np.ndarray]:
    """The part of a neighbour's convolved mixture that only its profile fixes (cached).

    The products of the Sersic-``n`` mixture (a point source: one Gaussian of zero
    width, ``n`` None) and the Moffat mixture that hold more than a thousandth of the
    flux: their flux fractions, the sum of those, and each product's galaxy and PSF
    variances in units of r_e^2 and FWHM^2 (galaxy-major order).
    """
    psf_amp, psf_var = moffat_mixture(float(psf_beta))
    if n is None:
        gal_amp, gal_var = np.ones(1), np.zeros(1)
    else:
        gal_amp, gal_var = sersic_mixture(n, float(truncation_re))
    amp = (gal_amp[:, None] * psf_amp[None, :]).ravel()
    keep = amp > 1e-3
    gal = np.repeat(gal_var, psf_amp.size)[keep]
    psf = np.tile(psf_var, gal_amp.size)[keep]
    return amp[keep], amp[keep].sum(), gal, psf


def _convolved_components(neighbours: Neighbours, index: np.ndarray, psf_beta: float,
                          truncation_re: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flux and inverse covariance (xx, xy, yy) of each Gaussian of the PSF-convolved
    models of the neighbours at ``index``, px, and the neighbour each belongs to
    (position in ``index``); products of a galaxy and a PSF component below a
    thousandth of the flux are dropped (their light is spread over the others').

    The neighbours' scalars are computed one by one, their Gaussians' values all at
    once (the same operations on each, so the same numbers as one neighbour at a time).
    """
    parts, scalars = [], []
    for k in index:
        galaxy = neighbours.r_e_px[k] > 0
        n = round(float(neighbours.sersic_n[k]) * 20.0) / 20.0 if galaxy else None
        amp, amp_sum, gal_var, psf_var = _mixture_products(n, float(psf_beta),
                                                           float(truncation_re))
        if galaxy:
            c, s = math.cos(neighbours.theta[k]), math.sin(neighbours.theta[k])
            q2 = neighbours.q[k] ** 2
            # galaxy covariance R diag(1, q^2) R^T per unit variance
            base = (c * c + q2 * s * s, (1.0 - q2) * c * s, s * s + q2 * c * c)
            r2 = neighbours.r_e_px[k] ** 2
        else:  # a zero-width galaxy: 0 * 0 + the PSF's variance is the PSF's
            base, r2 = (0.0, 0.0, 0.0), 0.0
        parts.append((amp, gal_var, psf_var))
        scalars.append((amp_sum, neighbours.psf_fwhm_px[k] ** 2, r2, *base,
                        neighbours.flux[k]))
    sizes = [len(p[0]) for p in parts]
    owner = np.repeat(np.arange(len(parts)), sizes)
    amp, gal_var, psf_var = (np.concatenate([p[i] for p in parts]) for i in range(3))
    amp_sum, fwhm2, r2, b0, b1, b2, flux = np.repeat(np.array(scalars).T, sizes, axis=1)
    psf_var = psf_var * fwhm2
    gal_var = gal_var * r2
    sxx = gal_var * b0 + psf_var
    sxy = gal_var * b1 + 0.0
    syy = gal_var * b2 + psf_var
    det = sxx * syy - sxy * sxy
    norm = flux * amp / amp_sum / (2.0 * math.pi * np.sqrt(det))
    inverse = np.stack([syy / det, -2.0 * sxy / det, sxx / det], axis=1)
    return norm, inverse, owner


def _peak_bounds(norm: np.ndarray, inverse: np.ndarray, distance2: np.ndarray | float
                 ) -> np.ndarray:
    """Upper bound of each Gaussian's value at the square root of ``distance2`` px from
    its centre (taken along its widest axis)."""
    a, b, c = inverse[:, 0], inverse[:, 1] * 0.5, inverse[:, 2]
    # smallest eigenvalue of the inverse covariance = 1 / largest variance
    lam = 0.5 * (a + c) - np.sqrt(0.25 * (a - c) ** 2 + b * b)
    return norm * np.exp(-0.5 * lam * distance2)


def _reachable(neighbours: Neighbours, rows: slice, cols: slice, psf_beta: float,
               truncation_re: float, floor: float) -> np.ndarray:
    """Indices of the neighbours whose model may exceed ``floor`` in the box, from a
    cheap bound on all at once: the peak no higher than the PSF's narrowest Gaussian
    holding all the flux, the fall-off no slower than the widest galaxy-and-PSF one."""
    x0, y0 = neighbours.x, neighbours.y
    gap = np.hypot(np.maximum(np.maximum(cols.start - x0, 0.0), x0 - (cols.stop - 1)),
                   np.maximum(np.maximum(rows.start - y0, 0.0), y0 - (rows.stop - 1)))
    _, psf_var = moffat_mixture(float(psf_beta))
    fwhm2 = neighbours.psf_fwhm_px**2
    # widest Sersic Gaussian: below the truncation radius (the fit's widest width)
    widest = (0.8 * truncation_re) ** 2 * neighbours.r_e_px**2 + psf_var.max() * fwhm2
    peak = neighbours.flux / (2.0 * math.pi * psf_var.min() * fwhm2)
    bound = peak * np.exp(-0.5 * gap**2 / widest)
    return np.flatnonzero((neighbours.flux > 0) & (bound >= floor))


def render_neighbours(
    neighbours: Neighbours,
    rows: slice,
    cols: slice,
    psf_beta: float = 3.5,
    truncation_re: float = 5.0,
    floor: float = 0.0,
    step: int = 1,
) -> np.ndarray | None:
    """The neighbours' summed PSF-convolved model on a box of the cutout.

    Parameters
    ----------
    neighbours : Neighbours
        Sources to render.
    rows, cols : slice
        The box (cutout pixel indices).
    psf_beta : float
        Moffat index of the PSF.
    truncation_re : float
        Sersic truncation in half-light radii.
    floor : float
        Nanomaggies per pixel that a neighbour's model may miss anywhere in the box: its
        Gaussians that cannot exceed their share of it are skipped (most catalogue
        neighbours of a cutout are far and faint and reach the box with their wings
        only).
    step : int
        Evaluate every ``step`` px and interpolate bilinearly (1 = every pixel).

    Returns
    -------
    numpy.ndarray or None
        (rows, cols) float32 nanomaggies per pixel (pixel-centre values of the
        convolved profile; every component is at least a PSF wide); None when no
        neighbour reaches the floor anywhere in the box.
    """
    shape = (rows.stop - rows.start, cols.stop - cols.start)
    step = max(int(step), 1)
    # the convolved model is evaluated every ``step`` px and interpolated: every
    # component is at least a PSF core wide (sigma >= ~1.4 px), so this costs little
    # accuracy and saves most of the exponentials
    coarse = (shape[0] // step + 2, shape[1] // step + 2)
    ys = rows.start + step * np.arange(coarse[0], dtype=np.float32)
    xs = cols.start + step * np.arange(coarse[1], dtype=np.float32)
    index = _reachable(neighbours, rows, cols, psf_beta, truncation_re, floor)
    if index.size == 0:
        return None
    norm, inverse, owner = _convolved_components(neighbours, index, psf_beta, truncation_re)
    x0, y0 = neighbours.x[index], neighbours.y[index]
    # per neighbour, its squared distance to the box and its Gaussians' share of the floor
    gap2, share = [], []
    for i, count in enumerate(np.bincount(owner, minlength=index.size)):
        gap = math.hypot(max(cols.start - x0[i], 0.0, x0[i] - (cols.stop - 1)),
                         max(rows.start - y0[i], 0.0, y0[i] - (rows.stop - 1)))
        gap2.append(gap**2)
        share.append(floor / count)
    # Gaussians that stay below their share of the floor over the whole box are left
    # out (far neighbours reach it with their widest components only)
    keep = _peak_bounds(norm, inverse, np.array(gap2)[owner]) >= np.array(share)[owner]
    if not keep.any():
        return None
    norm, inverse, owner = norm[keep], inverse[keep], owner[keep]
    # every Gaussian at once, one layer each, about its own neighbour's centre; the
    # layers are added to the model one by one, in the neighbours' order as before.
    # -1/2 goes into the coefficients (a power of two: the same products).
    dx = xs[None, None, :] - x0.astype(np.float32)[owner][:, None, None]
    dy = ys[None, :, None] - y0.astype(np.float32)[owner][:, None, None]
    f = norm.astype(np.float32)[:, None, None]
    a, b, c = (np.float32(-0.5) * inverse[:, i].astype(np.float32)[:, None, None]
               for i in range(3))
    layers = dx * dy
    layers *= b
    layers += a * (dx * dx)
    layers += c * (dy * dy)
    np.exp(layers, out=layers)
    layers *= f
    model = np.zeros(coarse, np.float32)
    for layer in layers:
        model += layer
    if step == 1:
        return model[:shape[0], :shape[1]]
    # pixel i of the box lies at coarse coordinate i / step
    map_x = np.broadcast_to(np.arange(shape[1], dtype=np.float32)[None, :] / step, shape)
    map_y = np.broadcast_to(np.arange(shape[0], dtype=np.float32)[:, None] / step, shape)
    return cv2.remap(model, np.ascontiguousarray(map_x), np.ascontiguousarray(map_y),
                     cv2.INTER_LINEAR)


def _mirrored(image: np.ndarray, centre: tuple[float, float]) -> np.ndarray:
    """``image`` rotated by 180 deg about ``centre`` (row, col; integer or half-integer,
    rounded to that), 0 where the mirror falls outside the box."""
    h, w = image.shape
    r, c = int(round(2 * centre[0])), int(round(2 * centre[1]))
    # output pixel (i, j) reads (r - i, c - j): rows i0:i1 and columns j0:j1 have theirs
    # in the box, a reversed slice of it
    i0, i1 = max(0, r - h + 1), min(h, r + 1)
    j0, j1 = max(0, c - w + 1), min(w, c + 1)
    out = np.zeros_like(image)
    if i0 < i1 and j0 < j1:
        out[i0:i1, j0:j1] = image[r - i1 + 1:r - i0 + 1, c - j1 + 1:c - j0 + 1][::-1, ::-1]
    return out


def isophote_contamination(
    flux: np.ndarray,
    residual: np.ndarray,
    model: np.ndarray,
    model_smooth: np.ndarray,
    level_px: float,
    centre: tuple[int, int],
    dominance: float = 3.0,
    symmetry_centre: tuple[float, float] | None = None,
) -> tuple[float, int]:
    """Neighbours' model flux on the target's isophote over the target's flux there.

    Parameters
    ----------
    flux : numpy.ndarray
        Background-subtracted grz flux of the box, nanomaggies per pixel.
    residual : numpy.ndarray
        The same minus the model, both smoothed alike: the target's light, whose
        isophote is the footprint (smoothing keeps it from following the noise).
    model, model_smooth : numpy.ndarray
        The neighbours' model on the box (:func:`render_neighbours`), and smoothed.
    level_px : float
        Isophote, nanomaggies per pixel.
    centre : (int, int)
        (row, col) of the target's centre in the box.
    dominance : float
        Where the smoothed model exceeds this many isophote levels, a neighbour
        dominates: a few per cent of model error (catalogue shape and flux noise)
        there exceed the target's own light, so the target's light is read at the
        point-symmetric pixel instead (galaxies are point-symmetric to first order).
    symmetry_centre : (float, float), optional
        (row, col) in the box of the target's centre for that reflection (half-integer
        for a centre between pixels, as in an even-sized cutout); default ``centre``.

    Returns
    -------
    (float, int)
        The contamination and the footprint's size in pixels. An empty footprint gives
        0, or infinity when the neighbours' model alone exceeds the isophote at the
        centre; a footprint without positive target flux gives 0.
    """
    mirror = centre if symmetry_centre is None else symmetry_centre
    dominated = model_smooth > dominance * level_px
    target_sm, target = residual, flux - model
    if dominated.any():
        target_sm = np.where(dominated, _mirrored(residual, mirror), residual)
        target = np.where(dominated, _mirrored(target, mirror), target)
    above = (target_sm > level_px).astype(np.uint8)
    if not above[centre]:
        # no target light above the isophote at the centre: clean if no neighbour's
        # either; if a neighbour's light is what reaches it there, it is all contamination
        return (math.inf if model_smooth[centre] > level_px else 0.0), 0
    # the 8-connected region above the isophote that holds the centre, by one flood fill
    region = np.zeros((above.shape[0] + 2, above.shape[1] + 2), np.uint8)
    cv2.floodFill(above, region, (int(centre[1]), int(centre[0])), 1, 0, 0,
                  8 | cv2.FLOODFILL_MASK_ONLY | (1 << 8))
    # Holes are filled (outer contour drawn filled): the target's isophote is simply
    # connected.
    contours, _ = cv2.findContours(np.ascontiguousarray(region[1:-1, 1:-1]),
                                   cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    filled = np.zeros(above.shape, np.uint8)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    foot = filled.astype(bool)
    total = float(target[foot].sum())
    if total <= 0:
        return 0.0, int(foot.sum())
    return float(model[foot].sum()) / total, int(foot.sum())
