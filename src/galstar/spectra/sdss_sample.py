"""SDSS spectra of one catalogue shard on the model grid: the tensor and its table.

:func:`preprocess_spectra_shard` reads the shard's download manifest (one row per
catalogue object, :func:`galstar.archives.sdss_acquire.acquire_sdss_spectra`), grids
every downloaded file with :func:`galstar.spectra.sdss_shard.preprocess_sdss_files`
(read, mask, flux-conserving resampling, normalisation, fill) and writes

- the tensor, float32 (n_kept, n_pixels, 2) channels last: 0 the normalised, filled
  flux, 1 the mask (1 masked, 0 good);
- the table, one row per manifest row in order: ``object_id``, ``spectrum_row`` (row of
  the tensor, -1 when none), ``spectrum_reason`` (``""``, ``no_spectrum``,
  ``unreadable_spectrum`` or ``bad_spectrum``), ``spectrum_detail`` (``<code>: <message
  naming the file>``), ``spec_z``, ``spec_z_err``, ``spec_zwarning``, ``spec_class``
  (from the file's SPECOBJ), ``masked_fraction`` and ``spectrum_source`` (the file).

:func:`grid_description` is the grid's JSON (``paths.SDSS_SPECTRA_GRID``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from galstar.io import atomic_path, read_parquet, save_npy, write_parquet
from galstar.spectra.sdss_grid import SdssGridSettings, SpectrumGrid
from galstar.spectra.sdss_shard import preprocess_sdss_files

__all__ = ["TABLE_COLUMNS", "spectra_settings", "grid_description", "write_grid_description",
           "preprocess_spectra_shard"]

log = logging.getLogger(__name__)

#: Columns of the spectra table, in order.
TABLE_COLUMNS = ("object_id", "spectrum_row", "spectrum_reason", "spectrum_detail", "spec_z",
                 "spec_z_err", "spec_zwarning", "spec_class", "masked_fraction",
                 "spectrum_source")


def spectra_settings(config: Mapping[str, Any]) -> tuple[SpectrumGrid, SdssGridSettings]:
    """The grid and gridding settings of config ``galaxies.sdss.spectra``.

    ``grid`` ({start, stop, n_pixels}) is the grid; every other key is a
    :class:`~galstar.spectra.sdss_grid.SdssGridSettings` field. A bad key or value
    raises ``ValueError`` naming ``galaxies.sdss.spectra.<key>``.
    """
    config = dict(config)
    key = "galaxies.sdss.spectra"
    grid = SpectrumGrid.from_mapping(config.pop("grid", {}), key=f"{key}.grid")
    return grid, SdssGridSettings.from_mapping(config, key=key)


def grid_description(grid: SpectrumGrid, settings: SdssGridSettings) -> dict[str, Any]:
    """What a method needs to place each pixel: pixel i has the observed-frame vacuum
    wavelength ``10 ** (loglam_start + i * loglam_step)`` Angstrom."""
    return {
        "loglam_start": float(np.log10(grid.start)), "loglam_step": grid.dloglam,
        "n_pixels": int(grid.n_pixels), "start_angstrom": float(grid.start),
        "stop_angstrom": float(grid.stop), "frame": "observed", "medium": "vacuum",
        "channels": ["flux", "mask"], "normalise": settings.normalise,
        "window_angstrom": [float(w) for w in settings.window], "fill": settings.fill,
        "mask_threshold": float(settings.mask_threshold),
        "min_good_fraction": float(settings.min_good_fraction),
        "bad_bits": list(settings.bad_bits),
        "flux_unit": ("1e-17 erg/s/cm2/A" if settings.normalise == "none"
                      else "normalised (dimensionless)"),
    }


def write_grid_description(grid: SpectrumGrid, settings: SdssGridSettings,
                           path: str | os.PathLike) -> dict[str, Any]:
    """Write :func:`grid_description` to ``path`` (atomically) and return it."""
    description = grid_description(grid, settings)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(description, indent=2) + "\n")
    return description


def preprocess_spectra_shard(manifest_path: str | os.PathLike,
                             table_path: str | os.PathLike, tensor_path: str | os.PathLike,
                             grid: SpectrumGrid, settings: SdssGridSettings) -> pd.DataFrame:
    """Grid the spectra of one shard; one bad file costs only its own row.

    Parameters
    ----------
    manifest_path : path
        The shard's spectrum manifest (``object_id``, ``path``, ``status``,
        ``reject_reason``, ``url``).
    table_path, tensor_path : path
        Outputs (see the module docstring).
    grid, settings
        :func:`spectra_settings`.

    Returns
    -------
    pandas.DataFrame
        The table written.
    """
    manifest = read_parquet(manifest_path)
    ok = (manifest["status"] == "ok").to_numpy()
    files = manifest.loc[ok, "path"].tolist()
    shard = preprocess_sdss_files(files, grid, settings)
    done = shard.table
    n = len(manifest)
    table = pd.DataFrame({
        "object_id": manifest["object_id"].to_numpy(np.int64),
        "spectrum_row": np.full(n, -1, np.int64),
        "spectrum_reason": np.full(n, "no_spectrum", dtype=object),
        "spectrum_detail": [f"{r or 'download_failed'}: {u}" for r, u in
                            zip(manifest["reject_reason"], manifest["url"], strict=True)],
        "spec_z": np.full(n, np.nan), "spec_z_err": np.full(n, np.nan),
        "spec_zwarning": np.full(n, -1, np.int64), "spec_class": np.full(n, "", dtype=object),
        "masked_fraction": np.full(n, np.nan),
        "spectrum_source": manifest["path"].astype(str).to_numpy(dtype=object),
    })
    at = np.flatnonzero(ok)
    table.loc[at, "spectrum_row"] = done["row"].to_numpy(np.int64)
    table.loc[at, "spectrum_reason"] = done["reject_reason"].to_numpy(dtype=object)
    table.loc[at, "spectrum_detail"] = [
        f"{d}: {m}" if r else "" for r, d, m in
        zip(done["reject_reason"], done["reject_detail"], done["reject_message"], strict=True)]
    for col, src in (("spec_z", "z"), ("spec_z_err", "z_err"), ("spec_zwarning", "zwarning"),
                     ("spec_class", "spec_class"), ("masked_fraction", "masked_fraction")):
        table.loc[at, col] = done[src].to_numpy()
    table["spec_zwarning"] = table["spec_zwarning"].astype(np.int64)
    table = table[list(TABLE_COLUMNS)]
    # channels last, as every galstar tensor: (n, n_pixels, 2)
    save_npy(np.ascontiguousarray(shard.x.transpose(0, 2, 1), dtype=np.float32), tensor_path)
    write_parquet(table, table_path)
    counts = table.loc[table["spectrum_row"] < 0, "spectrum_reason"].value_counts().to_dict()
    log.info("SDSS spectra %s: %d of %d on the %d-pixel grid; rejects %s", manifest_path,
             int(shard.x.shape[0]), n, grid.n_pixels, counts)
    return table
