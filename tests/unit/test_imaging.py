"""Unit tests of galstar.imaging on hand-built images with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from galstar.imaging.blend import BlendConfig
from galstar.imaging.ellipse import Ellipse, ellipse_mask
from galstar.imaging.pipeline import PreprocessConfig, preprocess_cutout
from galstar.imaging.rgb import (
    display_rgb,
    rgb_to_grey,
    to_band_order,
    viewer_rgb,
    viewer_rgb_and_grey,
)
from galstar.imaging.size import centre_crop
from galstar.imaging.threshold import isodata_threshold
from galstar.imaging.variants import make_variant, resample, select_bands

N = 152
CENTRE = (N - 1) / 2.0
YY, XX = np.mgrid[:N, :N].astype(np.float64)
COLOUR = np.array([0.5, 1.0, 1.5])  # g, r, z flux ratios of a red-ish galaxy


def gaussian(x0, y0, sigma_a, sigma_b, angle_deg, peak):
    """Elliptical Gaussian (peak nanomaggies per band before colour)."""
    t = math.radians(angle_deg)
    dx, dy = XX - x0, YY - y0
    u = dx * math.cos(t) + dy * math.sin(t)
    v = -dx * math.sin(t) + dy * math.cos(t)
    return peak * np.exp(-0.5 * ((u / sigma_a) ** 2 + (v / sigma_b) ** 2))


def cube_of(image, noise=0.005, seed=0):
    rng = np.random.default_rng(seed)
    cube = COLOUR[:, None, None] * image[None] + rng.normal(0, noise, (3, N, N))
    return cube.astype(np.float32)


def angle_diff(a, b):
    d = (a - b) % 180.0
    return min(d, 180.0 - d)


# ---------------------------------------------------------------- RGB and greyscale


def test_viewer_rgb_sky_and_plane_order():
    cube = np.zeros((3, 4, 4), np.float32)
    rgb = viewer_rgb(cube)
    # Empty sky: every band is the offset, so each plane is asinh(20 * 0.03) / sqrt(20).
    np.testing.assert_allclose(rgb, math.asinh(0.6) / math.sqrt(20), rtol=1e-6)
    cube[2] = 1.0  # z only -> red plane dominates; g only -> blue.
    rgb = viewer_rgb(cube)
    assert rgb[0, 0, 0] > rgb[0, 0, 1] and rgb[0, 0, 0] > rgb[0, 0, 2]
    s = np.array([0.03, 0.03, 2.2 + 0.03])  # scaled g, r, z
    i = s.mean()
    expected_red = min(1.0, s[2] * math.asinh(20 * i) / (math.sqrt(20) * i))
    assert rgb[0, 0, 0] == pytest.approx(expected_red, rel=1e-5)
    assert rgb[0, 0, 2] == pytest.approx(s[0] * math.asinh(20 * i) / (math.sqrt(20) * i), rel=1e-5)
    grey = rgb_to_grey(rgb)
    assert grey[0, 0] == pytest.approx(0.299 * rgb[0, 0, 0] + 0.587 * rgb[0, 0, 1]
                                       + 0.114 * rgb[0, 0, 2], rel=1e-6)


def test_viewer_rgb_and_grey_are_the_separate_functions_values():
    rng = np.random.default_rng(5)
    cube = (rng.normal(0.0, 0.05, (3, 40, 40)) + rng.exponential(0.2, (3, 40, 40))
            ).astype(np.float32)
    cube[:, 3, 3] = -1.0  # a black pixel
    scales = {"g": 5.0, "r": 3.0, "z": 2.0}
    rgb, grey = viewer_rgb_and_grey(cube, scales=scales, q=15.0, offset=0.02)
    expected = viewer_rgb(cube, scales=scales, q=15.0, offset=0.02)
    assert rgb.dtype == grey.dtype == np.float32 and rgb.flags.c_contiguous
    np.testing.assert_array_equal(rgb, expected)
    np.testing.assert_array_equal(grey, rgb_to_grey(expected))
    # the intensity is np.mean's, bit for bit
    manual = np.clip(cube * np.array([5.0, 3.0, 2.0], np.float32)[:, None, None]
                     + np.float32(0.02), 0.0, None).mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.arcsinh(np.float32(15.0) * manual) / (np.float32(np.sqrt(15.0)) * manual)
    np.testing.assert_array_equal(expected[10:12, 10:12, 0],
                                  np.clip((np.clip(cube[2] * np.float32(2.0) + np.float32(0.02),
                                                   0.0, None) * gain), 0, 1)[10:12, 10:12])


def test_viewer_rgb_clips_and_floors():
    cube = np.zeros((3, 2, 2), np.float32)
    cube[:, 0, 0] = 1e4   # saturates
    cube[:, 1, 1] = -1.0  # below -offset in every band: intensity 0 -> black
    rgb = viewer_rgb(cube)
    assert rgb.max() <= 1.0 and rgb.min() >= 0.0
    np.testing.assert_array_equal(rgb[0, 0], 1.0)
    np.testing.assert_array_equal(rgb[1, 1], 0.0)


def test_display_rgb_brightens_faint_galaxies_only():
    faint = cube_of(gaussian(CENTRE, CENTRE, 6, 4, 30, 0.02), noise=0.0)
    plain, shown = viewer_rgb(faint), display_rgb(faint, level=0.6)
    grey = rgb_to_grey(shown)
    # the core (99.5th percentile of the intensity) is put near the requested level
    core = grey > np.percentile(grey, 99.5)
    assert rgb_to_grey(plain)[core].mean() < 0.3
    assert 0.5 < grey[core].mean() < 0.75
    # one gain for all bands: the core keeps its colour, red (z) over blue (g) planes
    # = (1.5 * 2.2) / (0.5 * 6.0) in viewer scales (the sky offset dilutes it a little)
    red_over_blue = shown[core, 0].sum() / shown[core, 2].sum()
    assert red_over_blue == pytest.approx(1.5 * 2.2 / (0.5 * 6.0), rel=0.02)
    # a bright galaxy is never dimmed, an empty sky not amplified beyond max_gain
    bright = cube_of(gaussian(CENTRE, CENTRE, 6, 4, 30, 50.0), noise=0.0)
    np.testing.assert_array_equal(display_rgb(bright), viewer_rgb(bright))
    sky = cube_of(np.zeros((N, N)), noise=1e-4)
    scaled = viewer_rgb(sky, scales={"g": 6.0 * 20, "r": 3.4 * 20, "z": 2.2 * 20})
    np.testing.assert_allclose(display_rgb(sky, max_gain=20.0), scaled, atol=1e-6)
    with pytest.raises(ValueError, match="level"):
        display_rgb(faint, level=1.5)


# ---------------------------------------------------------------- isodata threshold


def direct_isodata_fixed_points(values):
    """Every split of the sorted values that is its own intermeans threshold."""
    x = np.sort(values.ravel().astype(np.float64))
    cs = np.cumsum(x)
    n = len(x)
    points = []
    for k in range(1, n):  # low = x[:k], high = x[k:]
        if x[k] == x[k - 1]:
            continue
        t = 0.5 * (cs[k - 1] / k + (cs[-1] - cs[k - 1]) / (n - k))
        if x[k - 1] <= t < x[k]:
            points.append((t, k))
    return points


def test_isodata_reaches_the_fixed_point_of_a_bimodal_image():
    rng = np.random.default_rng(4)
    sky = rng.normal(0.12, 0.02, 6000)
    source = rng.normal(0.55, 0.08, 900)
    bright = np.full(40, 1.0)  # a saturated star sets the maximum
    values = np.concatenate([sky, source, bright]).astype(np.float32).reshape(-1, 20)
    result = isodata_threshold(values, tol=1e-7, max_iter=200)
    assert result.converged and result.n_iter >= 2
    points = direct_isodata_fixed_points(values)
    assert len(points) == 1
    t_direct, k = points[0]
    assert result.threshold == pytest.approx(t_direct, abs=1e-5)
    x = np.sort(values.ravel())
    assert np.count_nonzero(values > result.threshold) == len(x) - k
    # The published single update stops far from it (above the whole sky+source mix).
    one_step = isodata_threshold(values, tol=1e-7, max_iter=1)
    assert not one_step.converged
    assert abs(one_step.threshold - t_direct) > 0.02


def test_isodata_bounds_and_edge_cases():
    assert isodata_threshold(np.full((5, 5), 0.3)).threshold == pytest.approx(0.3)
    with pytest.raises(ValueError, match="finite"):
        isodata_threshold(np.full(4, np.nan))
    vals = np.array([0.0, 0.0, 1.0, 1.0, np.nan])
    assert isodata_threshold(vals).threshold == pytest.approx(0.5)


# ---------------------------------------------------------------- ellipse geometry


def test_rotated_containment_is_not_axis_aligned():
    e = Ellipse(0.0, 0.0, 10.0, 2.0, 45.0)
    assert e.contains(6.5, 6.5)        # on the major axis, 9.2 px out
    assert not e.contains(6.5, -6.5)   # same distance on the minor axis
    assert not e.contains(9.0, 0.0)    # inside the axis-aligned box, outside the ellipse
    mask = ellipse_mask((41, 41), Ellipse(20.0, 20.0, 10.0, 4.0, 30.0))
    assert mask.sum() == pytest.approx(math.pi * 10 * 4, rel=0.05)
    assert mask[20 + 5, 20 + 8]        # along 30 deg: (8.7, 5) from the centre
    assert not mask[20 - 5, 20 + 8]


def test_centre_crop_indices():
    img = np.arange(152 * 152).reshape(152, 152)
    crop = centre_crop(img, 64)
    assert crop[0, 0] == img[44, 44] and crop[-1, -1] == img[107, 107]
    with pytest.raises(ValueError):
        centre_crop(img, 200)


# ---------------------------------------------------------------- full cutouts


def isophote_semi_axes(image, result, sigma_a, sigma_b):
    """Semi-axes of the noiseless isophote at the result's greyscale threshold."""
    radii = np.linspace(0, 40, 4001)
    out = []
    for sigma in (sigma_a, sigma_b):
        profile = image[int(CENTRE), int(CENTRE)] * np.exp(-0.5 * (radii / sigma) ** 2)
        cube = (COLOUR[:, None] * profile[None]).reshape(3, 1, -1).astype(np.float32)
        grey = rgb_to_grey(viewer_rgb(cube))[0]
        out.append(radii[np.argmax(grey <= result.threshold)])
    return out


