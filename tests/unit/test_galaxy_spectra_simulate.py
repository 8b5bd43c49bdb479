"""The SDSS galaxy-spectrum simulator: line positions and strengths, the 4000 A break,
noise against the catalogued S/N, masks and bad spectra."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import median_filter

from galstar.simulate import galaxy_continuum as gc
from galstar.simulate import galaxy_spectra as gs


def simulate(n=1, z=0.1, ssfr=-9.8, lgm_fib=10.0, r_fib_mag=18.5, dust=0.4, sn=30.0,
             seed=0, **model):
    full = np.ones(n)
    return gs.simulate_spectra(
        z * full, 10 ** (-0.4 * (r_fib_mag - 22.5)) * full, np.broadcast_to(ssfr, n) * 1.0,
        lgm_fib * full, (lgm_fib + 0.3) * full, dust * full, 120.0 * full, sn * full,
        np.random.default_rng(seed), gs.SpectrumModel(**model))


def test_grid_is_sdss_legacy():
    loglam = gs.sdss_loglam()
    assert loglam.size == 3840 and np.allclose(np.diff(loglam), 1e-4)
    assert 3795 < 10 ** loglam[0] < 3805 and 9150 < 10 ** loglam[-1] < 9250


@pytest.mark.parametrize("z", [0.03, 0.12, 0.3])
def test_lines_at_redshifted_wavelengths(z):
    spec = simulate(z=z, ssfr=-9.5, sn=50.0, masked_runs_mean=0.0, bad_spectrum_fraction=0.0)
    lines_only = spec.model[0] - median_filter(spec.model[0], size=61)
    wave = 10 ** spec.loglam
    checked = 0
    for name in ("H_alpha", "H_beta", "[O_III] 5007", "[N_II] 6583", "[O_II] 3727"):
        centre = gs.EMISSION_LINES[name] * (1 + z)
        if not wave[5] < centre < wave[-5]:
            continue
        pix = int(np.argmin(np.abs(wave - centre)))
        window = lines_only[pix - 4:pix + 5]
        # a local maximum within one pixel of the expected centre
        assert abs(int(np.argmax(window)) - 4) <= 1, name
        checked += 1
    assert checked >= (3 if z > 0.25 else 5)


def test_halpha_rises_with_sfr_and_falls_with_dust():
    ssfr = np.array([-11.5, -10.5, -9.5, -8.8])
    spec = simulate(n=4, ssfr=ssfr)
    ha = spec.line_flux["H_alpha"]
    assert np.all(np.diff(ha) > 0)
    assert np.allclose(ha[1:] / ha[:-1], 10 ** np.diff(ssfr), rtol=1e-6)  # L(Ha) ~ SFR
    # the line in the spectrum carries that flux: integrate model minus continuum
    wave = 10 ** spec.loglam
    centre = gs.EMISSION_LINES["H_alpha"] * 1.1
    near = np.abs(wave - centre) < 6.0
    side = (np.abs(wave - centre) > 40) & (np.abs(wave - centre) < 60)
    dlam = wave * 1e-4 * np.log(10)
    measured = ((spec.model[:, near] - np.median(spec.model[:, side], 1)[:, None])
                * dlam[near]).sum(1)
    assert np.allclose(measured[2:], ha[2:], rtol=0.15)
    dusty = simulate(n=1, ssfr=-9.5, dust=1.5).line_flux["H_alpha"][0]
    assert dusty < 0.5 * simulate(n=1, ssfr=-9.5, dust=0.3).line_flux["H_alpha"][0]


def test_balmer_decrement_and_metallicity_ratios():
    z = np.full(3, 0.1)
    oh = np.array([8.3, 8.6, 8.9])
    no_dust = gs.emission_line_fluxes(z, np.zeros(3), np.zeros(3), oh)
    assert np.allclose(no_dust["H_alpha"] / no_dust["H_beta"], 2.86)
    n2 = no_dust["[N_II] 6583"] / no_dust["H_alpha"]
    o3 = no_dust["[O_III] 5007"] / no_dust["H_beta"]
    assert np.all(np.diff(n2) > 0) and np.all(np.diff(o3) < 0)
    dusty = gs.emission_line_fluxes(z, np.zeros(3), np.ones(3), oh)
    assert np.all(dusty["H_alpha"] / dusty["H_beta"] > 3.5)  # reddened decrement


def test_d4000_falls_with_ssfr():
    ssfr = np.array([-12.5, -11.5, -10.8, -10.0, -9.2])
    spec = simulate(n=5, ssfr=ssfr, dust=0.2)
    assert np.all(np.diff(spec.d4000) < 0)
    assert spec.d4000[0] > 1.8 and spec.d4000[-1] < 1.3  # SDSS range ~1.1-2.1
    # the noiseless spectrum shows the same break once shifted to the rest frame
    wave_rest = 10 ** spec.loglam / 1.1
    assert np.allclose(gc.d4000n(wave_rest, spec.model), spec.d4000, rtol=0.03)


@pytest.mark.parametrize("sn", [5.0, 12.0, 40.0])
def test_noise_matches_catalogued_sn(sn):
    spec = simulate(n=30, ssfr=-11.5, sn=sn, masked_runs_mean=0.0, bad_spectrum_fraction=0.0)
    wave = 10 ** spec.loglam
    rband = (wave > 5600) & (wave < 6800)
    snr = np.median(spec.model[:, rband] * np.sqrt(spec.ivar[:, rband]), axis=1)
    assert np.allclose(snr, sn, rtol=0.02)
    scatter = np.std((spec.flux - spec.model)[:, rband] * np.sqrt(spec.ivar[:, rband]))
    assert 0.9 < scatter < 1.15  # ivar describes the noise actually added


def test_fainter_fibre_at_fixed_sn_scales_the_flux_and_sky_stays():
    bright, faint = simulate(r_fib_mag=17.5), simulate(r_fib_mag=19.5)
    wave = 10 ** bright.loglam
    rband = (wave > 5600) & (wave < 6800)
    ratio = bright.model[0, rband].mean() / faint.model[0, rband].mean()
    assert ratio == pytest.approx(10 ** 0.8, rel=0.05)
    assert np.array_equal(bright.sky, faint.sky)
    optical = np.flatnonzero(wave < 6800)  # blueward of the OH forest
    sky_peak = optical[np.argmax(bright.sky[0, optical])]
    assert abs(wave[sky_peak] - 5578.9) < 2.0  # the [O I] 5577 line
    assert bright.sky[0, sky_peak] > 20 * np.median(bright.sky[0])
    assert bright.and_mask[0, sky_peak] & (1 << gs.SPPIXMASK["BRIGHTSKY"])


def test_masked_runs_and_bad_spectra():
    spec = simulate(n=200, masked_runs_mean=2.0, bad_spectrum_fraction=0.0)
    zero = spec.ivar == 0
    full = 1 << gs.SPPIXMASK["FULLREJECT"]
    assert zero.any(1).mean() > 0.7
    assert np.array_equal(zero, (spec.and_mask & full) != 0)
    assert np.all((spec.or_mask & spec.and_mask) == spec.and_mask)  # or_mask contains and
    bad = simulate(n=60, bad_spectrum_fraction=1.0, masked_runs_mean=0.0)
    assert set(bad.bad) == {"dead_fibre", "missing_blue", "missing_red"}
    wave = 10 ** bad.loglam
    for i, kind in enumerate(bad.bad):
        blue_dead = (bad.ivar[i, wave < 5800] == 0).all()
        red_dead = (bad.ivar[i, wave > 6000] == 0).all()
        assert (blue_dead, red_dead) == {"dead_fibre": (True, True),
                                         "missing_blue": (True, False),
                                         "missing_red": (False, True)}[kind]
        assert np.all(bad.and_mask[i, bad.ivar[i] == 0] & (1 << gs.SPPIXMASK["NODATA"]))


def test_line_detection_follows_sfr_and_sn():
    ssfr = np.repeat([-12.3, -9.6], 20)
    spec = simulate(n=40, ssfr=ssfr, sn=15.0)
    snr = spec.line_snr["H_alpha"]
    assert np.all(snr[:20] < 3.0) and np.all(snr[20:] > 10.0)
    low_sn = simulate(n=20, ssfr=-9.6, sn=3.0).line_snr["H_alpha"]
    assert np.median(low_sn) < 0.3 * np.median(snr[20:])


def test_noiseless_spectra_is_the_simulators_model_on_a_wider_grid():
    rng = np.random.default_rng(1)
    n = 12
    z, fib = rng.uniform(0.02, 0.3, n), rng.uniform(3, 20, n)
    ssfr, lgm = rng.uniform(-12, -9.3, n), rng.uniform(9.3, 10.8, n)
    dust, vdisp = rng.uniform(0.1, 1.2, n), rng.uniform(60, 200, n)
    for k in (0, 3):  # the mock's plates start k pixels to the red
        loglam = gs.sdss_loglam(gs.LOGLAM_START + gs.LOGLAM_STEP * k, gs.N_PIXELS - k)
        sim = gs.simulate_spectra(z, fib, ssfr, lgm, lgm + 0.4, dust, vdisp, np.full(n, 10.0),
                               np.random.default_rng(2), loglam=loglam)
        wide = gs.sdss_loglam(gs.LOGLAM_START + gs.LOGLAM_STEP * (k - 300), gs.N_PIXELS - k + 300)
        model = gs.noiseless_spectra(wide, z, fib, ssfr, lgm, sim.oh, dust, vdisp)
        assert np.array_equal(model[:, 300:300 + loglam.size], sim.model)
        assert (model[:, :300] > 0).all()  # and beyond the observed range too
