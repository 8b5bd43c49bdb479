"""Shape filter, order stitching, flux-conserving resampling and the observed-arm chain."""

from __future__ import annotations

import numpy as np
import pytest
from stellar_files import echelle_arrays, write_caracal

from galstar.spectra import (
    ArmGrid,
    EchelleSpectrum,
    ObservedSettings,
    Rejected,
    ShapeSettings,
    StitchSettings,
    check_shape,
    fill_masked,
    filter_shapes,
    preprocess_observed,
    read_carmenes,
    resample_flux,
    resample_to_grid,
    stitch,
)
from galstar.spectra.echelle import THESIS_SHAPES


def smooth_flux(w: np.ndarray) -> np.ndarray:
    """A smooth 'stellar' shape with features wider than a pixel."""
    return 1.0 + 0.2 * np.sin(w / 1.3) + 0.05 * (w - 5000.0)


def echelle(wave: np.ndarray, flux: np.ndarray, arm: str = "vis", cont=None) -> EchelleSpectrum:
    return EchelleSpectrum(path="synthetic.fits", arm=arm, wavelength=wave, flux=flux,
                           sigma=0.01 * np.abs(flux), continuum=cont,
                           good=np.isfinite(wave) & np.isfinite(flux))


def two_orders() -> tuple[np.ndarray, np.ndarray]:
    # Order 0: 5000-5010 A, order 1: 5008-5018 A on a different pixel phase and step.
    w0 = np.linspace(5000.0, 5010.0, 1001)
    w1 = np.linspace(5008.0037, 5018.0, 935)
    n = max(w0.size, w1.size)
    wave = np.full((2, n), np.nan)
    wave[0, :w0.size], wave[1, :w1.size] = w0, w1
    return wave, smooth_flux(wave)


def test_stitch_two_overlapping_orders():
    wave, flux = two_orders()
    out = stitch(echelle(wave, flux))
    w = out.wavelength
    assert np.all(np.diff(w) > 0)  # strictly increasing
    assert np.unique(w).size == w.size  # no duplicated wavelength
    # Order 0 kept whole; order 1 starts after its last pixel.
    np.testing.assert_array_equal(w[:1001], wave[0, :1001])
    assert w[1001] > 5010.0
    n_overlap = int(np.sum(wave[1, :935] <= 5010.0))
    assert out.junctions[0].overlap_px == n_overlap
    assert w.size == 1001 + 935 - n_overlap
    assert out.junctions[0].flux_ratio == pytest.approx(1.0, abs=1e-3)
    # Flux continuous: the junction step is no larger than the steps next to it.
    steps = np.abs(np.diff(out.flux))
    assert steps[1000] <= 1.5 * max(steps[995:1000].max(), steps[1001:1006].max())
    np.testing.assert_allclose(out.flux, smooth_flux(w))
    assert out.gaps == ()


def test_stitch_orders_in_any_order_and_direction():
    wave, flux = two_orders()
    rev = echelle(wave[::-1].copy(), flux[::-1].copy())
    a, b = stitch(echelle(wave, flux)), stitch(rev)
    np.testing.assert_array_equal(a.wavelength, b.wavelength)
    # A row stored red-to-blue is reversed.
    w = np.linspace(5000.0, 5010.0, 500)[None, ::-1]
    out = stitch(echelle(w.copy(), smooth_flux(w)))
    assert np.all(np.diff(out.wavelength) > 0)


def test_flux_jump_between_orders_is_rejected():
    wave, flux = two_orders()
    flux[1] *= 4.0
    with pytest.raises(Rejected, match="discontinuity: flux ratio 0.25") as info:
        stitch(echelle(wave, flux))
    assert info.value.code == "discontinuity"


def test_wide_gap_rejected_and_telluric_gap_tolerated():
    w = np.concatenate([np.linspace(12000, 12100, 500), np.linspace(12400, 12500, 500)])
    with pytest.raises(Rejected, match="discontinuity: gap of 300.0 A at 12100.0 A"):
        stitch(echelle(w[None, :], smooth_flux(w)[None, :]))
    w = np.concatenate([np.linspace(12500, 13500, 5000), np.linspace(14000, 15000, 5000)])
    out = stitch(echelle(w[None, :], smooth_flux(w)[None, :]))
    assert [g.kind for g in out.gaps] == ["telluric"]
    assert out.gaps[0].width == pytest.approx(500.0)
    assert out.gap_fraction == pytest.approx(0.2)
    with pytest.raises(Rejected, match="^gaps: 1 gaps cover 20.0% of the range"):
        stitch(echelle(w[None, :], smooth_flux(w)[None, :]),
               StitchSettings(max_gap_fraction=0.1))


def test_no_valid_orders_rejected():
    wave, flux = two_orders()
    with pytest.raises(Rejected, match="^no_valid_orders"):
        stitch(echelle(wave, np.full_like(flux, np.nan)))


def test_deblaze_uses_cont():
    wave, flux = two_orders()
    blaze = np.where(np.isfinite(wave), 0.5 + 0.5 * np.cos(np.linspace(-1, 1, wave.shape[1])),
                     np.nan)
    out = stitch(echelle(wave, flux * blaze * 1e4, cont=blaze * 1e4))
    np.testing.assert_allclose(out.flux, smooth_flux(out.wavelength), rtol=1e-12)