def test_single_elliptical_gaussian_ellipse_recovered():
    x0, y0, angle = 75.8, 74.9, 32.0
    image = gaussian(x0, y0, 6.0, 3.0, angle, 2.0)
    cube = cube_of(image)
    result = preprocess_cutout(cube, PreprocessConfig())
    assert result.reject_reason is None and not result.blended
    e = result.ellipse
    assert math.hypot(e.x - x0, e.y - y0) < 1.0
    assert angle_diff(e.angle, angle) < 5.0
    a_iso, b_iso = isophote_semi_axes(image, result, 6.0, 3.0)
    assert abs(e.a / 1.5 - a_iso) < 1.0 and abs(e.b / 1.5 - b_iso) < 1.0
    assert result.image.shape == (64, 64, 3) and result.image.dtype == np.float32
    assert 0.0 <= result.image.min() and result.image.max() <= 1.0
    # the model input is the masked viewer RGB with channels g, r, z
    expected = centre_crop(to_band_order(viewer_rgb(cube)) * result.mask[:, :, None], 64)
    assert to_band_order(viewer_rgb(cube))[76, 76, 0] == viewer_rgb(cube)[76, 76, 2]  # g
    np.testing.assert_array_equal(result.image, expected)
    # everything outside the enlarged ellipse is zero, inside is not
    crop_mask = centre_crop(result.mask, 64)
    assert np.all(result.image[~crop_mask] == 0) and np.all(result.image[crop_mask].max(-1) > 0)
    assert 3.0 < result.radius_px < 23.0


