"""Order stitching: echelle orders to one spectrum on a strictly increasing grid.

Orders are taken in increasing wavelength. Where order i+1 overlaps order i, order i is
kept as it is; order i+1's overlap is interpolated onto order i's pixels (to compare
the flux levels of the two orders) and then dropped, so no wavelength appears twice.
Masked pixels and skipped (all-NaN) orders leave holes: every step of the final grid
wider than ``gap_factor`` times its neighbouring steps is recorded as a :class:`Gap`.
A spectrum is rejected (:class:`~galstar.spectra.errors.Rejected`) for a major
discontinuity: a gap wider than ``max_gap_angstrom`` (gaps inside the strong telluric
water bands, ``telluric_windows``, are expected and exempt), gaps covering more than
``max_gap_fraction`` of the range, or a flux-level jump between neighbouring orders
beyond ``max_flux_ratio``. Reason codes: ``no_valid_orders``, ``non_monotonic``,
``discontinuity``, ``gaps``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from galstar.options import check_option_names
from galstar.spectra.echelle import EchelleSpectrum
from galstar.spectra.errors import Rejected

__all__ = ["Gap", "Junction", "StitchSettings", "Stitched", "order_arrays", "stitch"]


@dataclass(frozen=True)
class StitchSettings:
    """How orders are joined and what counts as a major discontinuity.

    Attributes
    ----------
    deblaze : bool
        Divide SPEC and SIG by CONT (where CONT is finite and positive) before
        stitching, so that neighbouring orders meet at the same flux level. Ignored
        when the file has no CONT.
    gap_factor : float
        A grid step more than this many times the larger of its two neighbouring
        steps is a gap (3: one masked pixel already counts).
    max_gap_angstrom : float
        Widest gap tolerated [Angstrom]; one missing VIS order is ~60-100 A, the
        widest natural NIR inter-order gap a few tens of A.
    max_gap_fraction : float
        Largest fraction of the spectrum's range that gaps may cover.
    max_flux_ratio : float
        Largest ratio (either way) of the median flux of order i and of order i+1
        on their overlap (or on their facing ends when they do not overlap).
    min_order_pixels : int
        Orders with fewer usable pixels are skipped (and leave a gap).
    telluric_windows : tuple of (float, float)
        Wavelength ranges [Angstrom] where the atmosphere can be opaque (water bands
        near 0.94, 1.13 and 1.40 um); a gap inside one is recorded as ``"telluric"``
        and not held against ``max_gap_angstrom`` (it still counts in the fraction).
    """

    deblaze: bool = True
    gap_factor: float = 3.0
    max_gap_angstrom: float = 200.0
    max_gap_fraction: float = 0.3
    max_flux_ratio: float = 3.0
    min_order_pixels: int = 16
    telluric_windows: tuple[tuple[float, float], ...] = (
        (9300.0, 9650.0), (11100.0, 11600.0), (13450.0, 14500.0))

    @classmethod
    def from_mapping(cls, config: Mapping | None, key: str = "stellar.stitch"
                     ) -> StitchSettings:
        """Build from config ``key``; unknown keys raise ``ValueError`` naming them."""
        config = dict(config or {})
        check_option_names(config, cls, key)
        if "telluric_windows" in config:
            config["telluric_windows"] = tuple(
                (float(lo), float(hi)) for lo, hi in config["telluric_windows"])
        return cls(**config)


@dataclass(frozen=True)
class Gap:
    """A hole in the stitched grid.

    Attributes
    ----------
    start, stop : float
        Wavelengths of the pixels either side [Angstrom].
    kind : str
        ``"telluric"`` (inside a telluric window), ``"order_junction"`` (between two
        orders, e.g. a skipped order or orders that do not overlap) or ``"masked"``
        (masked pixels inside an order).
    """

    start: float
    stop: float
    kind: str

    @property
    def width(self) -> float:
        """Width in Angstrom."""
        return self.stop - self.start


@dataclass(frozen=True)
class Junction:
    """Where order ``right`` joins order ``left``.

    Attributes
    ----------
    left, right : int
        Order indices in the file (after the NIR split).
    overlap_px : int
        Pixels of ``right`` dropped because ``left`` covers them.
    flux_ratio : float
        Median flux of ``left`` over median of ``right`` interpolated on ``left``'s
        overlap pixels; without overlap, the ratio of the 80th percentiles of their
        facing 200 pixels. NaN when a level is not positive.
    wavelength : float
        Last wavelength of ``left`` [Angstrom].
    """

    left: int
    right: int
    overlap_px: int
    flux_ratio: float
    wavelength: float


@dataclass(frozen=True)
class Stitched:
    """One arm as a single spectrum.

    Attributes
    ----------
    wavelength : numpy.ndarray
        Strictly increasing, Angstrom.
    flux, sigma : numpy.ndarray
        Same length; deblazed when :attr:`StitchSettings.deblaze` and CONT exist; sigma
        NaN where the file's SIG was a placeholder.
    gaps : tuple of Gap
        Holes in the grid, in wavelength order.
    junctions : tuple of Junction
        One per pair of consecutive orders used.
    orders : tuple of int
        File orders that contributed pixels, in wavelength order.
    source, arm : str
        The file and arm it came from.
    """

    wavelength: np.ndarray
    flux: np.ndarray
    sigma: np.ndarray
    gaps: tuple[Gap, ...]
    junctions: tuple[Junction, ...] = ()
    orders: tuple[int, ...] = ()
    source: str = ""
    arm: str = ""

    @property
    def gap_fraction(self) -> float:
        """Fraction of the wavelength range covered by gaps."""
        span = float(self.wavelength[-1] - self.wavelength[0])
        return sum(g.width for g in self.gaps) / span if span > 0 else 0.0


def order_arrays(spec: EchelleSpectrum, deblaze: bool = True
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Wavelength, flux, sigma and usable-pixel mask per order, deblazed if asked.

    Orders whose wavelength decreases along the pixels are reversed, so that every
    row increases.
    """
    wave, flux, sigma = spec.wavelength, spec.flux, spec.sigma
    good = spec.good.copy()
    if deblaze and spec.continuum is not None:
        cont = spec.continuum
        ok = np.isfinite(cont) & (cont > 0)
        good &= ok
        with np.errstate(divide="ignore", invalid="ignore"):
            flux = np.where(ok, flux / np.where(ok, cont, 1.0), np.nan)
            sigma = np.where(ok, sigma / np.where(ok, cont, 1.0), np.nan)
    flip = wave[:, -1] < wave[:, 0]
    if np.any(flip):
        wave, flux, sigma, good = (np.where(flip[:, None], a[:, ::-1], a)
                                   for a in (wave, flux, sigma, good))
    return wave, flux, sigma, good


