"""The spectra_from_images sample of one catalogue shard: PS1 images and rest-frame SDSS
spectra of the same galaxies, row-aligned (the data contract of issue 14).

:func:`assemble_sfi_sample` joins, in catalogue order, the shard's catalogue rows
(``object_id, split, shard``), its rest-frame spectra (:mod:`galstar.spectra.
restframe_shard`) and its PS1 images (:mod:`galstar.imaging.ps1`). An object is kept
when it has a usable spectrum with z < z_max and all five PS1 bands; its masked spectrum
pixels are filled by the gap filler fitted on the training split. Outputs (paths.SFI_*):

- table: one row per kept object, in tensor row order: ``object_id, split, shard`` (the
  catalogue's values), ``z``
  (the spectrum file's), ``specobjid, ra, dec, norm, masked_fraction`` (fraction of
  pixels filled), ``listed``
  (the PS1 service's band order), ``has_truth``;
- images (N, 5, S, S) float32, g, r, i, z, y, stretched; spectra (N, 2, n_pixels)
  float32 (0: normalised, gap-filled flux; 1: its inverse variance, 0 where filled);
  truth (N, n_pixels) float32 (NaN without truth);
- rejects: ``object_id, code, reason`` (the first failing step: the spectrum's reason,
  else the image's; ``reason`` is ``<code>: <detail>``).

:func:`write_sfi_reject_counts` counts kept and rejected objects by code over all shards.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from galstar.io import atomic_path, load_npy, read_parquet, save_npy, write_parquet
from galstar.spectra.restframe import GapFiller

__all__ = ["TABLE_COLUMNS", "assemble_sfi_sample", "write_sfi_reject_counts"]

log = logging.getLogger(__name__)

TABLE_COLUMNS = ("object_id", "split", "shard", "z", "specobjid", "ra", "dec", "norm",
                 "masked_fraction", "listed", "has_truth")


def _reason(code: str, detail: str) -> str:
    """``<code>: <detail>``, the code once (details often start with it already)."""
    return detail if str(detail).startswith(f"{code}:") else f"{code}: {detail}"


def assemble_sfi_sample(catalog_path: str | os.PathLike, image_table: str | os.PathLike,
                        image_stack: str | os.PathLike, spectra_table: str | os.PathLike,
                        spectra_tensor: str | os.PathLike, pca_path: str | os.PathLike,
                        out: dict[str, str | os.PathLike]) -> pd.DataFrame:
    """Join one shard (module docstring) and write ``out['table' | 'images' | 'spectra' |
    'truth' | 'rejects']``; return the kept table."""
    cat = read_parquet(catalog_path)
    need = ["object_id", "split", "shard", "ra", "dec"]
    missing = [c for c in need if c not in cat.columns]
    if missing:
        raise KeyError(f"{catalog_path}: catalogue shard lacks column(s) {missing}")
    images = read_parquet(image_table).set_index("object_id")
    spectra = read_parquet(spectra_table).set_index("object_id")
    for name, table in (("PS1 image", images), ("rest-frame spectrum", spectra)):
        absent = ~cat["object_id"].isin(table.index)
        if absent.any():
            raise ValueError(f"{name} table lacks {int(absent.sum())} objects of "
                             f"{catalog_path}, e.g. {int(cat.loc[absent, 'object_id'].iloc[0])}")
    img = images.loc[cat["object_id"]]
    spe = spectra.loc[cat["object_id"]]
    spec_ok = (spe["restframe_row"] >= 0).to_numpy()
    img_ok = (img["image_row"] >= 0).to_numpy()
    kept = spec_ok & img_ok
    code = np.where(~spec_ok, spe["restframe_reason"].to_numpy(dtype=object),
                    np.where(~img_ok, img["image_reason"].to_numpy(dtype=object), ""))
    detail = np.where(~spec_ok, spe["restframe_detail"].to_numpy(dtype=object),
                      img["image_detail"].to_numpy(dtype=object))
    rejects = pd.DataFrame({"object_id": cat["object_id"].to_numpy(np.int64)[~kept],
                            "code": code[~kept].astype(str),
                            "reason": [_reason(c, d) for c, d in zip(code[~kept], detail[~kept],
                                                                     strict=True)]})
    rows_s = spe["restframe_row"].to_numpy()[kept]
    rows_i = img["image_row"].to_numpy()[kept]
    tensor = load_npy(spectra_tensor)
    stack = load_npy(image_stack)
    n_pix = tensor.shape[-1]
    flux = np.asarray(tensor[rows_s, 0]) if kept.any() else np.zeros((0, n_pix), np.float32)
    ivar = np.asarray(tensor[rows_s, 1]) if kept.any() else np.zeros((0, n_pix), np.float32)
    truth = np.asarray(tensor[rows_s, 2]) if kept.any() else np.zeros((0, n_pix), np.float32)
    filled = GapFiller.load(pca_path).fill(flux, ivar <= 0) if kept.any() else flux
    spectra_out = np.stack([filled, ivar], axis=1).astype(np.float32)
    images_out = np.asarray(stack[rows_i], dtype=np.float32) if kept.any() else np.zeros(
        (0, *stack.shape[1:]), np.float32)
    table = pd.DataFrame({
        "object_id": cat["object_id"].to_numpy(np.int64)[kept],
        "split": cat["split"].astype(str).to_numpy()[kept],
        "shard": cat["shard"].to_numpy()[kept],  # the catalogue's shard index
        "z": spe["z"].to_numpy(float)[kept],
        "specobjid": spe["specobjid"].to_numpy(np.int64)[kept],
        "ra": cat["ra"].to_numpy(float)[kept], "dec": cat["dec"].to_numpy(float)[kept],
        "norm": spe["norm"].to_numpy(float)[kept],
        "masked_fraction": spe["masked_fraction"].to_numpy(float)[kept],
        "listed": img["listed"].astype(str).to_numpy()[kept],
        "has_truth": np.isfinite(truth).any(axis=1) if len(truth) else np.zeros(0, bool),
    }, columns=list(TABLE_COLUMNS))
    save_npy(images_out, out["images"])
    save_npy(spectra_out, out["spectra"])
    save_npy(truth.astype(np.float32), out["truth"])
    write_parquet(rejects, out["rejects"])
    write_parquet(table, out["table"])
    log.info("spectra_from_images %s: %d of %d kept; rejects %s", catalog_path, len(table),
             len(cat), rejects["code"].value_counts().to_dict())
    return table


def write_sfi_reject_counts(table_paths: Sequence[str | os.PathLike],
                            reject_paths: Sequence[str | os.PathLike],
                            path: str | os.PathLike) -> pd.DataFrame:
    """Objects kept and rejected (by code) over all shards: ``reason, count, fraction``,
    kept first, then by decreasing count; written as CSV."""
    n_kept = sum(len(read_parquet(p, columns=["object_id"])) for p in table_paths)
    codes = pd.concat([read_parquet(p, columns=["code"])["code"] for p in reject_paths],
                      ignore_index=True)
    counts = codes.value_counts()
    out = pd.DataFrame({"reason": ["kept", *counts.index],
                        "count": [n_kept, *counts.to_numpy()]})
    out = pd.concat([out.iloc[:1], out.iloc[1:].sort_values(["count", "reason"],
                                                            ascending=[False, True])])
    total = int(out["count"].sum())
    out["fraction"] = out["count"] / total if total else 0.0
    out = out.reset_index(drop=True)
    with atomic_path(path) as tmp:
        out.to_csv(tmp, index=False)
    return out
