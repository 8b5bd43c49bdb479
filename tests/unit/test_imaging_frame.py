"""A galaxy larger than the cutout is ``too_large``, not ``no_center_source`` (issue 10).

The scenes are GalSim renderings of Sersic profiles in a 152 x 152 grz cutout at the
DR9 pixel scale, with sky noise: a nearby disc galaxy that fills the frame (a centred
bulge, a lopsided disc whose light centre sits off the nucleus, as a real spiral's
does), an ordinary small galaxy, and a frame whose centre holds only sky.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

galsim = pytest.importorskip("galsim")

from galstar.imaging.blend import BlendConfig  # noqa: E402
from galstar.imaging.ellipse import (  # noqa: E402
    external_contours,
    region_containing,
    select_central,
    touches_frame,
)
from galstar.imaging.neighbour_model import NEIGHBOUR_COLUMNS  # noqa: E402
from galstar.imaging.pipeline import PreprocessConfig, preprocess_cutout  # noqa: E402

N = 152
PIXSCALE = 0.262  # arcsec / px
CENTRE = ((N - 1) / 2.0, (N - 1) / 2.0)
COLOUR = (0.6, 1.0, 1.4)  # g, r, z flux relative to r
NOISE = 0.003  # nanomaggies per pixel and band
PAPER = PreprocessConfig()
# the asymmetry pass on: the region containing the centre is taken as the target
ASYMMETRY = PreprocessConfig(blend=BlendConfig(nsigma=2.3, asymmetry_max=0.05))


def render(components, seed=0):
    """(3, N, N) grz cube of Sersic components convolved with a Moffat PSF.

    ``components``: (flux_r nmgy, sersic n, half-light radius arcsec, axis ratio,
    position angle deg, dx px, dy px), offsets from the cutout centre.
    """
    profiles = [
        galsim.Sersic(n=n, half_light_radius=hlr, flux=flux)
        .shear(q=q, beta=angle * galsim.degrees).shift(dx * PIXSCALE, dy * PIXSCALE)
        for flux, n, hlr, q, angle, dx, dy in components
    ]
    scene = galsim.Convolve(galsim.Add(profiles), galsim.Moffat(beta=3.5, fwhm=1.3))
    rng = np.random.default_rng(seed)
    planes = []
    for colour in COLOUR:
        image = galsim.ImageF(N, N, scale=PIXSCALE)
        (scene * colour).drawImage(image, method="no_pixel")
        planes.append(image.array + rng.normal(0.0, NOISE, (N, N)))
    return np.asarray(planes, dtype=np.float32)


FRAME_FILLING = [(20.0, 4.0, 1.0, 1.0, 0.0, 0.0, 0.0),      # bulge on the nucleus
                 (500.0, 1.0, 20.0, 0.5, 20.0, 8.0, 4.0)]   # disc, r_e 20" = 76 px
SMALL = [(5.0, 1.0, 1.5, 0.7, 30.0, 0.0, 0.0)]
OFF_CENTRE = [(5.0, 1.0, 1.5, 0.7, 30.0, 40.0, -35.0)]
LARGE_IN_A_CORNER = [(300.0, 1.0, 12.0, 0.6, 45.0, -70.0, -70.0)]


def test_frame_filling_galaxy_is_too_large_not_missing():
    cube = render(FRAME_FILLING)
    result = preprocess_cutout(cube, PAPER, keep_steps=True)
    steps = result.steps
    contours = steps["contours"]
    region = region_containing(contours, CENTRE)
    # The scene is the one found on real data: the region holding the centre is cut by
    # the frame and its ellipse lies outside center_tolerance_px (no centred target).
    assert region is not None and touches_frame(contours[region], (N, N))
    assert select_central(steps["fits"], CENTRE, PAPER.center_tolerance_px) is None
    assert result.reject_reason == "too_large" and not result.blended
    assert result.image is None and steps["target_index"] == region
    # its enclosing circle holds the centre and a frame pixel: a radius of at least half
    # the centre-to-edge distance (a lower bound on the galaxy's)
    assert result.radius_px >= (N - 1) / 4.0 > PAPER.max_radius_px
    # the asymmetry pass would read the truncated region as a blend; it is not asked
    other = preprocess_cutout(cube, ASYMMETRY)
    assert other.reject_reason == "too_large" and math.isnan(other.asymmetry)


def test_frame_cut_target_still_gets_the_catalogue_pass():
    on = PreprocessConfig(blend=BlendConfig(catalog_contamination_max=0.09))
    result = preprocess_cutout(render(FRAME_FILLING), on, neighbours=_no_neighbours())
    assert result.reject_reason == "too_large" and result.catalog_contamination == 0.0


def _no_neighbours():
    return pd.DataFrame({c: pd.Series(dtype=object if c == "TYPE" else float)
                         for c in NEIGHBOUR_COLUMNS})


@pytest.mark.parametrize("config", [PAPER, ASYMMETRY], ids=["paper", "asymmetry"])
def test_small_centred_galaxy_is_kept(config):
    result = preprocess_cutout(render(SMALL), config)
    assert result.reject_reason is None and result.image.shape == (64, 64, 3)
    assert result.radius_px < config.max_radius_px


@pytest.mark.parametrize("components", [OFF_CENTRE, LARGE_IN_A_CORNER],
                         ids=["small-off-centre", "large-in-a-corner"])
def test_empty_centre_is_no_center_source(components):
    # A large galaxy cut by the frame elsewhere does not make an empty centre a target.
    result = preprocess_cutout(render(components), PAPER, keep_steps=True)
    assert region_containing(result.steps["contours"], CENTRE) is None
    assert result.reject_reason == "no_center_source" and result.ellipse is None


def test_sky_alone_is_no_large_galaxy():
    # Pure sky: the isodata threshold splits the noise and its regions reach the frame;
    # without a source detected at the centre that is no frame-filling galaxy.
    rng = np.random.default_rng(1)
    cube = rng.normal(0.0, NOISE, (3, N, N)).astype(np.float32)
    result = preprocess_cutout(cube, PAPER, keep_steps=True)
    contours = result.steps["contours"]
    region = region_containing(contours, CENTRE)
    assert region is not None and touches_frame(contours[region], (N, N))
    assert result.reject_reason == "no_center_source"


def test_region_helpers():
    binary = np.zeros((20, 20), np.uint8)
    binary[5:15, 5:15] = 1   # a square with a hole holding a smaller square
    binary[8:12, 8:12] = 0
    binary[9:11, 9:11] = 1
    binary[0:3, 17:20] = 1   # a corner region on the frame
    contours = external_contours(binary)
    square = region_containing(contours, (6.0, 6.0))
    # outer contours only: the hole and what lies in it belong to the square
    assert region_containing(contours, (9.5, 9.5)) == square
    assert region_containing(contours, (8.0, 8.0)) == square
    assert region_containing(contours, (3.0, 16.0)) is None
    corner = region_containing(contours, (18.0, 1.0))
    assert corner != square and touches_frame(contours[corner], binary.shape)
    assert not touches_frame(contours[square], binary.shape)
