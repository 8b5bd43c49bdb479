"""Savitzky-Golay BIC selection, continuum, the three normalisation passes, degradation,
the grid-side helpers and the label reader."""

from __future__ import annotations

import re

import numpy as np
import pytest
from stellar_files import line_spectrum

from galstar.spectra import (
    DEFAULT_GRIDS,
    RESOLVING_POWER,
    LabelSettings,
    NormaliseSettings,
    add_noise,
    degrade,
    degrade_to_grid,
    normalise,
    prepare_grid_spectrum,
    read_labels,
    rv_shift,
)
from galstar.spectra.continuum import estimate_continuum
from galstar.spectra.smoothing import choose_savgol

WINDOWS = (5, 9, 15, 25, 41, 61)


def smooth_signal(n: int = 8000) -> np.ndarray:
    x = np.arange(n)
    centres = np.linspace(100, n - 100, 40)
    return 1.0 - sum(0.3 * np.exp(-0.5 * ((x - c) / 6.0) ** 2) for c in centres)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bic_picks_wider_window_for_noisier_spectrum(seed):
    rng = np.random.default_rng(seed)
    signal = smooth_signal()
    quiet = choose_savgol(signal + 0.002 * rng.standard_normal(signal.size), WINDOWS, (2, 3))
    noisy = choose_savgol(signal + 0.05 * rng.standard_normal(signal.size), WINDOWS, (2, 3))
    assert noisy.window > quiet.window
    assert len(quiet.scores) == len(WINDOWS) * 2
    # The winner really is the lowest BIC tried.
    assert quiet.bic == min(b for _, _, b in quiet.scores)


def test_bic_skips_identity_and_invalid_candidates():
    y = smooth_signal(200)
    choice = choose_savgol(y, (3, 4, 5, 301), (2, 3, 4))
    # Even windows, windows longer than the data and identity filters (p >= w - 1).
    assert {(w, p) for w, p, _ in choice.scores} == {(5, 2), (5, 3)}
    with pytest.raises(ValueError, match="no valid"):
        choose_savgol(y, (3,), (2,))
    with pytest.raises(ValueError, match="non-finite"):
        choose_savgol(np.array([1.0, np.nan, 1.0, 1.0, 1.0]), (5,), (2,))


def test_continuum_is_upper_envelope():
    w = np.geomspace(6000, 7000, 16384)
    rng = np.random.default_rng(3)
    cont = 2.0 + 0.5 * (w - 6000) / 1000
    lines = np.ones_like(w)
    for c in rng.uniform(6000, 7000, 300):
        lines -= 0.5 * np.exp(-0.5 * ((w - c) / 0.15) ** 2)
    flux = cont * np.clip(lines, 0.05, None) + 0.002 * rng.standard_normal(w.size)
    est = estimate_continuum(w, flux)
    assert np.median(np.abs(est.continuum / cont - 1)) < 0.005
    # The pixels kept as continuum are out of the lines.
    assert est.accepted.sum() > 1000
    assert np.percentile(lines[est.accepted], 10) > 0.98


@pytest.mark.parametrize("mode, level", [("subtract", 0.0), ("divide", 1.0)])
def test_normalise_three_passes(mode, level):
    grid = DEFAULT_GRIDS["vis"].wavelength()
    fine_w, fine_f = line_spectrum(5200, 9600, np.random.default_rng(4), n_lines=3000)
    flux = np.interp(grid, fine_w, fine_f) * 5e3 * (grid / 7000.0) ** -2
    out = normalise(grid, flux, NormaliseSettings(mode=mode))
    assert len(out.choices) == 3 and out.scale == pytest.approx(np.median(flux))
    assert np.all(np.isfinite(out.flux))
    # Continuum pixels (the top quarter) sit at the mode's level, the slope is gone.
    top = out.flux >= np.percentile(out.flux, 75)
    assert np.median(out.flux[top]) == pytest.approx(level, abs=0.02)
    halves = np.array_split(out.flux, 2)
    assert abs(np.percentile(halves[0], 90) - np.percentile(halves[1], 90)) < 0.02
    assert out.bic_seconds > 0


def test_normalise_refuses_bad_input():
    w = np.geomspace(6000, 6100, 100)
    with pytest.raises(ValueError, match="non-finite"):
        normalise(w, np.where(w > 6050, np.nan, 1.0))
    with pytest.raises(ValueError, match="median flux"):
        normalise(w, -np.ones_like(w))
    with pytest.raises(ValueError, match="unknown key"):
        NormaliseSettings.from_mapping({"pases": 3})


def fwhm(x: np.ndarray, y: np.ndarray) -> float:
    """FWHM of a single peak by linear interpolation at half maximum."""
    y = y - np.median(y)
    half = y.max() / 2
    above = np.flatnonzero(y >= half)
    i, j = above[0], above[-1]
    left = np.interp(half, [y[i - 1], y[i]], [x[i - 1], x[i]])
    right = np.interp(half, [y[j + 1], y[j]], [x[j + 1], x[j]])
    return right - left


@pytest.mark.parametrize("centre, resolving_power", [(10000.0, 80400.0), (6000.0, 94600.0),
                                                     (15000.0, 20000.0)])
