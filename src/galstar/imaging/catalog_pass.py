"""The catalogue blend pass: catalogued neighbours' model light on the target's isophote.

The DR9 neighbours of a target (:mod:`galstar.catalog.neighbours`) are rendered with
their catalogue shapes (:mod:`galstar.imaging.neighbour_model`); the fraction of the
target's isophotal flux that is theirs is the blend measure. Unlike the image passes
it does not judge the shape of the target's region, so it also runs on galaxies cut
by the frame.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from galstar.imaging.blend import smooth
from galstar.imaging.ellipse import Ellipse
from galstar.imaging.neighbour_model import (
    Neighbours,
    isophote_contamination,
    neighbours_from_table,
    render_neighbours,
)

if TYPE_CHECKING:  # the pipeline imports this module
    from galstar.imaging.pipeline import PreprocessConfig

__all__ = ["catalog_contamination", "catalog_pass"]


def catalog_contamination(
    flux: np.ndarray,
    background: Any,
    neighbours: Neighbours,
    ellipse: Ellipse,
    config: PreprocessConfig,
) -> float:
    """The catalogue pass: neighbours' model flux on the target's isophote / its flux.

    Works on the enlarged ellipse's box grown by ``catalog_margin_px``; the footprint
    is the smoothed flux minus the neighbours' (smoothed) model above the isophote,
    connected to the brightest such pixel within 2 px of the cutout centre; where a
    neighbour dominates, the target's light is read at the pixel point-symmetric about
    the cutout centre (the target's catalogue position). See
    :mod:`galstar.imaging.neighbour_model`.

    Returns
    -------
    float
        Neighbours' model flux on the footprint over the target's flux there.
    """
    blend = config.blend
    margin = int(blend.catalog_margin_px)
    n = flux.shape[0]
    rows, cols = ellipse.bbox(flux.shape)
    rows = slice(max(0, rows.start - margin), min(n, rows.stop + margin))
    cols = slice(max(0, cols.start - margin), min(flux.shape[1], cols.stop + margin))
    level_px = blend.catalog_isophote_nmgy_arcsec2 * config.pixscale**2
    model = render_neighbours(neighbours, rows, cols, psf_beta=blend.catalog_psf_beta,
                              truncation_re=blend.catalog_truncation_re,
                              floor=blend.catalog_floor * level_px,
                              step=blend.catalog_step_px)
    if model is None:  # no neighbour's light reaches the target's box
        return 0.0
    model = model.astype(np.float64)
    box = flux[rows, cols].astype(np.float64) - background.level
    sm = smooth(box, blend.kernel_fwhm_px)
    # the footprint compares like with like: the model smoothed as the image is (an
    # unsmoothed star would leave a ring of smoothed starlight around its core)
    model_sm = smooth(model, blend.kernel_fwhm_px)
    residual = sm - model_sm
    # the target's centre: brightest residual pixel near the cutout centre (the cutout
    # is requested at the target's catalogue position)
    c = (n - 1) // 2
    r0, c0 = c - 2 - rows.start, c - 2 - cols.start
    win = residual[max(r0, 0):r0 + 5, max(c0, 0):c0 + 5]
    if win.size == 0:
        return 0.0
    py, px = np.unravel_index(int(np.argmax(win)), win.shape)
    fraction, _ = isophote_contamination(box, residual, model, model_sm, level_px,
                                         (max(r0, 0) + py, max(c0, 0) + px),
                                         dominance=blend.catalog_dominance,
                                         symmetry_centre=((n - 1) / 2.0 - rows.start,
                                                          (n - 1) / 2.0 - cols.start))
    return fraction


def catalog_pass(flux: np.ndarray, background: Any, neighbours: Neighbours | Any | None,
                  ellipse: Ellipse, config: PreprocessConfig) -> float:
    """:func:`catalog_contamination` when the pass is on and neighbours are given, else NaN."""
    if config.blend.catalog_contamination_max <= 0 or neighbours is None:
        return math.nan
    n = flux.shape[0]
    if not isinstance(neighbours, Neighbours):
        neighbours = neighbours_from_table(neighbours, n, config.pixscale)
    return catalog_contamination(flux, background, neighbours.in_frame(n), ellipse, config)
