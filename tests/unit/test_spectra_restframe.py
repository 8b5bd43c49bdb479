"""Rest-frame spectra of the spectrum VAE (galstar.spectra.restframe): grid, shift,
normalisation, rejects, and the iterative-PCA gap filling on simulated spectra."""

from __future__ import annotations

import numpy as np
import pytest

from galstar.simulate.galaxy_spectra import EMISSION_LINES, SpectrumModel, simulate_spectra
from galstar.spectra.errors import Rejected
from galstar.spectra.restframe import (
    GapFiller,
    RestframeSettings,
    model_to_restframe,
    restframe_loglam,
    to_restframe,
)
from galstar.spectra.sdss import Spectrum

SETTINGS = RestframeSettings()


def _spectra(n: int, seed: int, sn: float = 12.0, family: bool = False):
    """Simulated SDSS spectra; ``family``: one dust, metallicity and velocity dispersion,
    so that the H-alpha complex is a linear function of the other lines and the
    continuum (what a PCA basis can represent)."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(0.03, 0.2, n)
    ssfr = rng.uniform(-12.0, -9.3, n)
    lgm = np.full(n, 10.0) if family else rng.uniform(9.3, 10.8, n)
    dust = np.full(n, 0.5) if family else rng.uniform(0.1, 1.2, n)
    vdisp = np.full(n, 100.0) if family else rng.uniform(60.0, 200.0, n)
    model = SpectrumModel(oh_scatter=0.0, bad_spectrum_fraction=0.0) if family else SpectrumModel()
    sim = simulate_spectra(z, rng.uniform(3.0, 20.0, n), ssfr, lgm, lgm + 0.4, dust, vdisp,
                           np.full(n, sn), rng, model)
    out = []
    for i in range(n):
        out.append(Spectrum(
            source=f"sim-{i}", loglam=sim.loglam, flux=sim.flux[i], ivar=sim.ivar[i],
            and_mask=sim.and_mask[i].astype(np.int64), or_mask=sim.or_mask[i].astype(np.int64),
            plate=1, mjd=2, fiber=i + 1, z=float(z[i]), z_err=1e-5, zwarning=0,
            spec_class="GALAXY", subclass="", ra=0.0, dec=0.0, specobj_id="",
            table_name="SPECOBJ", hdu_names=("PRIMARY", "COADD", "SPECOBJ")))
    return out, sim


def test_grid_and_shift_put_halpha_at_its_rest_wavelength():
    loglam = restframe_loglam(SETTINGS)
    assert loglam.size == 1000 and loglam[0] == 3.53 and loglam[-1] == pytest.approx(3.92)
    spectra, sim = _spectra(40, 1)
    i = int(np.argmax(sim.line_flux["H_alpha"] / sim.line_cont["H_alpha"]))
    flux, ivar, mask, norm = to_restframe(spectra[i], SETTINGS)
    peak = 10 ** loglam[np.argmax(np.where(mask, 0, flux))]
    assert abs(peak - EMISSION_LINES["H_alpha"]) < 10.0
    good = ~mask
    assert np.sqrt(np.mean(flux[good] ** 2)) == pytest.approx(1.0, rel=1e-5)
    assert (ivar[mask] == 0).all() and (ivar[good] > 0).all()
    # the noiseless model on the same grid and scale follows the data within the noise
    truth = model_to_restframe(sim.loglam, sim.model[i], spectra[i].z, norm, SETTINGS)
    ok = good & np.isfinite(truth)
    chi = (flux[ok] - truth[ok]) * np.sqrt(ivar[ok])
    robust_std = 1.4826 * np.median(np.abs(chi - np.median(chi)))  # sky lines aside
    assert 0.8 < robust_std < 1.25 and abs(np.median(chi)) < 0.2


def test_rejects_beyond_z_max_and_with_zwarning():
    spectra, _ = _spectra(2, 2)
    from dataclasses import replace

    with pytest.raises(Rejected, match="z_out_of_range"):
        to_restframe(replace(spectra[0], z=0.36), SETTINGS)
    with pytest.raises(Rejected, match="bad_redshift"):
        to_restframe(replace(spectra[0], zwarning=4), SETTINGS)


def test_pca_gap_filling_restores_a_masked_emission_line():
    """H-beta masked on held-out mock spectra (one dust, metallicity and dispersion, so
    the line follows from H-alpha, [O III] and the continuum) comes back within the
    noise from 20 components fitted on other spectra; bridging the gap misses it."""
    spectra, _ = _spectra(600, 3, sn=5.0, family=True)
    rows = [to_restframe(s, SETTINGS) for s in spectra]
    flux, ivar, mask = (np.stack([r[k] for r in rows]) for k in range(3))
    filler = GapFiller(n_components=20, n_iter=5).fit(flux[:500], mask[:500])
    wave = 10 ** restframe_loglam(SETTINGS)
    line = np.abs(wave - EMISSION_LINES["H_beta"]) < 10.0
    held = np.arange(500, 600)
    held = held[~mask[held][:, line].any(1)]
    assert held.size >= 90
    # the line is there: most held-out spectra peak well above their continuum
    assert np.median(flux[held][:, line].max(1) / np.median(flux[held], 1)) > 1.5
    hidden = mask[held] | line
    filled = filler.fill(flux[held], hidden)
    sigma = 1.0 / np.sqrt(ivar[held][:, line])
    chi = (filled[:, line] - flux[held][:, line]) / sigma
    bridged = np.stack([np.interp(wave[line], wave[~h], f[~h])
                        for f, h in zip(flux[held], hidden, strict=True)])
    chi_bridged = (bridged - flux[held][:, line]) / sigma
    assert np.sqrt(np.mean(chi**2)) < 1.6  # within the noise (1 would be perfect)
    assert np.sqrt(np.mean(chi_bridged**2)) > 10.0 * np.sqrt(np.mean(chi**2))
    # good pixels are never changed; filled pixels are finite
    assert np.array_equal(filled[~hidden], flux[held][~hidden])
    assert np.isfinite(filled).all()


def test_gap_filler_round_trips_through_its_file(tmp_path):
    rng = np.random.default_rng(0)
    flux = rng.normal(1.0, 0.1, (40, 50)).astype(np.float32)
    mask = rng.random((40, 50)) < 0.1
    filler = GapFiller(n_components=3, n_iter=2).fit(flux, mask)
    filler.save(tmp_path / "pca.npz")
    again = GapFiller.load(tmp_path / "pca.npz")
    assert np.array_equal(again.fill(flux, mask), filler.fill(flux, mask))