def stitch(spec: EchelleSpectrum, settings: StitchSettings = StitchSettings()) -> Stitched:
    """Join the orders of one arm into a single spectrum.

    Parameters
    ----------
    spec : EchelleSpectrum
        As read by :func:`~galstar.spectra.carmenes.read_carmenes`.
    settings : StitchSettings
        Deblazing, gap detection and rejection thresholds.

    Returns
    -------
    Stitched
        Strictly increasing grid with no duplicated wavelength; the gaps and order
        junctions found.

    Raises
    ------
    Rejected
        ``no_valid_orders``, ``non_monotonic``, ``discontinuity`` or ``gaps`` (see the
        module docstring).
    """
    wave, flux, sigma, good = order_arrays(spec, settings.deblaze)
    first = np.where(good.any(axis=1), np.where(good, wave, np.inf).min(axis=1), np.inf)
    sequence = [int(i) for i in np.argsort(first, kind="stable") if np.isfinite(first[i])]
    pieces_w: list[np.ndarray] = []
    pieces_f: list[np.ndarray] = []
    pieces_s: list[np.ndarray] = []
    junctions: list[Junction] = []
    used: list[int] = []
    junction_at: list[int] = []  # index in the final grid of each order's first pixel
    n_total = 0
    for i in sequence:
        keep = good[i]
        if np.count_nonzero(keep) < settings.min_order_pixels:
            continue
        w, f, s = wave[i, keep], flux[i, keep], sigma[i, keep]
        if np.any(np.diff(w) <= 0):
            raise Rejected(f"non_monotonic: order {i} of {spec.path} has wavelengths that "
                           "do not increase along the pixels")
        if used:
            w, f, s, junction = _join(pieces_w[-1], pieces_f[-1], used[-1], w, f, s, i)
            junctions.append(junction)
            ratio = junction.flux_ratio
            if np.isfinite(ratio) and max(ratio, 1 / ratio) > settings.max_flux_ratio:
                raise Rejected(f"discontinuity: flux ratio {ratio:.3g} between orders "
                               f"{junction.left} and {junction.right} at "
                               f"{junction.wavelength:.1f} A (limit "
                               f"{settings.max_flux_ratio:g})")
            if w.size == 0:
                continue
        junction_at.append(n_total)
        pieces_w.append(w)
        pieces_f.append(f)
        pieces_s.append(s)
        used.append(i)
        n_total += w.size
    if not pieces_w:
        raise Rejected(f"no_valid_orders: no order of {spec.path} has "
                       f"{settings.min_order_pixels} usable pixels")
    out_w = np.concatenate(pieces_w)
    gaps = _find_gaps(out_w, settings.gap_factor, set(junction_at[1:]),
                      settings.telluric_windows)
    stitched = Stitched(wavelength=out_w, flux=np.concatenate(pieces_f),
                        sigma=np.concatenate(pieces_s), gaps=gaps,
                        junctions=tuple(junctions), orders=tuple(used),
                        source=spec.path, arm=spec.arm)
    widest = max((g for g in gaps if g.kind != "telluric"), key=lambda g: g.width,
                 default=None)
    if widest is not None and widest.width > settings.max_gap_angstrom:
        raise Rejected(f"discontinuity: gap of {widest.width:.1f} A at {widest.start:.1f} A "
                       f"(limit {settings.max_gap_angstrom:g} A)")
    if stitched.gap_fraction > settings.max_gap_fraction:
        raise Rejected(f"gaps: {len(gaps)} gaps cover {100 * stitched.gap_fraction:.1f}% of "
                       f"the range (limit {100 * settings.max_gap_fraction:g}%)")
    return stitched


