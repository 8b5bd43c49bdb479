"""The catalogue blend pass: neighbour models, isophote contamination, wiring."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from galstar.imaging.blend import BlendConfig
from galstar.imaging.neighbour_model import (
    isophote_contamination,
    moffat_mixture,
    neighbours_from_table,
    render_neighbours,
    sersic_mixture,
)
from galstar.imaging.pipeline import PreprocessConfig, preprocess_cutout

PIXSCALE = 0.262
N = 152
FULL = slice(0, N)


def rows_of(**columns):
    """A neighbour table with defaults for the columns not given."""
    base = {"dx_arcsec": 0.0, "dy_arcsec": 0.0, "TYPE": "EXP", "FLUX_G": 10.0,
            "FLUX_R": 10.0, "FLUX_Z": 10.0, "SHAPE_R": 1.0, "SHAPE_E1": 0.0,
            "SHAPE_E2": 0.0, "SERSIC": 1.0, "PSFSIZE_G": 1.3, "PSFSIZE_R": 1.3,
            "PSFSIZE_Z": 1.3}
    n = max(len(v) for v in columns.values()) if columns else 1
    table = {k: np.full(n, v, dtype=object if isinstance(v, str) else float)
             for k, v in base.items()}
    table.update({k: np.asarray(v) for k, v in columns.items()})
    return pd.DataFrame(table)


@pytest.mark.parametrize("n", [0.5, 1.0, 2.5, 4.0])
def test_sersic_mixture_is_normalised_and_has_the_half_light_radius(n):
    amp, var = sersic_mixture(n, 8.0)
    assert amp.sum() == pytest.approx(1.0)
    # enclosed flux of circular Gaussians at r = r_e
    enclosed = float(np.sum(amp * (1.0 - np.exp(-0.5 / var))))
    assert enclosed == pytest.approx(0.5, abs=0.04)


def test_moffat_mixture_has_unit_fwhm():
    amp, var = moffat_mixture(3.5)
    profile = lambda r: float(np.sum(amp / var * np.exp(-0.5 * r**2 / var)))  # noqa: E731
    assert profile(0.5) / profile(0.0) == pytest.approx(0.5, abs=0.03)


@pytest.mark.parametrize("kind", ["PSF", "EXP", "DEV", "SER"])
def test_rendered_flux_and_step(kind):
    table = rows_of(TYPE=[kind], dx_arcsec=[2.0], dy_arcsec=[-3.0], SERSIC=[2.0],
                    SHAPE_R=[0.0 if kind == "PSF" else 1.5], SHAPE_E1=[0.3])
    nb = neighbours_from_table(table, N, PIXSCALE)
    fine = render_neighbours(nb, FULL, FULL, step=1)
    coarse = render_neighbours(nb, FULL, FULL, step=2)
    # truncated DEV wings reach farther than the cutout: a per cent or two is outside
    assert fine.sum() == pytest.approx(30.0, rel=0.03)
    assert coarse.sum() == pytest.approx(fine.sum(), rel=0.01)


def test_orientation_follows_the_fits_convention():
    # east (+dx) is towards lower columns, north (+dy) towards higher rows; e1 > 0 puts
    # the major axis north-south (position angle 0)
    table = rows_of(dx_arcsec=[5.0], dy_arcsec=[5.0], SHAPE_R=[2.0], SHAPE_E1=[0.5])
    nb = neighbours_from_table(table, N, PIXSCALE)
    model = render_neighbours(nb, FULL, FULL)
    row, col = np.unravel_index(np.argmax(model), model.shape)
    centre = (N - 1) / 2.0
    assert col == pytest.approx(centre - 5.0 / PIXSCALE, abs=1)
    assert row == pytest.approx(centre + 5.0 / PIXSCALE, abs=1)
    ys, xs = np.nonzero(model > 0.5 * model.max())
    assert np.ptp(ys) > 1.5 * np.ptp(xs)


def test_isophote_contamination_matches_noiseless_truth():
    level = 1.0 * PIXSCALE**2
    target_table = rows_of(FLUX_G=[100.0], FLUX_R=[100.0], FLUX_Z=[100.0], SHAPE_R=[2.0])
    neighbour_table = rows_of(dx_arcsec=[4.5], FLUX_G=[30.0], FLUX_R=[30.0], FLUX_Z=[30.0])
    target = render_neighbours(neighbours_from_table(target_table, N, PIXSCALE), FULL, FULL)
    model = render_neighbours(neighbours_from_table(neighbour_table, N, PIXSCALE), FULL, FULL)
    iso = target > level
    truth = model[iso].sum() / target[iso].sum()
    flux = (target + model).astype(np.float64)
    estimate, npix = isophote_contamination(flux, flux - model, model.astype(np.float64),
                                            model.astype(np.float64), level, (75, 75),
                                            symmetry_centre=(75.5, 75.5))
    assert truth > 0.1
    assert estimate == pytest.approx(truth, rel=0.05)
    assert npix == pytest.approx(iso.sum(), rel=0.05)


def scene(neighbour_flux, seed=0):
    """A noisy cutout: an exponential target at the centre and one exponential
    neighbour 3.5" east; and the neighbour's catalogue row."""
    target = rows_of(FLUX_G=[60.0], FLUX_R=[60.0], FLUX_Z=[60.0], SHAPE_R=[1.2])
    nb_row = rows_of(dx_arcsec=[3.5], FLUX_G=[neighbour_flux], FLUX_R=[neighbour_flux],
                     FLUX_Z=[neighbour_flux], SHAPE_R=[1.0])
    image = render_neighbours(neighbours_from_table(pd.concat([target, nb_row]), N,
                                                    PIXSCALE), FULL, FULL)
    rng = np.random.default_rng(seed)
    cube = np.stack([image / 3.0 + rng.normal(0, 0.01, image.shape) for _ in range(3)])
    return cube.astype(np.float32), nb_row


