"""Pan-STARRS1 grizy cutouts of one catalogue shard as model inputs: (n, 5, S, S) float32.

Each object's band files (:func:`galstar.archives.panstarrs.read_ps1_cutouts`: the band
from each file's header, g, r, i, z, y, flux in nanomaggies at the common zero point
22.5) are checked and stretched per band as the SDSS cutouts
(:mod:`galstar.imaging.sdss`): ``asinh(flux_b / softening_b)``, linear below the
softening and logarithmic above it. The default softening, 0.03, 0.03, 0.03, 0.06,
0.12 nmgy in g, r, i, z, y, is ~2 x the per-pixel sky noise of the 3pi stacks at
0.25 arcsec/pixel, so the sky stays near 0 and a bright galaxy's centre reaches ~5-6.
The output is channels first (the spectra_from_images contract).

Reasons (``image_reason``): ``missing_band`` (the listing lacked a band: the detail
names it), ``no_stack`` (the listing was empty: outside the survey), ``no_image`` (the
download failed: the manifest's reason) or ``bad_image`` (``unreadable:<message>``,
``bad_shape:<shape>``, ``nonfinite_pixels:<bands>``, ``zero_band:<bands>``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from galstar.archives.panstarrs import PS1_BANDS, manifest_paths, read_ps1_cutouts
from galstar.io import read_parquet, save_npy, write_parquet
from galstar.options import check_option_names

__all__ = ["PS1_SOFTENING_NMGY", "Ps1ImageSettings", "TABLE_COLUMNS", "stretch_grizy",
           "preprocess_ps1_shard"]

log = logging.getLogger(__name__)

#: asinh softening per band [nmgy] (g, r, i, z, y).
PS1_SOFTENING_NMGY = (0.03, 0.03, 0.03, 0.06, 0.12)
#: Columns of the image table, in order.
TABLE_COLUMNS = ("object_id", "image_row", "image_reason", "image_detail", "listed")


@dataclass(frozen=True)
class Ps1ImageSettings:
    """Config ``spectra_from_images.data.panstarrs``.

    Attributes
    ----------
    size : int
        Cutout side [pixels] requested from fitscut (224 in the paper: 56 arcsec).
    pixscale : float
        [arcsec/pixel]; PS1 stacks are 0.25 (fitscut does not resample).
    softening_nmgy : tuple of 5 float
        asinh softening per band g, r, i, z, y [nmgy].
    """

    size: int = 224
    pixscale: float = 0.25
    softening_nmgy: tuple[float, ...] = PS1_SOFTENING_NMGY
    _soft: np.ndarray = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self):
        soft = np.asarray(self.softening_nmgy, dtype=np.float32)
        if soft.shape != (5,) or not np.all(soft > 0):
            raise ValueError("spectra_from_images.data.panstarrs.softening_nmgy needs 5 "
                             f"positive values (g, r, i, z, y), got {self.softening_nmgy}")
        if int(self.size) < 8:
            raise ValueError(f"spectra_from_images.data.panstarrs.size must be >= 8, got "
                             f"{self.size}")
        if abs(float(self.pixscale) - 0.25) > 1e-9:
            raise ValueError("spectra_from_images.data.panstarrs.pixscale: fitscut serves "
                             f"the stacks' 0.25 arcsec/pixel only, got {self.pixscale}")
        object.__setattr__(self, "_soft", soft)

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any] | None,
                     key: str = "spectra_from_images.data.panstarrs") -> Ps1ImageSettings:
        """Build from a config mapping (each key optional; an unknown key raises)."""
        config = dict(config or {})
        check_option_names(config, cls, key)
        if "softening_nmgy" in config:
            config["softening_nmgy"] = tuple(float(v) for v in config["softening_nmgy"])
        return cls(**config)


def stretch_grizy(cube: np.ndarray, softening: np.ndarray) -> np.ndarray:
    """(5, H, W) nanomaggies -> (5, H, W) float32 ``asinh(flux / softening)``."""
    return np.arcsinh(np.asarray(cube, np.float32) / softening[:, None, None]).astype(
        np.float32)


def _bad_detail(cube: np.ndarray, size: int) -> str | None:
    if cube.shape != (5, size, size):
        return "bad_shape:" + "x".join(map(str, cube.shape))
    finite = np.isfinite(cube).all(axis=(1, 2))
    if not finite.all():
        return "nonfinite_pixels:" + "".join(b for b, f in zip(PS1_BANDS, finite,
                                                                strict=True) if not f)
    zero = ~np.any(cube != 0, axis=(1, 2))
    if zero.any():
        return "zero_band:" + "".join(b for b, z in zip(PS1_BANDS, zero, strict=True) if z)
    return None


def preprocess_ps1_shard(manifest_path: str | os.PathLike, table_path: str | os.PathLike,
                         stack_path: str | os.PathLike, settings: Ps1ImageSettings
                         ) -> pd.DataFrame:
    """Read, check and stretch every PS1 cutout of one shard.

    Parameters
    ----------
    manifest_path : path
        :func:`galstar.archives.panstarrs.acquire_ps1`'s manifest.
    table_path, stack_path : path
        Outputs: the table (:data:`TABLE_COLUMNS`, manifest order, ``image_row`` -1 when
        rejected) and the stack (n_kept, 5, size, size) float32.
    settings : Ps1ImageSettings
    """
    manifest = read_parquet(manifest_path)
    size = int(settings.size)
    rows, images = [], []
    for obj, status, reason, files, listed in zip(
            manifest["object_id"], manifest["status"], manifest["reject_reason"],
            manifest["path"], manifest["listed"], strict=True):
        row = {"object_id": int(obj), "image_row": -1, "image_reason": "",
               "image_detail": "", "listed": str(listed)}
        rows.append(row)
        if status != "ok":
            code = next((c for c in ("missing_band", "no_stack") if str(reason).startswith(c)),
                        "no_image")
            row.update(image_reason=code, image_detail=f"{reason}: object {int(obj)}")
            continue
        try:
            cube = read_ps1_cutouts(manifest_paths(files))
        except (OSError, ValueError) as err:
            code = "missing_band" if "missing PS1 band" in str(err) else "bad_image"
            row.update(image_reason=code, image_detail=f"unreadable:{err}")
            continue
        bad = _bad_detail(cube, size)
        if bad:
            row.update(image_reason="bad_image", image_detail=f"{bad}: object {int(obj)}")
            continue
        row["image_row"] = len(images)
        images.append(stretch_grizy(cube, settings._soft))
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    table["object_id"] = table["object_id"].astype(np.int64)
    table["image_row"] = table["image_row"].astype(np.int64)
    stack = (np.stack(images) if images else np.zeros((0, 5, size, size), np.float32))
    save_npy(stack.astype(np.float32), stack_path)
    write_parquet(table, table_path)
    log.info("PS1 images %s: %d of %d kept; rejects %s", manifest_path, len(images),
             len(table), table.loc[table["image_row"] < 0, "image_reason"].value_counts()
             .to_dict())
    return table