def test_resampling_conserves_flux_on_flat_spectrum():
    rng = np.random.default_rng(0)
    # Irregular input pixels (as a stitched spectrum), flat F_lambda = 3.2.
    w = np.cumsum(rng.uniform(0.02, 0.06, 20000)) + 5000.0
    f = np.full(w.size, 3.2)
    grid = ArmGrid(5010.0, w[-1] - 10.0, 4096).wavelength()
    out = resample_flux(grid, w, f)
    np.testing.assert_allclose(out, 3.2, rtol=1e-3)
    # A structured spectrum: the integral over the grid's span is kept to 1e-3.
    f = 1.0 + 0.5 * np.sin(w / 3.0) ** 2
    out = resample_flux(grid, w, f)
    edges = np.concatenate([[1.5 * grid[0] - 0.5 * grid[1]], 0.5 * (grid[1:] + grid[:-1]),
                            [1.5 * grid[-1] - 0.5 * grid[-2]]])
    fine = np.linspace(edges[0], edges[-1], 2_000_001)
    truth = np.trapezoid(1.0 + 0.5 * np.sin(fine / 3.0) ** 2, fine)
    assert np.sum(out * np.diff(edges)) == pytest.approx(truth, rel=1e-3)


def test_resample_to_grid_fills_and_flags_gaps():
    w = np.concatenate([np.linspace(6000, 6100, 4000), np.linspace(6120, 6200, 3000)])
    f = np.full(w.size, 2.0)
    wave = w[None, :]
    stitched = stitch(echelle(wave, f[None, :]))
    grid = np.geomspace(5990, 6190, 2000)
    out = resample_to_grid(stitched.wavelength, stitched.flux, stitched.sigma, grid,
                           stitched.gaps)
    assert np.all(np.isfinite(out.flux))
    np.testing.assert_allclose(out.flux, 2.0, rtol=1e-9)
    expected = (grid > 6100) & (grid < 6120) | (grid < w[0] + 0.0125)
    assert out.filled.sum() == pytest.approx(expected.sum(), abs=2)
    assert np.all(np.isnan(out.sigma[out.filled]))
    synthetic = fill_masked(grid, np.sin(grid), out.filled)
    assert np.array_equal(synthetic[~out.filled], np.sin(grid)[~out.filled])


def test_shape_filter_defaults_and_thesis_shapes():
    vis = echelle(np.ones((61, 4096)), np.ones((61, 4096)))
    nir = echelle(np.ones((56, 2040)), np.ones((56, 2040)), arm="nir")
    thesis = echelle(np.ones((61, 3699)), np.ones((61, 3699)))
    kept, rejects = filter_shapes([vis, nir, thesis])
    assert kept == [vis, nir]
    assert [r.reason for r in rejects] == [
        "wrong_shape: vis orders (61, 3699), accepted (61, 4096)"]
    settings = ShapeSettings.from_mapping({"shapes": {k: [v] for k, v in THESIS_SHAPES.items()}})
    assert check_shape(thesis, settings) == ""
    assert check_shape(vis, settings).startswith("wrong_shape")
    with pytest.raises(ValueError, match="unknown key"):
        ShapeSettings.from_mapping({"shape": {}})


def test_observed_chain_on_caracal_files(tmp_path):
    results = {}
    for arm in ("vis", "nir"):
        path = write_caracal(tmp_path / f"car-20160501T231105-sci-gtoc-{arm}_A.fits", arm,
                             seed=21)
        results[arm] = preprocess_observed(read_carmenes(path))
    for r in results.values():
        assert r.kept, r.reject_reason
        assert r.normalised.flux.shape == (16384,)
        assert np.all(np.isfinite(r.normalised.flux))
        assert len(r.normalised.choices) == 3
        assert r.object_id == "J17578+046"
    # Every one of the 28 NIR detector gaps is found (at a junction of split orders;
    # those inside the telluric windows are labelled so); VIS orders overlap: no gap.
    gaps = results["nir"].stitched.gaps
    assert len(gaps) >= 28 and {g.kind for g in gaps} <= {"order_junction", "telluric"}
    assert results["vis"].stitched.gaps == ()


def test_observed_chain_records_rejects(tmp_path):
    arrays = echelle_arrays("vis", seed=22)
    cropped = {k: v[:, :3699] for k, v in arrays.items()}
    path = write_caracal(tmp_path / "car-1-sci-gtoc-vis_A.fits", "vis", arrays=cropped)
    r = preprocess_observed(read_carmenes(path))
    assert not r.kept and r.reject_reason.startswith("wrong_shape")
    arrays["SPEC"][10:14] = np.nan  # four consecutive orders lost: > 200 A hole
    path = write_caracal(tmp_path / "car-2-sci-gtoc-vis_A.fits", "vis", arrays=arrays)
    r = preprocess_observed(read_carmenes(path))
    assert r.reject_reason.startswith("discontinuity: gap of")
    narrow = ObservedSettings(grids={"vis": ArmGrid(4000.0, 9550.0, 4096)})
    path = write_caracal(tmp_path / "car-3-sci-gtoc-vis_A.fits", "vis", seed=23)
    r = preprocess_observed(read_carmenes(path), narrow)
    assert r.reject_reason.startswith("grid_coverage:")