def config_on(**blend):
    values = {"asymmetry_max": 0.05, "catalog_contamination_max": 0.09,
              "catalog_confirm_min": 0.09, **blend}
    return PreprocessConfig(ellipse_scale=1.8, blend=BlendConfig(nsigma=2.3, **values))


def test_catalogue_pass_is_skipped_without_a_catalogue():
    cube, _ = scene(40.0)
    result = preprocess_cutout(cube, config_on())
    assert math.isnan(result.catalog_contamination)
    off = preprocess_cutout(cube, config_on(catalog_contamination_max=0.0),
                            neighbours=scene(40.0)[1])
    assert math.isnan(off.catalog_contamination)


def test_catalogue_pass_finds_a_bright_neighbour_and_clears_a_faint_one():
    cube, table = scene(40.0)
    result = preprocess_cutout(cube, config_on(), neighbours=table)
    assert result.catalog_contamination > 0.09
    assert result.blended and result.reject_reason.startswith("blended")
    faint_cube, faint = scene(0.3)
    clean = preprocess_cutout(faint_cube, config_on(), neighbours=faint)
    assert clean.catalog_contamination < 0.03
    assert not clean.blended


def test_empty_catalogue_means_no_neighbour():
    cube, table = scene(0.3)
    result = preprocess_cutout(cube, config_on(), neighbours=table.iloc[:0])
    assert result.catalog_contamination == 0.0
    assert not result.blended


def test_mirrored_box_reads_the_point_symmetric_pixel():
    from galstar.imaging.neighbour_model import _mirrored

    rng = np.random.default_rng(6)
    for h, w in ((1, 1), (4, 7), (9, 6)):
        image = rng.random((h, w))
        for cr in np.arange(-2.0, h + 2.0, 0.5):
            for cc in np.arange(-2.0, w + 2.0, 0.5):
                expected = np.zeros_like(image)
                r, c = int(round(2 * cr)), int(round(2 * cc))
                for i in range(h):
                    for j in range(w):
                        if 0 <= r - i < h and 0 <= c - j < w:
                            expected[i, j] = image[r - i, c - j]
                np.testing.assert_array_equal(_mirrored(image, (cr, cc)), expected)