def test_two_touching_galaxies_are_blended():
    image = gaussian(70.0, 75.5, 3.0, 2.5, 0.0, 2.0) + gaussian(81.0, 76.5, 3.0, 2.5, 20.0, 1.6)
    result = preprocess_cutout(cube_of(image), PreprocessConfig())
    assert result.blended
    assert result.reject_reason in ("blended_photutils", "blended_connectivity")
    assert result.image is None


ASYMMETRY = PreprocessConfig(blend=BlendConfig(nsigma=2.3, asymmetry_max=0.05))


def test_companion_on_the_wing_is_blended_by_asymmetry():
    # A companion with ~14 % of the target's flux on its slope: no saddle to deblend at,
    # but the light left over by the 180 deg rotation is ~10 % of the target's.
    target = gaussian(75.5, 75.5, 5.0, 3.5, 30.0, 0.5)
    blend = target + gaussian(83.0, 72.0, 2.5, 2.5, 0.0, 0.2)
    result = preprocess_cutout(cube_of(blend), ASYMMETRY)
    assert result.n_sources == 1 and result.n_regions == 1
    assert result.reject_reason == "blended_asymmetry" and result.blended
    assert result.asymmetry == pytest.approx(0.1, abs=0.03)
    # Without the pass the same cutout is kept; the isolated target is symmetric.
    assert preprocess_cutout(cube_of(blend), PreprocessConfig()).reject_reason is None
    alone = preprocess_cutout(cube_of(target), ASYMMETRY)
    assert alone.reject_reason is None and alone.asymmetry < 0.005


