"""Stage 1 for the SDSS products of one catalogue shard: spectra, ugriz cutouts, DR7 SFRs.

The fetch functions come from :mod:`galstar.mock.sources` (mock or live); this module
builds their targets from the catalogue shard, keys their manifests by ``object_id`` (one
row per catalogue object, in catalogue order) and writes them atomically. A per-object
failure is a ``failed`` manifest row with its reason, never an exception; a job fails
only when a fetch raises (a live DR7 file that cannot be had, a broken mock archive).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from galstar.archives.mpajhu_dr7 import DEFAULT_NAMES, read_dr7_sfr
from galstar.io import read_parquet, write_parquet

__all__ = ["SHARD_COLUMNS", "acquire_sdss_spectra", "acquire_sdss_images", "acquire_dr7"]

log = logging.getLogger(__name__)

Fetch = Callable[[pd.DataFrame, "str | os.PathLike"], pd.DataFrame]
#: Catalogue columns the SDSS requests need (MPA-JHU names).
SHARD_COLUMNS = ["object_id", "specObjID", "plateid", "mjd", "fiberid", "ra", "dec"]


def _targets(catalog_path: str | os.PathLike) -> pd.DataFrame:
    cat = read_parquet(catalog_path)
    missing = [c for c in SHARD_COLUMNS if c not in cat.columns]
    if missing:
        raise KeyError(f"{catalog_path}: catalogue shard lacks column(s) {missing}")
    return cat[SHARD_COLUMNS].reset_index(drop=True)


def _log_counts(what: str, manifest: pd.DataFrame, path) -> None:
    failed = manifest[manifest["status"] != "ok"]
    reasons = failed["reject_reason"].str.split(":").str[0].value_counts().to_dict()
    log.info("%s %s: %d of %d ok; failed by reason: %s", what, path,
             len(manifest) - len(failed), len(manifest), reasons)


def acquire_sdss_spectra(catalog_path: str | os.PathLike, out_path: str | os.PathLike,
                         fetch: Fetch, dest_dir: str | os.PathLike | None = None
                         ) -> pd.DataFrame:
    """Fetch the spectrum file of every object of a catalogue shard.

    Parameters
    ----------
    catalog_path : path
        ``results/galaxies/catalog/shards/{shard}.parquet``.
    out_path : path
        Manifest (Parquet): ``object_id, specObjID`` then the client's columns
        (``plate, mjd, fiberid, url, path, status, reject_reason, sha256, attempts``).
    fetch : callable
        :func:`galstar.mock.sources.sdss_spectra_fetcher`.
    dest_dir : path, optional
        File cache (default: ``cache/`` beside the manifest, shared by every shard: the
        SAS layout is unique per spectrum).
    """
    targets = _targets(catalog_path)
    dest = Path(out_path).parent / "cache" if dest_dir is None else Path(dest_dir)
    got = fetch(targets[["plateid", "mjd", "fiberid"]], dest)
    if len(got) != len(targets):
        raise RuntimeError(f"{catalog_path}: fetched {len(got)} manifest rows for "
                           f"{len(targets)} objects")
    manifest = pd.concat([targets[["object_id", "specObjID"]].astype(np.int64),
                          got.reset_index(drop=True)], axis=1)
    write_parquet(manifest, out_path)
    _log_counts("SDSS spectra", manifest, out_path)
    return manifest


def acquire_sdss_images(catalog_path: str | os.PathLike, out_path: str | os.PathLike,
                        fetch: Fetch, dest_dir: str | os.PathLike | None = None
                        ) -> pd.DataFrame:
    """Fetch the ugriz cutout of every object of a catalogue shard (at the MPA-JHU
    position, the fibre's).

    Parameters
    ----------
    catalog_path, out_path : path
        The shard; the manifest (Parquet): ``object_id, ra, dec, path, status,
        reject_reason, n_frames``.
    fetch : callable
        :func:`galstar.mock.sources.sdss_images_fetcher`.
    dest_dir : path, optional
        Cache root (default: ``cache/{shard}/`` beside the manifest; cutouts under
        ``cutouts/<object_id>.fits``, live frames under ``frames/``).
    """
    targets = _targets(catalog_path)
    out_path = Path(out_path)
    dest = out_path.parent / "cache" / out_path.stem if dest_dir is None else Path(dest_dir)
    manifest = fetch(targets[["object_id", "specObjID", "ra", "dec"]], dest)
    manifest = manifest.reset_index(drop=True)
    if len(manifest) != len(targets) or not np.array_equal(
            manifest["object_id"].to_numpy(np.int64), targets["object_id"].to_numpy(np.int64)):
        raise RuntimeError(f"{catalog_path}: the image manifest does not list the shard's "
                           "objects in order")
    manifest["object_id"] = manifest["object_id"].astype(np.int64)
    write_parquet(manifest, out_path)
    _log_counts("SDSS images", manifest, out_path)
    return manifest


def acquire_dr7(out_path: str | os.PathLike, fetch: Callable[[Path], pd.DataFrame],
                names: dict[str, str] | None = None) -> pd.DataFrame:
    """Fetch the MPA-JHU DR7 flat files and write them as one table.

    Parameters
    ----------
    out_path : path
        ``resources/{archive}/mpajhu_dr7/sfr.parquet``: :func:`galstar.archives.
        mpajhu_dr7.read_dr7_sfr` (``plateid, mjd, fiberid, ra, dec, z`` and
        ``sfr_tot_{median,p2p5,p16,p84,p97p5,mode,avg,entropy,flag}``, sentinels kept);
        the FITS files stay beside it.
    fetch : callable
        ``fetch(dest_dir) -> manifest`` (:func:`galstar.mock.sources.fetch_dr7`).
    names : dict, optional
        Server file names per product (default :data:`~galstar.archives.mpajhu_dr7.
        DEFAULT_NAMES`).
    """
    dest = Path(out_path).parent
    fetch(dest)
    names = {**DEFAULT_NAMES, **(names or {})}
    table = read_dr7_sfr(dest / names["gal_info"], dest / names["gal_totsfr"])
    key = ["plateid", "mjd", "fiberid"]
    dup = table.duplicated(key)
    if dup.any():  # a spectrum listed twice would join twice: keep its first row
        log.warning("%s: %d repeated (plateid, mjd, fiberid), e.g. %s; first rows kept",
                    dest / names["gal_info"], int(dup.sum()),
                    table.loc[dup, key].iloc[0].tolist())
        table = table[~dup].reset_index(drop=True)
    write_parquet(table, out_path)
    log.info("MPA-JHU DR7: %d rows -> %s", len(table), out_path)
    return table
