"""The template redshift scan on line spectra of known redshift."""

from __future__ import annotations

import numpy as np
import pytest

from galstar.spectra.redshift import TemplateRedshift

LINES = (3728.5, 4862.7, 5008.2, 6564.6, 6585.3)  # [O II], H-beta, [O III], H-alpha, [N II]
START, STEP, N_PIX = np.log10(3800.0), 1e-4, 3800


def line_spectra(z, rng, noise=1.0):
    """Continuum-free spectra over their noise: the five lines with random strengths."""
    lam = 10 ** (START + STEP * np.arange(N_PIX))
    flux = rng.normal(0.0, noise, (len(z), N_PIX))
    for rest in LINES:
        amp = rng.uniform(3.0, 12.0, (len(z), 1))
        centre = rest * (1 + np.asarray(z))[:, None]
        flux += amp * np.exp(-0.5 * ((lam - centre) / (centre * 1.5e-4)) ** 2)
    return flux


def test_scan_finds_the_redshift_inside_and_beyond_the_training_range():
    rng = np.random.default_rng(4)
    z_train = rng.uniform(0.05, 0.25, 200)
    flux = line_spectra(z_train, rng)
    mask = np.zeros_like(flux)
    mask[:, 1000:1060] = 1  # a masked run in every spectrum
    tz = TemplateRedshift(n_components=3).fit(flux, mask, z_train, START, STEP,
                                              z_range=(0.0, 0.35))
    z_test = np.concatenate([[0.137, 0.02, 0.30], rng.uniform(0.0, 0.35, 40)])
    test = line_spectra(z_test, rng)
    fit = tz.scan(test, np.zeros_like(test), START, z_range=(0.0, 0.35))
    dz = np.abs(fit.z - z_test) / (1 + z_test)
    assert dz[0] < 1e-4  # sub-pixel: a pixel is 2.3e-4 in 1 + z
    assert np.all(dz < 5e-4)  # 0.02 and 0.30 lie outside the training redshifts
    assert np.all(fit.delta_chi2 > 0)
    assert np.all((fit.chi2 > 0.8) & (fit.chi2 < 1.2))  # unit noise, fitted lines


def test_scan_range_and_errors():
    rng = np.random.default_rng(5)
    z = rng.uniform(0.05, 0.2, 60)
    flux = line_spectra(z, rng)
    tz = TemplateRedshift(n_components=2)
    with pytest.raises(RuntimeError, match="before fit"):
        tz.scan(flux, np.zeros_like(flux), START)
    with pytest.raises(ValueError, match="do not match"):
        tz.fit(flux, np.zeros_like(flux), z[:-1], START, STEP)
    tz.fit(flux, np.zeros_like(flux), z, START, STEP, z_range=(0.0, 0.3))
    fit = tz.scan(flux[:5], np.zeros((5, N_PIX)), START, z_range=(0.0, 0.04))
    assert np.all(fit.z <= 0.04 + 1e-9)  # the true z is outside the range: not returned
    with pytest.raises(ValueError, match="no trial redshift"):
        tz.scan(flux[:1], np.zeros((1, N_PIX)), START, z_range=(2.0, 3.0))
