"""Preprocess every cutout of one shard: the table of all objects and the kept tensor."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from astropy.io import fits
from tqdm import tqdm

from galstar.imaging.neighbour_model import Neighbours, neighbours_from_table
from galstar.imaging.pipeline import PreprocessConfig, preprocess_cutout
from galstar.logs import quiet_worker

__all__ = ["CARRY_COLUMNS", "CutoutReadError", "neighbours_per_object", "read_cutout",
           "preprocess_paths",
           "preprocess_shard"]

log = logging.getLogger(__name__)

#: Catalogue columns carried into the preprocess table when present (training needs
#: the labels and split; the DR9 columns serve the applicability analyses).
CARRY_COLUMNS: tuple[str, ...] = (
    "object_id", "shard", "split", "ra", "dec", "RA", "DEC", "lgm_fib_p50", "specsfr_fib_p50",
    "z", "TYPE", "SHAPE_R", "FLUX_G", "FLUX_R", "FLUX_Z",
)
_ELLIPSE_COLUMNS = ("ellipse_x", "ellipse_y", "ellipse_a", "ellipse_b", "ellipse_angle")


class CutoutReadError(ValueError):
    """A cached cutout file that cannot be read as a FITS image.

    Attributes
    ----------
    detail : str
        The cause, for the table's ``reject_detail``: ``missing_file``, ``not_fits``
        (the file is not readable FITS) or ``no_image`` (empty primary HDU).
    """

    def __init__(self, message: str, detail: str = "not_fits") -> None:
        super().__init__(message)
        self.detail = detail


def read_cutout(path: str | os.PathLike) -> np.ndarray:
    """Read the primary-HDU image of a Legacy Survey FITS cutout.

    Parameters
    ----------
    path : str or os.PathLike
        The cached ``fits-cutout`` response.

    Returns
    -------
    numpy.ndarray
        The data as float32 (nanomaggies), shape as stored (normally (3, 152, 152)).

    Raises
    ------
    CutoutReadError
        When the file is missing, is not FITS, or has no image in its primary HDU.
    """
    try:
        with fits.open(path, memmap=False) as hdul:
            data = hdul[0].data
            if data is None:
                raise CutoutReadError(f"{path}: primary HDU holds no image", "no_image")
            return np.asarray(data, dtype=np.float32)
    except CutoutReadError:
        raise
    except FileNotFoundError as err:
        raise CutoutReadError(f"{path}: {err}", "missing_file") from err
    except (OSError, ValueError, TypeError, IndexError) as err:
        raise CutoutReadError(f"{path}: {err}") from err


def _process_one(path: str, config: PreprocessConfig, neighbours: Any = None
                 ) -> tuple[dict[str, Any], np.ndarray | None]:
    try:
        cube = read_cutout(path)
    except CutoutReadError as err:
        log.warning("unreadable cutout: %s", err)
        row = dict.fromkeys(_ELLIPSE_COLUMNS, math.nan)
        row.update(radius_px=math.nan, blended=False, reject_reason="unreadable_cutout",
                   reject_detail=err.detail, threshold=math.nan, n_sources=-1, n_regions=-1,
                   catalog_contamination=math.nan)
        return row, None
    result = preprocess_cutout(cube, config, neighbours=neighbours)
    row = (result.ellipse.as_dict() if result.ellipse is not None
           else dict.fromkeys(_ELLIPSE_COLUMNS, math.nan))
    row.update(radius_px=result.radius_px, blended=result.blended,
               reject_reason=result.reject_reason, reject_detail=result.reject_detail,
               threshold=result.threshold,
               n_sources=result.n_sources, n_regions=result.n_regions,
               catalog_contamination=result.catalog_contamination)
    return row, result.image


def _process_chunk(paths: Sequence[str], config: PreprocessConfig,
                   neighbours: Sequence[Any] | None = None
                   ) -> list[tuple[dict[str, Any], np.ndarray | None]]:
    if neighbours is None:
        neighbours = [None] * len(paths)
    return [_process_one(p, config, nb) for p, nb in zip(paths, neighbours, strict=True)]


def neighbours_per_object(neighbours: pd.DataFrame, object_ids: np.ndarray,
                           pixscale: float, size: int = 152) -> list[Neighbours]:
    """Each object's catalogue neighbours, converted once for the whole shard (the
    pipeline moves them to the frame of the actual cutout size)."""
    allrows = neighbours_from_table(neighbours, size, pixscale)
    index = pd.Series(np.arange(len(neighbours))).groupby(
        neighbours["object_id"].to_numpy()).apply(np.asarray).to_dict()
    empty = np.zeros(0, dtype=np.int64)
    return [allrows.take(index.get(oid, empty)) for oid in object_ids]


def _chunk_bounds(n: int, workers: int, largest: int) -> list[int]:
    """Boundaries of the tasks of ``n`` cutouts on ``workers`` processes (guided).

    Each task takes half of each worker's share of what is left, at most
    ``largest`` and at least one cutout: few tasks while much is left (little hand-over
    cost), one cutout at a time at the end. With equal tasks, the last one a worker
    takes ends up to a whole task after the others have stopped (idle time that does
    not shrink with more processes).
    """
    bounds = [0]
    while bounds[-1] < n:
        left = n - bounds[-1]
        bounds.append(bounds[-1] + max(1, min(largest, left // (2 * workers))))
    return bounds


def preprocess_paths(
    paths: Sequence[str],
    config: PreprocessConfig,
    threads: int = 1,
    chunk: int = 32,
    progress: bool = False,
    neighbours: Sequence[Any] | None = None,
) -> list[tuple[dict[str, Any], np.ndarray | None]]:
    """Preprocess cached cutouts, in order, on ``threads`` processes.

    Parameters
    ----------
    paths : sequence of str
        FITS files.
    config : PreprocessConfig
        Settings.
    threads : int
        Worker processes (1 = in this process). Processes, not threads: photutils
        and the per-cutout Python overhead hold the GIL.
    chunk : int
        Most cutouts per task handed to a worker; the tasks shrink towards the end of
        the shard (:func:`_chunk_bounds`) so that the workers finish together.
    progress : bool
        Show a tqdm bar.
    neighbours : sequence, optional
        Per path, the target's catalogue neighbours (a table, see
        :func:`galstar.imaging.pipeline.preprocess_cutout`); None: no catalogue pass.

    Returns
    -------
    list of (dict, numpy.ndarray or None)
        Per cutout: table fields, and the model image when kept.
    """
    paths = [str(p) for p in paths]
    if neighbours is None:
        neighbours = [None] * len(paths)
    if threads <= 1 or len(paths) <= chunk:
        it = tqdm(paths, desc="preprocess", disable=not progress, mininterval=5)
        return [_process_one(p, config, nb) for p, nb in zip(it, neighbours, strict=True)]
    bounds = _chunk_bounds(len(paths), threads, chunk)
    chunks = [paths[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    nb_chunks = [list(neighbours[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    out: list[tuple[dict[str, Any], np.ndarray | None]] = []
    with ProcessPoolExecutor(max_workers=threads, initializer=quiet_worker) as pool:
        results = pool.map(_process_chunk, chunks, [config] * len(chunks), nb_chunks)
        for part in tqdm(results, total=len(chunks), desc="preprocess", unit="chunk",
                         disable=not progress, mininterval=5):
            out.extend(part)
    return out


def preprocess_shard(
    manifest: pd.DataFrame,
    catalog: pd.DataFrame,
    config: PreprocessConfig | Mapping[str, Any],
    threads: int = 1,
    progress: bool = False,
    neighbours: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Preprocess one shard: every catalogue object gets a row, kept ones an image.

    Parameters
    ----------
    manifest : pandas.DataFrame
        Cutout manifest of the shard (object_id, path, status ``ok|failed``,
        reject_reason).
    catalog : pandas.DataFrame
        Catalogue shard (object_id, split, labels, DR9 columns).
    config : PreprocessConfig or mapping
        Settings (the ``galaxies.preprocess`` section).
    threads : int
        Worker processes.
    progress : bool
        Show a progress bar.
    neighbours : pandas.DataFrame, optional
        The shard's catalogue neighbour table (object_id of the target, one row per
        neighbour; ``results/galaxies/catalog/neighbours``). Without it the catalogue pass is
        skipped; an object with no row has no neighbour.

    Returns
    -------
    (pandas.DataFrame, numpy.ndarray)
        The table, in catalogue order (object_id, carried columns, ellipse_*,
        radius_px, radius_arcsec, blended, reject_reason, reject_detail (the cause of
        ``bad_pixels`` or ``unreadable_cutout``, "" otherwise), kept, row, diagnostics),
        and the (n_kept, crop, crop, 3) float32 tensor whose row i is the object with
        ``row == i``. Download failures keep the manifest's reason (``download_failed``
        if it gave none); catalogue objects absent from the manifest get
        ``missing_cutout``.

    Raises
    ------
    ValueError
        If a required column is missing or object ids repeat.
    """
    if not isinstance(config, PreprocessConfig):
        config = PreprocessConfig.from_mapping(config)
    for name, frame, needed in (("catalog", catalog, ("object_id",)),
                                ("manifest", manifest, ("object_id", "path", "status"))):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} lacks columns {missing}")
        if frame["object_id"].duplicated().any():
            raise ValueError(f"{name} repeats object_id values")

    table = catalog[[c for c in CARRY_COLUMNS if c in catalog.columns]].reset_index(drop=True)
    man = manifest.set_index("object_id")
    in_manifest = table["object_id"].isin(man.index).to_numpy()
    status = man["status"].reindex(table["object_id"]).to_numpy()
    ok = in_manifest & (status == "ok")
    reasons = pd.Series([None] * len(table), dtype=object)
    details = np.full(len(table), "", dtype=object)
    reasons[~in_manifest] = "missing_cutout"
    if "reject_reason" in man.columns:
        man_reason = man["reject_reason"].reindex(table["object_id"]).to_numpy(dtype=object)
    else:
        man_reason = np.full(len(table), None, dtype=object)
    for i in np.flatnonzero(in_manifest & ~ok):
        r = man_reason[i]
        reasons[i] = r if isinstance(r, str) and r else "download_failed"

    ok_idx = np.flatnonzero(ok)
    paths = man["path"].reindex(table["object_id"]).to_numpy(dtype=object)[ok_idx]
    per_object = None
    if neighbours is not None and config.blend.catalog_contamination_max > 0:
        per_object = neighbours_per_object(neighbours, table["object_id"].to_numpy()[ok_idx],
                                            config.pixscale)
    outcomes = preprocess_paths(list(paths), config, threads=threads, progress=progress,
                                neighbours=per_object)

    cols: dict[str, np.ndarray] = {c: np.full(len(table), np.nan) for c in _ELLIPSE_COLUMNS}
    cols["radius_px"] = np.full(len(table), np.nan)
    cols["threshold"] = np.full(len(table), np.nan)
    cols["n_sources"] = np.full(len(table), -1, dtype=np.int64)
    cols["n_regions"] = np.full(len(table), -1, dtype=np.int64)
    cols["catalog_contamination"] = np.full(len(table), np.nan)
    blended = np.zeros(len(table), dtype=bool)
    rows = np.full(len(table), -1, dtype=np.int64)
    images = []
    for i, (fields_, image) in zip(ok_idx, outcomes, strict=True):
        for key in (*_ELLIPSE_COLUMNS, "radius_px", "threshold", "n_sources", "n_regions",
                    "catalog_contamination"):
            cols[key][i] = fields_[key]
        blended[i] = fields_["blended"]
        reasons[i] = fields_["reject_reason"]
        details[i] = fields_["reject_detail"]
        if image is not None:
            rows[i] = len(images)
            images.append(image)
    for key, values in cols.items():
        table[key] = values
    table["radius_arcsec"] = table["radius_px"] * config.pixscale
    table["blended"] = blended
    table["reject_reason"] = reasons.to_numpy(dtype=object)
    table["reject_detail"] = details
    table["kept"] = rows >= 0
    table["row"] = rows
    crop = config.crop
    tensor = (np.stack(images).astype(np.float32) if images
              else np.zeros((0, crop, crop, 3), dtype=np.float32))
    counts = table["reject_reason"].fillna("kept").value_counts().to_dict()
    log.info("preprocessed %d objects: %s", len(table), counts)
    causes = table.loc[table["reject_detail"] != "", ["reject_reason", "reject_detail"]]
    if len(causes):
        by_cause = (causes["reject_reason"] + " " + causes["reject_detail"]).value_counts()
        log.info("reject causes: %s", by_cause.to_dict())
    return table, tensor
