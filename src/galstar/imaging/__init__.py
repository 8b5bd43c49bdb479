"""Galaxy image preprocessing (GalEffNet section 2.2).

Public API::

    from galstar.imaging import preprocess_cutout, PreprocessConfig
    result = preprocess_cutout(cube, config)   # cube: (3, 152, 152) grz nanomaggies
    result.image, result.mask, result.ellipse, result.radius_px, result.blended,
    result.reject_reason, result.reject_detail
    # with the target's DR9 neighbours (a table, galstar.catalog.neighbours): the
    # catalogue blend pass runs too
    result = preprocess_cutout(cube, config, neighbours=table)

Submodules: ``rgb`` (viewer colours, greyscale), ``threshold`` (isodata), ``ellipse``
(contours, fits, containment, mask), ``blend`` (photutils and connectivity passes),
``asymmetry`` (the rotation pass), ``catalog_pass`` and ``neighbour_model`` (catalogue
neighbours' model light on the target),
``size`` (enclosing circle, crop), ``variants`` (band and resolution ablations),
``pipeline`` (one cutout), ``shard`` (one shard, in parallel), ``figures`` (the steps
figure). Scoring against the simulator's truth is in :mod:`galstar.scoring`.
"""

from galstar.imaging.ellipse import Ellipse
from galstar.imaging.pipeline import (
    REJECT_REASONS,
    PreprocessConfig,
    PreprocessResult,
    preprocess_cutout,
)
from galstar.imaging.shard import preprocess_shard, read_cutout
from galstar.imaging.variants import VARIANT_BANDS, VARIANT_RESOLUTIONS, make_variant

__all__ = [
    "Ellipse",
    "REJECT_REASONS",
    "PreprocessConfig",
    "PreprocessResult",
    "preprocess_cutout",
    "preprocess_shard",
    "read_cutout",
    "VARIANT_BANDS",
    "VARIANT_RESOLUTIONS",
    "make_variant",
]
