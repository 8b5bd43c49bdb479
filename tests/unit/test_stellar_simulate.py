"""The stellar simulator: grid axes, parameter dependences, CARMENES observation physics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from galstar.simulate import carmenes_observing as co
from galstar.simulate import stellar_spectra as ss


@pytest.fixture(scope="module")
def lines():
    return ss.make_line_list()


def _normalised(lines, teff, logg, mh, lo=7017.0, hi=7186.0, r=94_600.0):
    wave = ss.log_lambda_grid(lo, hi)
    flux = ss.intrinsic_spectrum(wave, teff, logg, mh, lines)
    sigma_px = ss.NATIVE_R / r / 2.3548
    return wave, gaussian_filter1d(flux, sigma_px) / ss.blackbody_flux(wave, teff)


def test_grid_axes_match_the_btsettl_subgrid():
    nodes = ss.grid_nodes()
    assert nodes.shape == (23 * 4 * 4, 3)
    assert np.unique(nodes[:, 0]).tolist() == list(range(2300, 4501, 100))
    assert np.unique(nodes[:, 1]).tolist() == [4.0, 4.5, 5.0, 5.5]
    assert np.unique(nodes[:, 2]).tolist() == [-1.0, -0.5, 0.0, 0.5]
    assert ss.in_grid(nodes[:, 0], nodes[:, 1], nodes[:, 2]).all()
    assert not ss.in_grid(2200.0, 5.0, 0.0) and not ss.in_grid(3000.0, 5.0, 0.6)


def test_line_list_is_fixed_by_its_seed(lines):
    again = ss.make_line_list()
    assert np.array_equal(lines.wavelength, again.wavelength)
    assert np.array_equal(lines.log_strength, again.log_strength)
    other = ss.make_line_list(seed=1)
    assert len(other) != len(lines) or not np.array_equal(other.wavelength, lines.wavelength)
    assert np.all(np.diff(lines.wavelength) >= 0)
    counts = np.bincount(lines.species, minlength=len(ss.MOLECULES))
    assert (counts > 1000).all(), dict(zip(ss.MOLECULES, counts, strict=True))


def test_native_sampling_is_at_least_300000(lines):
    wave = ss.log_lambda_grid(5000.0, 17500.0)
    r = wave[:-1] / np.diff(wave)
    assert r.min() == pytest.approx(300_000, rel=1e-6)
    flux = ss.intrinsic_spectrum(wave[:20000], 3300.0, 5.0, 0.0, lines)
    assert np.all(np.isfinite(flux)) and np.all(flux > 0)


def test_blackbody_peak_follows_wien():
    wave = np.linspace(3000.0, 30000.0, 27001)
    for teff in (2500.0, 4000.0):
        peak = wave[np.argmax(ss.blackbody_flux(wave, teff))]
        assert peak == pytest.approx(2.8978e7 / teff, rel=2e-3)


def test_tio_bands_deepen_towards_cool_stars(lines):
    depth = {}
    for teff in (4300.0, 3500.0, 2800.0):
        wave, norm = _normalised(lines, teff, 5.0, 0.0)
        band = (wave > 7060) & (wave < 7180)
        depth[teff] = 1.0 - norm[band].mean()
    assert depth[4300.0] < 0.15 < depth[3500.0] < depth[2800.0], depth


def test_metallicity_strengthens_lines(lines):
    _, poor = _normalised(lines, 4000.0, 5.0, -1.0)
    _, rich = _normalised(lines, 4000.0, 5.0, 0.5)
    assert (1 - rich).mean() > 2.0 * (1 - poor).mean()


def test_log_g_is_weaker_than_teff_in_the_tio_window(lines):
    """Degenerate like real M dwarfs: 0.5 dex of log g changes the spectrum less than
    100 K of Teff, yet it is not invisible."""
    _, base = _normalised(lines, 3300.0, 5.0, 0.0)
    _, hot = _normalised(lines, 3400.0, 5.0, 0.0)
    _, dense = _normalised(lines, 3300.0, 5.5, 0.0)
    d_teff, d_logg = np.std(hot - base), np.std(dense - base)
    assert 1e-4 < d_logg < d_teff


def test_nearest_node_recovers_teff_without_gap(lines):
    """An off-grid star with noise (S/N 100) lies closest (chi^2) to its Teff neighbours."""
    rng = np.random.default_rng(5)
    wave, obs = _normalised(lines, 3340.0, 4.9, -0.1)
    obs = obs + rng.normal(0, 0.01, obs.size)
    nodes = [(t, g, m) for t in range(3000, 3801, 100) for g in (4.5, 5.0, 5.5)
             for m in (-0.5, 0.0, 0.5)]
    chi2 = [np.sum((obs - _normalised(lines, t, g, m)[1]) ** 2) for t, g, m in nodes]
    best = nodes[int(np.argmin(chi2))]
    assert best[0] in (3300, 3400), best


def test_rotational_kernel_is_normalised_and_as_wide_as_vsini():
    kern = co.rotational_kernel(20.0, 1.0)
    assert kern.sum() == pytest.approx(1.0)
    assert len(kern) == 41 and kern[0] < kern[20]
    assert len(co.rotational_kernel(0.3, 1.0)) == 1


def test_synthetic_gap_scale_zero_is_identity_and_one_perturbs(lines):
    same = ss.perturb_line_list(lines, ss.SyntheticGap(scale=0.0))
    assert same is lines
    gap = ss.SyntheticGap()
    star = ss.perturb_line_list(lines, gap, seed=3)
    assert len(star) == len(lines) + round(gap.missing_fraction * len(lines))
    assert star.band_scale["TiO"] == pytest.approx(1.15)
    _, a = _normalised(lines, 3300.0, 5.0, 0.0)
    _, b = _normalised(star, 3300.0, 5.0, 0.0)
    assert np.std(a - b) > 0.005


def test_carmenes_layout_shapes_overlaps_and_detector_gap():
    vis, nir = co.carmenes_layout("vis"), co.carmenes_layout("nir")
    assert vis.wave.shape == (61, 4096) and nir.wave.shape == (28, 4080)
    assert np.all(np.diff(vis.wave, axis=1) > 0) and np.all(np.diff(nir.wave, axis=1) > 0)
    assert np.all(vis.wave[1:, 0] < vis.wave[:-1, -1])  # VIS orders overlap
    assert np.any(nir.wave[1:, 0] > nir.wave[:-1, -1])  # red NIR orders leave gaps
    step = np.diff(np.log(nir.wave), axis=1)
    jump = step[:, 2039] / np.median(step, axis=1)
    assert np.all(jump > 50) and np.all(np.delete(step, 2039, axis=1) / np.median(step) < 1.5)
    assert vis.wave[0, 0] == pytest.approx(5200, rel=0.01)
    assert nir.wave[-1, -1] == pytest.approx(17100, rel=0.01)
    sub = co.carmenes_layout("vis", [45, 30])
    assert sub.orders.tolist() == [30, 45] and np.array_equal(sub.wave[1], vis.wave[45])
    with pytest.raises(ValueError, match="0..27"):
        co.carmenes_layout("nir", [28])


def _observe(lines, layout, rng, **kw):
    args = dict(teff=3300.0, logg=5.0, mh=0.0, vsini=2.0, rv=18.0, berv=-11.0, airmass=1.2,
                pwv_mm=3.0, snr=150.0)
    args.update(kw)
    return co.observe_arm(layout, lines=lines, rng=rng, tellurics=co.telluric_line_list(),
                          **args)


def test_observed_snr_and_noise_match_the_target(lines):
    layout = co.carmenes_layout("vis", [30, 31, 45])
    obs = _observe(lines, layout, np.random.default_rng(2))
    assert obs.spec.shape == obs.sig.shape == obs.cont.shape == (3, 4096)
    assert obs.snr.max() == pytest.approx(150.0, rel=0.25)
    twin = _observe(lines, layout, np.random.default_rng(3))  # same star, other noise
    pull = (obs.spec - twin.spec) / (np.sqrt(2) * obs.sig)
    assert np.nanstd(pull) == pytest.approx(1.0, abs=0.03)
    depth = 1 - np.nanmean(obs.spec / obs.cont)
    assert 0.1 < depth < 0.6  # an M dwarf: lines and bands everywhere


def test_doppler_shift_follows_rv_and_berv(lines):
    """Cross-correlating with the rest-frame model finds rv - berv (topocentric)."""
    layout = co.carmenes_layout("vis", [45])
    rv, berv = 23.0, -9.0
    obs = _observe(lines, layout, np.random.default_rng(1), rv=rv, berv=berv, snr=400.0)
    w = layout.wave[0]
    rest = ss.log_lambda_grid(w[0] * 0.99, w[-1] * 1.01)
    model = gaussian_filter1d(ss.intrinsic_spectrum(rest, 3300.0, 5.0, 0.0, lines),
                              ss.NATIVE_R / 94_600 / 2.3548)
    good = np.isfinite(obs.spec[0])
    data = obs.spec[0][good] / obs.cont[0][good]
    vels = np.arange(0.0, 60.0, 0.2)
    cc = []
    for v in vels:
        tpl = np.interp(w[good] / (1 + v / ss.C_KMS), rest, model)
        cc.append(np.corrcoef(tpl, data)[0, 1])
    expected = ((1 + rv / ss.C_KMS) / (1 + berv / ss.C_KMS) - 1) * ss.C_KMS
    assert vels[int(np.argmax(cc))] == pytest.approx(expected, abs=0.5)


def test_telluric_gaps_are_nan_in_spec_and_sig(lines):
    layout = co.carmenes_layout("nir")
    k = int(np.argmin(np.abs(layout.wave[:, 2040] - 13900)))
    sub = co.carmenes_layout("nir", [k])
    obs = _observe(lines, sub, np.random.default_rng(3), pwv_mm=5.0)
    gap = np.isnan(obs.spec)
    assert gap.sum() > 500 and np.array_equal(gap, np.isnan(obs.sig))
    assert obs.defects["telluric_gap_px"] == gap.sum()


def test_cosmetics_nan_order_and_bad_columns(lines):
    obs = _observe(lines, co.carmenes_layout("vis", [30, 31]), np.random.default_rng(4))
    co.add_cosmetics(obs, np.random.default_rng(0), bad_columns_per_order=2.0,
                     nan_order_probability=1.0)
    nan_rows = np.all(np.isnan(obs.spec), axis=1)
    assert nan_rows.sum() == 1 and obs.defects["nan_orders"] == 1
    assert obs.snr[nan_rows][0] == 0.0
    assert obs.defects["bad_columns"] >= 1 and (obs.spec == 0).any()


def test_stellar_parameters_look_like_a_carmenes_sample():
    rng = np.random.default_rng(11)
    p = ss.draw_stellar_parameters(4000, rng, outside_fraction=0.05)
    assert 0.93 < p["in_grid"].mean() < 0.97
    assert p["teff"].between(2150, 4700).all() and p["vsini"].between(1.5, 30.0).all()
    assert 0.77 < (p["vsini"] < 3.0).mean() < 0.83
    inside = p[p["in_grid"]]
    # cooler dwarfs are denser: log g anticorrelates with Teff
    assert np.corrcoef(inside["teff"], inside["logg"])[0, 1] < -0.5
    cond = co.draw_observing_conditions(4000, rng)
    assert cond["berv"].abs().max() < 30.0 and cond["dec"].min() > -23.0
    assert (cond["bjd"] - cond["mjd"] - 2400000.5).abs().max() < 0.03