def _join(prev_w: np.ndarray, prev_f: np.ndarray, left: int, w: np.ndarray, f: np.ndarray,
          s: np.ndarray, right: int
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Junction]:
    """Drop the part of the next order that the previous one covers; compare levels."""
    edge = prev_w[-1]
    overlap = w <= edge
    n_overlap = int(np.count_nonzero(overlap))
    on_left = prev_w >= w[0]
    if n_overlap >= 3 and np.count_nonzero(on_left) >= 3:
        # Order i+1 interpolated onto order i's pixels of the common range.
        level_left = np.median(prev_f[on_left])
        level_right = np.median(np.interp(prev_w[on_left], w, f))
    else:
        # Facing ends: an upper percentile of 200 px rides over the lines there.
        k = min(200, prev_f.size, f.size)
        level_left = np.percentile(prev_f[-k:], 80)
        level_right = np.percentile(f[~overlap][:k], 80) if np.any(~overlap) else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (float(level_left / level_right)
                 if level_left > 0 and level_right > 0 else float("nan"))
    keep = ~overlap
    return w[keep], f[keep], s[keep], Junction(left=left, right=right, overlap_px=n_overlap,
                                               flux_ratio=ratio, wavelength=float(edge))


def _find_gaps(w: np.ndarray, factor: float, junction_starts: set[int],
               telluric: tuple[tuple[float, float], ...] = ()) -> tuple[Gap, ...]:
    """Steps wider than ``factor`` x the larger neighbouring step, classified."""
    if w.size < 3:
        return ()
    d = np.diff(w)
    left = np.concatenate([[d[1]], d[:-1]])
    right = np.concatenate([d[1:], [d[-2]]])
    reference = np.maximum(left, right)
    wide = np.flatnonzero(d > factor * reference)

    def kind(k: int) -> str:
        if any(lo <= w[k] and w[k + 1] <= hi for lo, hi in telluric):
            return "telluric"
        return "order_junction" if (k + 1) in junction_starts else "masked"

    return tuple(Gap(start=float(w[k]), stop=float(w[k + 1]), kind=kind(k)) for k in wide)