def test_faint_companion_is_not_a_blend():
    # ~3 % of the target's flux: real, but too faint to bias its photometry.
    image = gaussian(75.5, 75.5, 5.0, 3.5, 30.0, 0.5) + gaussian(83.0, 72.0, 1.5, 1.5, 0.0, 0.12)
    result = preprocess_cutout(cube_of(image), ASYMMETRY)
    assert result.reject_reason is None and not result.blended
    assert 0.01 < result.asymmetry < 0.05


def test_merged_region_off_centre_reaches_the_blend_check():
    # A brighter, larger neighbour merges with the target: the region's ellipse centre
    # lands ~12 px off, but the region contains the centre.
    image = gaussian(75.5, 75.5, 4.0, 3.0, 0.0, 0.5) + gaussian(90.0, 75.5, 6.0, 5.0, 0.0, 1.0)
    assert preprocess_cutout(cube_of(image), PreprocessConfig()).reject_reason == (
        "no_center_source")
    result = preprocess_cutout(cube_of(image), ASYMMETRY)
    assert result.ellipse is not None and result.ellipse.x > 80.0
    assert result.reject_reason == "blended_asymmetry"


def test_brighter_merged_neighbour_is_unpaired_light():
    # A neighbour 4x the target's flux, merged with it at the detection isophote: most
    # of the segment's light lies outside the target's symmetric footprint.
    image = gaussian(75.5, 75.5, 3.0, 3.0, 0.0, 0.5) + gaussian(92.0, 75.5, 6.0, 6.0, 0.0, 0.5)
    on = PreprocessConfig(blend=BlendConfig(nsigma=2.3, asymmetry_max=0.05, unpaired_max=2.0))
    result = preprocess_cutout(cube_of(image), on)
    assert result.unpaired > 2.0 and result.blended
    # Off by default; an isolated target has none.
    assert math.isnan(preprocess_cutout(cube_of(image), PreprocessConfig()).unpaired)
    alone = preprocess_cutout(cube_of(gaussian(75.5, 75.5, 3.0, 3.0, 0.0, 0.5)), on)
    assert alone.unpaired < 0.05 and not alone.blended


def test_galaxy_and_bright_star_outside_the_ellipse():
    galaxy = gaussian(75.5, 75.5, 4.0, 2.5, 60.0, 0.6)
    star = gaussian(97.0, 60.0, 1.5, 1.5, 0.0, 40.0)  # far brighter than the galaxy
    result = preprocess_cutout(cube_of(galaxy + star), PreprocessConfig())
    assert result.reject_reason is None and not result.blended
    assert not result.mask[55:66, 92:103].any()       # the star is masked
    assert result.mask[75, 75]
    crop_star = result.image[60 - 44 - 4 : 60 - 44 + 5, 97 - 44 - 4 : 97 - 44 + 5]
    assert np.all(crop_star == 0)
    e = result.ellipse
    assert math.hypot(e.x - 75.5, e.y - 75.5) < 1.0 and angle_diff(e.angle, 60.0) < 5.0


def test_off_centre_source_only_is_rejected():
    image = gaussian(110.0, 40.0, 5.0, 4.0, 0.0, 2.0)
    result = preprocess_cutout(cube_of(image), PreprocessConfig())
    assert result.reject_reason == "no_center_source"
    assert result.image is None and result.ellipse is None and not result.mask.any()


def test_large_galaxy_is_too_large():
    image = gaussian(75.5, 75.5, 16.0, 12.0, 10.0, 2.0)
    result = preprocess_cutout(cube_of(image), PreprocessConfig())
    assert result.reject_reason == "too_large" and result.radius_px >= 23.0
    ok = preprocess_cutout(cube_of(image), PreprocessConfig(max_radius_px=60.0))
    assert ok.reject_reason is None


@pytest.mark.parametrize("make", [
    lambda c: np.where(np.arange(N)[None, None, :] == 5, np.nan, c),
    lambda c: np.where(np.arange(N)[None, None, :] == 5, np.inf, c),
    lambda c: c * np.array([1.0, 0.0, 1.0], np.float32)[:, None, None],
    lambda c: c[:2],
    lambda c: c[:, :100, :],
    lambda c: np.full((3, N, N), "x"),
])
def test_bad_cubes_are_rejected_not_raised(make):
    cube = make(cube_of(gaussian(75.5, 75.5, 4.0, 3.0, 0.0, 2.0)))
    result = preprocess_cutout(cube, PreprocessConfig())
    assert result.reject_reason == "bad_pixels" and result.image is None


