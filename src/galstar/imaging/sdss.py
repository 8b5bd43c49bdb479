"""SDSS ugriz cutouts of one catalogue shard as model inputs: (n, size, size, 5) float32.

Each cutout (``(5, size, size)`` nanomaggies, u, g, r, i, z: the live client's and the
mock's format) is checked, stretched per band and, optionally, masked to the target:

- stretch: ``asinh(flux_b / softening_b)`` per band b (the asinh magnitudes of Lupton,
  Gunn & Szalay 1999 without their magnitude scale: linear, ``flux / softening``, below
  the softening, logarithmic above). The defaults are SDSS's asinh-magnitude softening
  parameters b (1.4, 0.9, 1.2, 1.8, 7.4 x 1e-10 maggies = 0.14, 0.09, 0.12, 0.18, 0.74
  nmgy), about 1-3 x the per-pixel sky noise, so the sky stays near 0 and a bright
  galaxy's centre reaches ~4-6.
- mask (config ``mask``): the target's isophote as in :mod:`galstar.imaging` (isodata
  threshold on the smoothed g + r + i stretch, the central fitted ellipse enlarged by
  ``mask_scale``); pixels outside it are set to 0. Without a central source the cutout
  is rejected ``bad_image`` / ``no_center_source`` (also when the centre of the smoothed
  detection image is not ``detect_nsigma`` robust sigmas above the sky of its border).

Reasons (``image_reason``): ``no_image`` (the download failed: ``image_detail`` is the
manifest's reason) or ``bad_image`` (``unreadable_cutout:<missing_file|not_fits|
no_image>``, ``bad_shape:<shape>``, ``nonfinite_pixels:<bands>``, ``zero_band:<bands>``,
``no_center_source``), each detail followed by the file.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd

from galstar.imaging.blend import smooth
from galstar.imaging.ellipse import (
    ellipse_mask,
    external_contours,
    fit_contour_ellipses,
    select_central,
)
from galstar.imaging.sdss_settings import BANDS, SDSS_SOFTENING_NMGY, SdssImageSettings
from galstar.imaging.shard import CutoutReadError, read_cutout
from galstar.imaging.threshold import isodata_threshold
from galstar.io import read_parquet, save_npy, write_parquet

__all__ = ["SDSS_SOFTENING_NMGY", "SdssImageSettings", "TABLE_COLUMNS", "stretch_ugriz",
           "prepare_cutout", "preprocess_images_shard"]

log = logging.getLogger(__name__)

#: Columns of the image table, in order.
TABLE_COLUMNS = ("object_id", "image_row", "image_reason", "image_detail", "image_source")
_DETECT = (1, 2, 3)  # g, r, i: the deep bands the target is found on
_BORDER = 6  # px: the frame whose pixels measure the sky of the detection image


def stretch_ugriz(cube: np.ndarray, softening: np.ndarray) -> np.ndarray:
    """(5, H, W) nanomaggies -> (H, W, 5) float32 ``asinh(flux / softening)``."""
    out = np.arcsinh(np.asarray(cube, np.float32) / softening[:, None, None])
    return np.ascontiguousarray(out.transpose(1, 2, 0), dtype=np.float32)


def _bands(flags: np.ndarray) -> str:
    return "".join(b for b, f in zip(BANDS, flags, strict=True) if f)


def _bad_detail(cube: np.ndarray, size: int) -> str | None:
    if cube.shape != (len(BANDS), size, size):
        return "bad_shape:" + "x".join(map(str, cube.shape))
    finite = np.isfinite(cube).all(axis=(1, 2))
    if not finite.all():
        return f"nonfinite_pixels:{_bands(~finite)}"
    zero = ~np.any(cube != 0, axis=(1, 2))
    if zero.any():
        return f"zero_band:{_bands(zero)}"
    return None


def _target_mask(image: np.ndarray, s: SdssImageSettings) -> np.ndarray | None:
    detect = smooth(np.ascontiguousarray(image[..., _DETECT].sum(axis=-1)), s.smooth_fwhm_px)
    # isodata splits pure noise too: a target must first stand out of the sky, measured
    # on the frame's border (a large galaxy raises the whole image's median and MAD)
    edge = np.ones(detect.shape, bool)
    edge[_BORDER:-_BORDER, _BORDER:-_BORDER] = False
    sky = detect[edge]
    median = float(np.median(sky))
    sigma = 1.4826 * float(np.median(np.abs(sky - median)))
    c = s.size // 2
    if not detect[c - 1:c + 1, c - 1:c + 1].mean() > median + s.detect_nsigma * sigma:
        return None
    threshold = isodata_threshold(detect).threshold
    contours = external_contours(detect > threshold)
    fitted = fit_contour_ellipses(contours, min_semi_axis_px=s.min_semi_axis_px)
    centre = ((s.size - 1) / 2.0, (s.size - 1) / 2.0)
    found = select_central(fitted, centre, s.center_tolerance_px, contours)
    if found is None:
        return None
    return ellipse_mask(image.shape[:2], found[0].scaled(s.mask_scale))


def prepare_cutout(cube: np.ndarray, settings: SdssImageSettings
                   ) -> tuple[np.ndarray | None, str]:
    """One cutout as a model input.

    Returns
    -------
    (image, detail)
        (size, size, 5) float32 and ``""``; or None and the ``bad_image`` detail.
    """
    bad = _bad_detail(cube, int(settings.size))
    if bad:
        return None, bad
    image = stretch_ugriz(cube, settings._soft)
    if settings.mask:
        mask = _target_mask(image, settings)
        if mask is None:
            return None, "no_center_source"
        image *= mask[..., None]
    return image, ""


def preprocess_images_shard(manifest_path: str | os.PathLike,
                            table_path: str | os.PathLike, tensor_path: str | os.PathLike,
                            settings: SdssImageSettings) -> pd.DataFrame:
    """Prepare every cutout of one shard; a bad cutout costs only its own row.

    Parameters
    ----------
    manifest_path : path
        The shard's image manifest (``object_id, path, status, reject_reason``), one row
        per catalogue object.
    table_path, tensor_path : path
        Outputs: the table (:data:`TABLE_COLUMNS`, manifest order; ``image_row`` -1 when
        rejected) and the tensor (n_kept, size, size, 5) float32.
    settings : SdssImageSettings

    Returns
    -------
    pandas.DataFrame
        The table written.
    """
    manifest = read_parquet(manifest_path)
    size = int(settings.size)
    rows, images = [], []
    for obj, status, reason, path in zip(manifest["object_id"], manifest["status"],
                                         manifest["reject_reason"], manifest["path"],
                                         strict=True):
        row = {"object_id": int(obj), "image_row": -1, "image_reason": "",
               "image_detail": "", "image_source": str(path)}
        if status != "ok":
            row.update(image_reason="no_image",
                       image_detail=f"{reason or 'download_failed'}: object {int(obj)}")
            rows.append(row)
            continue
        try:
            image, detail = prepare_cutout(read_cutout(path), settings)
        except CutoutReadError as err:
            image, detail = None, f"unreadable_cutout:{err.detail}"
        if image is None:
            row.update(image_reason="bad_image", image_detail=f"{detail}: {path}")
            log.warning("rejected object %d: bad_image (%s)", int(obj), row["image_detail"])
        else:
            row["image_row"] = len(images)
            images.append(image)
        rows.append(row)
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    table["object_id"] = table["object_id"].astype(np.int64)
    table["image_row"] = table["image_row"].astype(np.int64)
    tensor = (np.stack(images) if images
              else np.zeros((0, size, size, len(BANDS)), np.float32)).astype(np.float32)
    save_npy(tensor, tensor_path)
    write_parquet(table, table_path)
    counts = table.loc[table["image_row"] < 0, "image_reason"].value_counts().to_dict()
    log.info("SDSS images %s: %d of %d kept; rejects %s", manifest_path, len(images),
             len(table), counts)
    return table
