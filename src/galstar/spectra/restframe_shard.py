"""Rest-frame SDSS spectra of one catalogue shard, and the gap filler fitted over all
shards (the spectra_from_images data; :mod:`galstar.spectra.restframe` per spectrum).

:func:`restframe_shard` reads the shard's SDSS spectrum manifest (one row per catalogue
object, :func:`galstar.archives.sdss_acquire.acquire_sdss_spectra`), puts every
downloaded file on the rest-frame grid and writes

- the tensor, float32 (n_kept, 3, n_pixels): 0 the normalised flux (0 on masked pixels,
  not yet filled), 1 its inverse variance (0 masked), 2 the noiseless truth on the same
  grid and scale (NaN without truth: a live archive);
- the table, one row per manifest row in order: ``object_id``, ``specobjid``,
  ``restframe_row`` (-1 when rejected), ``restframe_reason`` (``""``, ``no_spectrum``,
  ``unreadable_spectrum`` or a :mod:`~galstar.spectra.restframe` code), ``restframe_detail``
  (``<message>: <file>``), ``z`` (the file's), ``norm`` and ``masked_fraction``.

:func:`fit_gap_filler` fits the iterative-PCA gap filler on the training split of every
shard (never validation or test spectra) and writes it with the grid description.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from galstar.io import atomic_path, load_npy, read_parquet, save_npy, write_parquet
from galstar.spectra.errors import Rejected, SpectrumFormatError
from galstar.spectra.restframe import (
    GapFiller,
    RestframeSettings,
    grid_description,
    model_to_restframe,
    to_restframe,
)
from galstar.spectra.sdss import read_spectrum

__all__ = ["TABLE_COLUMNS", "TruthSource", "restframe_shard", "fit_gap_filler"]

log = logging.getLogger(__name__)

TABLE_COLUMNS = ("object_id", "specobjid", "restframe_row", "restframe_reason",
                 "restframe_detail", "z", "norm", "masked_fraction")
#: ``truth(specobjid) -> (loglam, noiseless flux)`` in the observed frame, or None.
TruthSource = Callable[[int], "tuple[np.ndarray, np.ndarray] | None"]


def restframe_shard(manifest_path: str | os.PathLike, table_path: str | os.PathLike,
                    tensor_path: str | os.PathLike, settings: RestframeSettings,
                    truth: TruthSource | None = None) -> pd.DataFrame:
    """Rest-frame spectra of one shard (module docstring); one bad file costs its row.

    Parameters
    ----------
    manifest_path : path
        The shard's SDSS spectrum manifest (``object_id, specObjID, path, status,
        reject_reason``).
    table_path, tensor_path : path
        Outputs.
    settings : RestframeSettings
    truth : callable, optional
        The mock's noiseless spectra (:func:`galstar.mock.sdss_truth.true_spectra`).
    """
    manifest = read_parquet(manifest_path)
    n_pix = int(settings.n_pixels)
    rows, planes = [], []
    for obj, spec, status, reason, path in zip(
            manifest["object_id"], manifest["specObjID"], manifest["status"],
            manifest["reject_reason"], manifest["path"], strict=True):
        row = {"object_id": int(obj), "specobjid": int(spec), "restframe_row": -1,
               "restframe_reason": "", "restframe_detail": "", "z": np.nan,
               "norm": np.nan, "masked_fraction": np.nan}
        rows.append(row)
        if status != "ok":
            row.update(restframe_reason="no_spectrum",
                       restframe_detail=f"{reason or 'download_failed'}: object {int(obj)}")
            continue
        try:
            spectrum = read_spectrum(path)
        except (OSError, SpectrumFormatError) as err:
            row.update(restframe_reason="unreadable_spectrum", restframe_detail=f"{err}")
            continue
        row["z"] = float(spectrum.z)
        try:
            flux, ivar, mask, norm = to_restframe(spectrum, settings)
        except Rejected as err:
            row.update(restframe_reason=err.code, restframe_detail=f"{err.reason}: {path}")
            continue
        true = np.full(n_pix, np.nan, np.float32)
        got = truth(int(spec)) if truth is not None else None
        if got is not None:
            true = model_to_restframe(got[0], got[1], spectrum.z, norm, settings)
        row.update(restframe_row=len(planes), norm=norm, masked_fraction=float(mask.mean()))
        planes.append(np.stack([flux, ivar, true]))
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    for col in ("object_id", "specobjid", "restframe_row"):
        table[col] = table[col].astype(np.int64)
    tensor = np.stack(planes) if planes else np.zeros((0, 3, n_pix), np.float32)
    save_npy(tensor.astype(np.float32), tensor_path)
    write_parquet(table, table_path)
    log.info("rest-frame spectra %s: %d of %d kept; rejects %s", manifest_path, len(planes),
             len(table), table.loc[table["restframe_row"] < 0, "restframe_reason"]
             .value_counts().to_dict())
    return table


def fit_gap_filler(catalog_paths: Sequence[str | os.PathLike],
                   table_paths: Sequence[str | os.PathLike],
                   tensor_paths: Sequence[str | os.PathLike], settings: RestframeSettings,
                   pca_path: str | os.PathLike, grid_path: str | os.PathLike,
                   seed: int = 0) -> GapFiller:
    """Fit the gap filler on the training-split spectra of every shard; write it
    (``.npz``) and the grid description (JSON, with the number of spectra fitted).

    Parameters
    ----------
    catalog_paths, table_paths, tensor_paths : sequence of path
        Per shard, in the same order: the catalogue shard (``object_id, split``), the
        :func:`restframe_shard` table and tensor.
    seed : int
        Picks the ``max_fit_spectra`` subset when there are more.
    """
    flux, mask = [], []
    for cat_path, table_path, tensor_path in zip(catalog_paths, table_paths, tensor_paths,
                                                 strict=True):
        cat = read_parquet(cat_path, columns=["object_id", "split"])
        table = read_parquet(table_path, columns=["object_id", "restframe_row"])
        split = table["object_id"].map(dict(zip(cat["object_id"], cat["split"], strict=True)))
        if split.isna().any():
            raise ValueError(f"{table_path}: objects not in the catalogue shard {cat_path}")
        rows = table.loc[(split == "train").to_numpy() & (table["restframe_row"] >= 0).to_numpy(),
                         "restframe_row"].to_numpy()
        tensor = load_npy(tensor_path)
        flux.append(np.asarray(tensor[rows, 0]))
        mask.append(np.asarray(tensor[rows, 1]) <= 0)
    flux, mask = np.concatenate(flux), np.concatenate(mask)
    if len(flux) > settings.max_fit_spectra:
        pick = np.sort(np.random.default_rng(seed).choice(len(flux), settings.max_fit_spectra,
                                                          replace=False))
        flux, mask = flux[pick], mask[pick]
    filler = GapFiller(settings.n_components, settings.n_iter, settings.ridge).fit(flux, mask)
    filler.save(pca_path)
    description = grid_description(settings, n_fit_spectra=int(len(flux)),
                                   fit_masked_fraction=float(mask.mean()))
    with atomic_path(grid_path) as tmp:
        Path(tmp).write_text(json.dumps(description, indent=2) + "\n")
    log.info("gap filler: %d components from %d training spectra (%.1f%% pixels masked)",
             settings.n_components, len(flux), 100 * mask.mean())
    return filler