def test_config_from_mapping_and_unknown_keys():
    cfg = PreprocessConfig.from_mapping(
        {"ellipse_scale": 1.4, "blend": {"nsigma": 2.0, "npixels": 5}})
    assert cfg.ellipse_scale == 1.4 and cfg.blend.nsigma == 2.0 and cfg.blend.nlevels == 32
    with pytest.raises(ValueError, match="elipse_scale"):
        PreprocessConfig.from_mapping({"elipse_scale": 1.4})
    with pytest.raises(ValueError, match="nsgima"):
        PreprocessConfig.from_mapping({"blend": {"nsgima": 1.0}})


def test_ellipse_scale_changes_the_mask():
    cube = cube_of(gaussian(75.5, 75.5, 4.0, 3.0, 0.0, 2.0))
    small = preprocess_cutout(cube, {"ellipse_scale": 1.0})
    large = preprocess_cutout(cube, {"ellipse_scale": 2.0})
    assert large.mask.sum() == pytest.approx(4 * small.mask.sum(), rel=0.1)


# ---------------------------------------------------------------- variants


def test_band_variants():
    imgs = np.random.default_rng(0).random((2, 8, 8, 3)).astype(np.float32)
    g = select_bands(imgs, "g")
    np.testing.assert_array_equal(g[..., 1], imgs[..., 0])
    np.testing.assert_array_equal(g[..., 2], imgs[..., 0])
    for bands, (i, j) in (("gr", (0, 1)), ("gz", (0, 2)), ("rz", (1, 2))):
        two = select_bands(imgs, bands)  # the two bands in g, r, z order, their mean last
        np.testing.assert_array_equal(two[..., 0], imgs[..., i])
        np.testing.assert_array_equal(two[..., 1], imgs[..., j])
        np.testing.assert_allclose(two[..., 2], 0.5 * (imgs[..., i] + imgs[..., j]), rtol=1e-6)
    np.testing.assert_array_equal(select_bands(imgs, "grz"), imgs)
    with pytest.raises(ValueError):
        select_bands(imgs, "gi")


def test_resolution_variants_are_bilinear():
    imgs = np.random.default_rng(1).random((3, 64, 64, 3)).astype(np.float32)
    half = resample(imgs, 32)
    # Halving with bilinear sampling lands between pixels: the 2 x 2 block mean.
    blocks = imgs.reshape(3, 32, 2, 32, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(half, blocks, atol=1e-6)
    out = make_variant(imgs, "gz", 8)
    assert out.shape == (3, 8, 8, 3) and out.dtype == np.float32
    np.testing.assert_allclose(resample(np.full((1, 64, 64, 3), 0.25, np.float32), 16), 0.25)


# ---------------------------------------------------------------- fast paths, same values


def test_segments_are_detect_sources_segments():
    from photutils.segmentation import detect_sources

    from galstar.imaging.blend import _segments

    rng = np.random.default_rng(2)
    smooth = rng.normal(0.0, 1.0, (60, 70)).astype(np.float32)
    smooth[10:20, 10:25] += 5.0
    smooth[40:44, 50:52] += 5.0  # 8 pixels: below npixels = 10
    inside = np.ones(smooth.shape, bool)
    inside[:, 60:] = False
    labels = _segments(smooth, 1.5, 10, inside)
    reference = detect_sources(smooth, 1.5, n_pixels=10, mask=~inside).data
    # the same segments (same pixels together), whatever their numbers
    assert np.array_equal(labels > 0, reference > 0)
    pairs = set(zip(labels[labels > 0].tolist(), reference[reference > 0].tolist(),
                    strict=True))
    assert len(pairs) == len(set(p[0] for p in pairs)) == len(set(p[1] for p in pairs))
    assert _segments(smooth, 100.0, 10, inside) is None


def test_sky_median_is_numpys():
    from galstar.imaging.background import _median

    rng = np.random.default_rng(3)
    for n in (1, 2, 5, 3000, 3001):
        x = rng.normal(size=n).astype(np.float32)
        assert _median(x) == np.median(x) and _median(x).dtype == np.median(x).dtype


def test_remap_of_wide_maps_is_blockwise():
    import cv2

    from galstar.imaging.asymmetry import _remap

    rng = np.random.default_rng(4)
    image = rng.random((50, 50)).astype(np.float32)
    map_x = (rng.random((2, 40000)) * 60 - 5).astype(np.float32)
    map_y = (rng.random((2, 40000)) * 60 - 5).astype(np.float32)
    blocks = [cv2.remap(image, np.ascontiguousarray(map_x[:, i:i + 1000]),
                        np.ascontiguousarray(map_y[:, i:i + 1000]), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
              for i in range(0, 40000, 1000)]
    np.testing.assert_array_equal(_remap(image, map_x, map_y), np.hstack(blocks))
