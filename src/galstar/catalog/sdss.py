"""The SDSS sample of one catalogue shard: targets, and the joined table of the multimodal
inputs (``paths.SDSS_TARGETS``, ``paths.SDSS_TABLE``; ``paths.SDSS_IMAGE_SAMPLE`` without
the spectra, for image-only models).

:func:`sdss_targets`: every catalogue object in catalogue order with its identifiers,
split, the catalogue's spectroscopic z and the eight MPA-JHU DR7 total-SFR statistics
joined by (plateid, mjd, fiberid) (log10 Msun/yr; ENTROPY in nats; NaN where the file
has a sentinel (<= -99), a FLAG, or no row). :func:`assemble_sdss_table` adds the rows
of the spectrum and image tensors and the first reject reason, in the order of
:data:`REJECT_ORDER`.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from galstar.io import read_parquet, write_parquet

__all__ = ["SFR_COLUMNS", "TARGET_COLUMNS", "REJECT_ORDER", "sdss_targets",
           "assemble_sdss_table", "write_sdss_targets", "write_sdss_table"]

#: The DR7 statistics (``gal_totsfr`` AVG, ENTROPY, MEDIAN, MODE, P16, P2P5, P84, P97P5).
SFR_COLUMNS = ("sfr_tot_avg", "sfr_tot_entropy", "sfr_tot_median", "sfr_tot_mode",
               "sfr_tot_p16", "sfr_tot_p2p5", "sfr_tot_p84", "sfr_tot_p97p5")
#: Columns of the targets table, in order.
TARGET_COLUMNS = ("object_id", "split", "shard", "specobjid", "plateid", "mjd", "fiberid",
                  "ra", "dec", "z", *SFR_COLUMNS)
#: Reject reasons, the first that applies is recorded.
REJECT_ORDER = ("no_spectrum", "unreadable_spectrum", "bad_spectrum", "no_image",
                "bad_image", "no_sfr_stats")
_KEY = ["plateid", "mjd", "fiberid"]


def sdss_targets(catalog: pd.DataFrame, dr7: pd.DataFrame) -> pd.DataFrame:
    """Catalogue rows (in order) with the DR7 statistics.

    Parameters
    ----------
    catalog : pandas.DataFrame
        A catalogue shard (``object_id, split, shard, specObjID, plateid, mjd, fiberid,
        ra, dec, z``).
    dr7 : pandas.DataFrame
        :func:`galstar.archives.mpajhu_dr7.read_dr7_sfr` (sentinels kept).
    """
    need = ["object_id", "split", "shard", "specObjID", *_KEY, "ra", "dec", "z"]
    missing = [c for c in need if c not in catalog.columns]
    if missing:
        raise KeyError(f"catalogue shard lacks column(s) {missing}")
    out = catalog[need].rename(columns={"specObjID": "specobjid"}).reset_index(drop=True)
    for col in ("object_id", "specobjid", *_KEY):
        out[col] = out[col].astype(np.int64)
    out["z"] = out["z"].astype(np.float64)
    stats = dr7[[*_KEY, *SFR_COLUMNS, "sfr_tot_flag"]].copy()
    for col in _KEY:
        stats[col] = stats[col].astype(np.int64)
    values = stats[list(SFR_COLUMNS)].to_numpy(np.float64)
    flagged = stats["sfr_tot_flag"].to_numpy() != 0
    bad = (values <= -99.0) | ~np.isfinite(values) | flagged[:, None]
    stats[list(SFR_COLUMNS)] = np.where(bad, np.nan, values)
    out = out.merge(stats.drop(columns="sfr_tot_flag"), on=_KEY, how="left",
                    validate="many_to_one")
    if len(out) != len(catalog):  # merge keeps the left order and length
        raise AssertionError("DR7 join changed the number of rows")
    return out[list(TARGET_COLUMNS)]


def _first_reason(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    n = len(table)
    reason = np.full(n, "", dtype=object)
    detail = np.full(n, "", dtype=object)
    no_stats = ~np.isfinite(table[["z", *SFR_COLUMNS]].to_numpy(np.float64)).all(axis=1)
    nan_cols = [", ".join(c for c, v in zip(("z", *SFR_COLUMNS), row, strict=True)
                          if not np.isfinite(v))
                for row in table[["z", *SFR_COLUMNS]].to_numpy(np.float64)]
    candidates = {
        "spectrum": (table["spectrum_reason"].to_numpy(dtype=object),
                     table["spectrum_detail"].to_numpy(dtype=object)),
        "image": (table["image_reason"].to_numpy(dtype=object),
                  table["image_detail"].to_numpy(dtype=object)),
    }
    for i in range(n):
        for what in ("spectrum", "image"):
            r, d = candidates[what][0][i], candidates[what][1][i]
            if r:
                reason[i], detail[i] = r, d
                break
        else:
            if no_stats[i]:
                reason[i] = "no_sfr_stats"
                detail[i] = (f"object {int(table['object_id'].iat[i])} (plate-mjd-fiber "
                             f"{int(table['plateid'].iat[i])}-{int(table['mjd'].iat[i])}-"
                             f"{int(table['fiberid'].iat[i])}): no finite {nan_cols[i]}")
    return reason, detail


def assemble_sdss_table(targets: pd.DataFrame, spectra: pd.DataFrame | None,
                        images: pd.DataFrame) -> pd.DataFrame:
    """One row per target, in order, with the tensor rows and the first reject reason.

    Parameters
    ----------
    targets : pandas.DataFrame
        :func:`sdss_targets`.
    spectra : pandas.DataFrame or None
        :func:`galstar.spectra.sdss_sample.preprocess_spectra_shard`'s table. None: the
        image sample (``paths.SDSS_IMAGE_SAMPLE``), kept whatever the spectrum, every
        ``spectrum_row`` -1, so that image-only models do not depend on the spectra.
    images : pandas.DataFrame
        :func:`galstar.imaging.sdss.preprocess_images_shard`'s table.

    Raises
    ------
    ValueError
        When the three tables do not list the same objects in the same order.
    """
    ids = targets["object_id"].to_numpy(np.int64)
    if spectra is None:
        spectra = pd.DataFrame({"object_id": ids, "spectrum_row": np.full(len(ids), -1),
                                "spectrum_reason": "", "spectrum_detail": "",
                                "spec_z": np.nan, "spec_class": "", "spectrum_source": ""})
        with_spectra = False
    else:
        with_spectra = True
    for name, other in (("spectra", spectra), ("images", images)):
        if not np.array_equal(other["object_id"].to_numpy(np.int64), ids):
            raise ValueError(f"the {name} table does not list the shard's objects in "
                             "catalogue order")
    table = targets.reset_index(drop=True).copy()
    for col in ("spectrum_row", "spectrum_reason", "spectrum_detail", "spec_z", "spec_class",
                "spectrum_source"):
        table[col] = spectra[col].to_numpy()
    for col in ("image_row", "image_reason", "image_detail", "image_source"):
        table[col] = images[col].to_numpy()
    reason, detail = _first_reason(table)
    table["reject_reason"] = reason.astype(str)
    table["reject_detail"] = detail.astype(str)
    table["kept"] = table["reject_reason"] == ""
    rows = (table["image_row"] >= 0) & ((table["spectrum_row"] >= 0) | (not with_spectra))
    if not rows[table["kept"]].all():
        raise AssertionError("a kept object lacks a tensor row")
    table = table.drop(columns=["spectrum_reason", "spectrum_detail", "image_reason",
                                "image_detail"])
    first = [*TARGET_COLUMNS, "spectrum_row", "image_row", "kept", "reject_reason",
             "reject_detail"]
    return table[first + [c for c in table.columns if c not in first]]


def write_sdss_targets(catalog_path: str | os.PathLike, dr7_path: str | os.PathLike,
                       out_path: str | os.PathLike) -> pd.DataFrame:
    """:func:`sdss_targets` of a catalogue shard file, written to ``out_path``."""
    targets = sdss_targets(read_parquet(catalog_path), read_parquet(dr7_path))
    write_parquet(targets, out_path)
    return targets


def write_sdss_table(targets_path: str | os.PathLike, spectra_path: str | os.PathLike | None,
                     images_path: str | os.PathLike, out_path: str | os.PathLike
                     ) -> pd.DataFrame:
    """:func:`assemble_sdss_table` of the shard tables (no spectra: the image sample),
    written to ``out_path``."""
    spectra = read_parquet(spectra_path) if spectra_path else None
    table = assemble_sdss_table(read_parquet(targets_path), spectra,
                                read_parquet(images_path))
    write_parquet(table, out_path)
    return table
