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

from __future__ import annotations

from galstar.lazy import lazy_exports

# Names -> the submodule that defines them, imported on first use (galstar.lazy).
_EXPORTS: dict[str, str] = {
    "Ellipse": "galstar.imaging.ellipse",
    "REJECT_REASONS": "galstar.imaging.pipeline",
    "PreprocessConfig": "galstar.imaging.pipeline",
    "PreprocessResult": "galstar.imaging.pipeline",
    "preprocess_cutout": "galstar.imaging.pipeline",
    "preprocess_shard": "galstar.imaging.shard",
    "read_cutout": "galstar.imaging.shard",
    "VARIANT_BANDS": "galstar.imaging.variants",
    "VARIANT_RESOLUTIONS": "galstar.imaging.variants",
    "make_variant": "galstar.imaging.variants",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
