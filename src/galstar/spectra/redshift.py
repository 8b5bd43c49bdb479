"""Redshifts from spectra by a chi-square scan over PCA templates.

The spectroscopic-pipeline way (SDSS idlspec2d, Bolton et al. 2012; DESI redrock):
rest-frame eigen-spectra are fitted to the training spectra at their known redshifts,
and each spectrum's redshift is the shift of the templates that minimises the chi-square
of a linear fit of those templates (the mean spectrum is one of them, so the amplitude
is free). On a grid uniform in log wavelength a redshift is a shift by whole pixels, so
every trial shift's normal equations come from FFT cross-correlations: a scan of all
shifts costs a few FFTs per spectrum. The minimum is refined to a fraction of a pixel by
a parabola through its neighbours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from galstar.spectra.restframe import GapFiller

__all__ = ["RedshiftFit", "TemplateRedshift"]


@dataclass
class RedshiftFit:
    """The scan's result per spectrum: ``z`` (best redshift), ``chi2`` (at the best
    shift, per used pixel) and ``delta_chi2`` (the next-best minimum at least
    ``exclusion`` pixels away minus the best: small when the redshift is ambiguous)."""

    z: np.ndarray
    chi2: np.ndarray
    delta_chi2: np.ndarray


class TemplateRedshift:
    """PCA templates on a rest-frame log grid and the chi-square redshift scan.

    Made for line spectra: the flux minus its continuum, over its noise (so that every
    pixel weighs alike and the scan follows the lines and absorption features, not the
    continuum's shape).

    Parameters
    ----------
    n_components : int
        Eigen-spectra beside the mean (templates = mean + these).
    min_coverage : int
        Rest-frame pixels covered by fewer training spectra than this are 0 in the
        templates.
    n_iter : int
        Gap-filling iterations of the PCA (:class:`~galstar.spectra.restframe.GapFiller`).
    """

    def __init__(self, n_components: int = 5, min_coverage: int = 5, n_iter: int = 3):
        self.n_components = int(n_components)
        self.min_coverage = int(min_coverage)
        self.n_iter = int(n_iter)
        self.templates: np.ndarray | None = None  # (k + 1, n_rest)
        self.loglam_step: float | None = None
        self.rest_start: float | None = None  # log10 rest wavelength of template pixel 0

    def fit(self, flux: np.ndarray, mask: np.ndarray, z: np.ndarray, loglam_start: float,
            loglam_step: float, z_range: tuple[float, float] = (0.0, 1.0)
            ) -> TemplateRedshift:
        """Fit the templates on (n, L) line spectra of known redshift ``z`` (training
        split), spanning every rest wavelength the trial redshifts ``z_range`` need.

        Each spectrum is placed on the rest grid at its nearest whole-pixel shift
        (half a pixel at most: ~1e-4 in z on the SDSS grid); pixels it does not cover are
        gaps the PCA fills. Rest pixels with fewer than ``min_coverage`` spectra are 0
        in every template: no known feature, so a spectrum's residual there counts
        against every trial redshift alike.
        """
        flux, mask = np.asarray(flux, np.float64), np.asarray(mask) > 0.5
        z = np.asarray(z, np.float64)
        if flux.shape != mask.shape or flux.ndim != 2 or len(z) != len(flux):
            raise ValueError(f"TemplateRedshift.fit: flux {flux.shape}, mask {mask.shape} "
                             f"and z {z.shape} do not match")
        if not np.all(np.isfinite(z)) or np.any(z <= -1):
            raise ValueError("TemplateRedshift.fit: the training redshifts must be finite "
                             "and above -1")
        lo = min(0, int(np.floor(np.log10(1.0 + z_range[0]) / loglam_step)))
        hi = int(np.ceil(np.log10(1.0 + max(z_range[1], z.max())) / loglam_step))
        shift = np.rint(np.log10(1.0 + z) / loglam_step).astype(np.int64)
        n, length = flux.shape
        n_rest = length + hi - lo
        rest = np.zeros((n, n_rest))
        gap = np.ones((n, n_rest), bool)
        for i in range(n):
            start = hi - shift[i]
            rest[i, start:start + length] = flux[i]
            gap[i, start:start + length] = mask[i]
        covered = (~gap).sum(axis=0) >= self.min_coverage
        if covered.sum() < length // 2:
            raise ValueError(f"TemplateRedshift.fit: only {int(covered.sum())} rest pixels "
                             f"have {self.min_coverage} training spectra")
        pca = GapFiller(self.n_components, self.n_iter).fit(rest[:, covered],
                                                             gap[:, covered])
        self.templates = np.zeros((self.n_components + 1, n_rest))
        self.templates[:, covered] = np.vstack([pca.mean, pca.components])
        self.loglam_step = float(loglam_step)
        self.rest_start = float(loglam_start) - hi * loglam_step
        return self

    def scan(self, flux: np.ndarray, mask: np.ndarray, loglam_start: float,
             z_range: tuple[float, float] | None = None, exclusion: int = 30,
             chunk: int = 64) -> RedshiftFit:
        """The best redshift of each (n, L) spectrum on the grid starting at
        ``loglam_start`` (the fit's step), among the shifts the templates cover and
        ``z_range`` allows."""
        if self.templates is None:
            raise RuntimeError("TemplateRedshift.scan before fit")
        flux = np.asarray(flux, np.float64)
        weight = (np.asarray(mask) < 0.5).astype(np.float64)
        n, length = flux.shape
        t = self.templates
        k, n_rest = t.shape
        if n_rest < length:
            raise ValueError(f"templates cover {n_rest} pixels, fewer than the spectra's "
                             f"{length}: fit on spectra over a range of redshifts")
        # template pixel u + p meets observed pixel p: log10(1 + z) = obs - rest
        n_shift = n_rest - length + 1
        log1pz = (float(loglam_start) - self.rest_start) - np.arange(n_shift) * self.loglam_step
        zs = 10.0 ** log1pz - 1.0
        allowed = np.ones(n_shift, bool)
        if z_range is not None:
            allowed = (zs >= z_range[0]) & (zs <= z_range[1])
        if not allowed.any():
            raise ValueError(f"no trial redshift within {z_range}: the templates cover "
                             f"z {zs.min():.3f} to {zs.max():.3f}")
        pairs = [(a, b) for a in range(k) for b in range(a, k)]
        nfft = 1 << int(np.ceil(np.log2(n_rest + length)))
        ft = np.conj(np.fft.rfft(t, nfft, axis=1))  # correlations: conj of the templates
        fpair = np.conj(np.fft.rfft(np.stack([t[a] * t[b] for a, b in pairs]), nfft, axis=1))
        z_best = np.empty(n)
        chi_best = np.empty(n)
        delta = np.empty(n)
        for lo in range(0, n, chunk):
            sl = slice(lo, lo + chunk)
            wf = weight[sl] * flux[sl]
            fw = np.fft.rfft(weight[sl], nfft, axis=1)
            fwf = np.fft.rfft(wf, nfft, axis=1)
            # sum_p x_p T(p + u) = irfft(conj(FT T) * FT x) read at -u (index nfft - u)
            b = np.fft.irfft(ft[None] * fwf[:, None], nfft, axis=2)
            a = np.fft.irfft(fpair[None] * fw[:, None], nfft, axis=2)
            idx = (-np.arange(n_shift)) % nfft
            b, a = b[..., idx], a[..., idx]  # (m, k, n_shift), (m, n_pairs, n_shift)
            gram = np.empty((b.shape[0], n_shift, k, k))
            for j, (p, q) in enumerate(pairs):
                gram[:, :, p, q] = gram[:, :, q, p] = a[:, j]
            rhs = np.moveaxis(b, 1, 2)[..., None]
            gram += 1e-9 * np.trace(gram, axis1=2, axis2=3)[..., None, None] * np.eye(k)
            coef = np.linalg.solve(gram, rhs)[..., 0]
            chi2 = (wf * flux[sl]).sum(axis=1)[:, None] - np.einsum("msk,msk->ms", coef,
                                                                      rhs[..., 0])
            chi2 = np.where(allowed[None], chi2, np.inf)
            best = np.argmin(chi2, axis=1)
            rows = np.arange(len(best))
            c0 = chi2[rows, best]
            # sub-pixel: a parabola through the best shift and its neighbours
            left = chi2[rows, np.maximum(best - 1, 0)]
            right = chi2[rows, np.minimum(best + 1, n_shift - 1)]
            curv = left + right - 2.0 * c0
            ok = np.isfinite(left) & np.isfinite(right) & (curv > 0)
            frac = np.where(ok, 0.5 * (left - right) / np.where(ok, curv, 1.0), 0.0)
            z_best[sl] = 10.0 ** (np.interp(best + np.clip(frac, -0.5, 0.5),
                                            np.arange(n_shift), log1pz)) - 1.0
            far = np.abs(np.arange(n_shift)[None] - best[:, None]) > exclusion
            delta[sl] = np.min(np.where(far, chi2, np.inf), axis=1) - c0
            n_good = np.maximum(weight[sl].sum(axis=1), 1.0)
            chi_best[sl] = c0 / n_good
        return RedshiftFit(z_best, chi_best, delta)