def test_degraded_delta_line_has_fwhm_lambda_over_r(centre, resolving_power):
    w = np.arange(centre - 20.0, centre + 20.0, 0.001)
    flux = np.ones_like(w)
    flux[np.argmin(np.abs(w - centre))] = 0.0  # a delta absorption line
    out = degrade(w, flux, resolving_power)
    measured = fwhm(w, -out)
    assert measured == pytest.approx(centre / resolving_power, rel=0.02)
    # The blur keeps the line's equivalent width (flux conserved).
    assert np.sum(1 - out) == pytest.approx(1.0, rel=0.02)


def test_one_kernel_serves_the_whole_range():
    w = np.arange(6000.0, 9000.0, 0.005)
    flux = np.ones_like(w)
    centres = (6100.0, 7500.0, 8900.0)
    for c in centres:
        flux[np.argmin(np.abs(w - c))] = 0.0
    out = degrade(w, flux, 50000.0)
    for c in centres:
        sel = np.abs(w - c) < 1.0
        assert fwhm(w[sel], -out[sel]) == pytest.approx(c / 50000.0, rel=0.02)


def test_grid_spectrum_matches_observed_grid_and_augmentation():
    rng = np.random.default_rng(5)
    w, f = line_spectrum(5100, 9700, rng, n_lines=2000, resolving_power=300000.0)
    grid = DEFAULT_GRIDS["vis"]
    out = prepare_grid_spectrum(w, f * 1e5, grid, RESOLVING_POWER["vis"])
    assert out.resampled.shape == (grid.n_pixels,) and np.all(np.isfinite(out.normalised.flux))
    np.testing.assert_array_equal(out.wavelength, grid.wavelength())
    # RV augmentation moves a line by v/c (to within a grid pixel).
    line = np.ones_like(w)
    k = np.argmin(np.abs(w - 7000.0))
    line[k - 2:k + 3] = 0.0
    shifted = degrade_to_grid(w, line, grid, RESOLVING_POWER["vis"], rv_kms=50.0)
    gw = grid.wavelength()
    expected = rv_shift(np.array([w[k]]), 50.0)[0]
    assert abs(gw[np.nanargmin(shifted)] - expected) <= 1.5 * expected / grid.sampling_resolution
    # Noise at a target S/N.
    noisy, sigma = add_noise(np.full(100000, 50.0), 40.0, rng)
    assert np.std(noisy) == pytest.approx(50.0 / 40.0, rel=0.02)
    np.testing.assert_allclose(sigma, 50.0 / 40.0)
    with pytest.raises(ValueError, match="does not cover"):
        prepare_grid_spectrum(w[w > 6000], f[w > 6000], grid, RESOLVING_POWER["vis"])


LABELS = """\
# literature compilation (Schweitzer et al. 2019 columns)
Karmn,Teff,e_Teff,logg,e_logg,[Fe/H],e_[Fe/H]
J00051+457,3700,51,4.80,0.07,0.02,0.16
J00067-075,-9999,51,5.00,0.07,0.00,0.16
J00162+198,3300,51,,0.07,-0.10,0.16
J00183+440,5200,51,4.60,0.07,0.10,0.16
J00051+457,3650,51,4.85,0.07,0.05,0.16
J01013+613,3500,51,5.00,0.07,-1.50,0.16
J01025+716,3400,51,4.90,0.07,-9999,0.16
,3400,51,4.90,0.07,0.0,0.16
J02002+130,3100,51,5.10,0.07,-0.20,0.16
"""


def test_labels_drop_sentinels_missing_and_out_of_grid(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text(LABELS)
    labels = read_labels(path)
    assert list(labels.kept["karmn"]) == ["J00051+457", "J02002+130"]
    assert list(labels.kept["teff"]) == [3700.0, 3100.0]
    assert set(labels.kept["mh_source"]) == {"[Fe/H]"}
    assert dict(zip(labels.rejects["karmn"], labels.rejects["reject_reason"], strict=True)) \
        == {"J00067-075": "sentinel: teff=-9999",
            "J00162+198": "missing: logg",
            "J00183+440": "out_of_grid: teff=5200 not in [2300, 4500]",
            "J00051+457": "duplicate_id",
            "J01013+613": "out_of_grid: mh=-1.5 not in [-1, 0.5]",
            "J01025+716": "sentinel: mh=-9999",
            "": "missing: Karmn"}
    # A Teff-only experiment keeps the stars whose other labels are bad.
    teff_only = read_labels(path, LabelSettings(required=("teff",)))
    assert list(teff_only.kept["karmn"]) == ["J00051+457", "J00162+198", "J01013+613",
                                             "J01025+716", "J02002+130"]
    assert np.isnan(teff_only.kept["logg"][1])


def test_labels_bad_files_name_the_file(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match=re.escape(str(empty)) + ": empty"):
        read_labels(empty)
    no_id = tmp_path / "noid.csv"
    no_id.write_text("Name,Teff,logg,[M/H]\nGJ 1,3300,5.0,0.0\n")
    with pytest.raises(ValueError, match=re.escape(str(no_id)) + ": no Karmn column"):
        read_labels(no_id)
    no_logg = tmp_path / "nologg.csv"
    no_logg.write_text("Karmn,Teff,[M/H]\nJ1,3300,0.0\n")
    with pytest.raises(ValueError, match="no logg column"):
        read_labels(no_logg)
    mh = tmp_path / "mh.csv"
    mh.write_text("Karmn,Teff,logg,[M/H],[Fe/H]\nJ1,3300,5.0,0.1,0.3\n")
    kept = read_labels(mh).kept
    assert kept["mh"][0] == 0.1 and kept["mh_source"][0] == "[M/H]"
