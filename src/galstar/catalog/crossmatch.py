"""Best-match cross-identification of MPA-JHU spectra with DR9 sweep sources, streamed.

The DR9 side (about 76 million sources at paper scale) never fits in memory at once, so
sweep files are read in row chunks through a FITS memory map, one column at a time.
The MPA-JHU side (at most ~1.8 million rows) is small and is indexed once.

Why a scipy ``cKDTree`` on unit vectors rather than ``SkyCoord.search_around_sky``:
``search_around_sky`` builds a new tree on one side on every call, so calling it per
DR9 chunk costs O(n_mpa) per chunk (hundreds of chunks x 10^6 rows at paper scale).
Here the MPA tree is built once and each chunk is matched against it, so the total cost
scales with the number of DR9 rows. The chord distance between unit vectors is an exact,
monotonic function of the great-circle separation (``chord = 2 sin(theta / 2)``), so
the nearest neighbour by chord is the nearest on the sky; final separations are
recomputed with astropy (Vincenty formula).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord
from scipy.spatial import cKDTree

from galstar.archives.legacysurvey import SweepBlock, iter_sweep_blocks
from galstar.units import unit_vectors  # re-exported: the one owner is galstar.units

__all__ = [
    "DR9_COLUMNS",
    "DR9_IDENTITY",
    "chord_length",
    "iter_sweep_chunks",
    "match_streaming",
    "read_sweep_list",
    "score_matches",
    "unit_vectors",
]

#: DR9 source identity: unique per source within one data release.
DR9_IDENTITY: tuple[str, ...] = ("RELEASE", "BRICKID", "OBJID")

#: DR9 sweep columns carried into the cross-matched table (contract, Stage 1).
DR9_COLUMNS: tuple[str, ...] = (
    *DR9_IDENTITY,
    "TYPE",
    "RA",
    "DEC",
    "SHAPE_R",
    "SHAPE_E1",
    "SHAPE_E2",
    "SERSIC",
    *(f"FLUX_{b}" for b in ("G", "R", "Z", "W1", "W2")),
    *(f"FLUX_IVAR_{b}" for b in ("G", "R", "Z")),
    *(f"MW_TRANSMISSION_{b}" for b in ("G", "R", "Z")),
    *(f"FIBERFLUX_{b}" for b in ("G", "R", "Z")),
    *(f"NOBS_{b}" for b in ("G", "R", "Z")),
    *(f"PSFSIZE_{b}" for b in ("G", "R", "Z")),
    "MASKBITS",
)


def chord_length(radius: u.Quantity) -> float:
    """Chord length on the unit sphere of an angular radius."""
    return float(2.0 * np.sin(0.5 * radius.to_value(u.rad)))


def _as_radius(radius_arcsec: float | u.Quantity) -> u.Quantity:
    radius = u.Quantity(radius_arcsec, u.arcsec)
    if not (np.isfinite(radius.value) and radius.value > 0):
        raise ValueError(f"cross-match radius must be positive and finite, got {radius}")
    return radius


def read_sweep_list(path: str | os.PathLike) -> list[str]:
    """Read a sweep list: one FITS path per line; blank lines and '#' comments skipped.

    Relative paths are taken relative to the working directory (the Snakemake workdir,
    like every path in the contracts).

    Raises
    ------
    FileNotFoundError
        If a listed file does not exist (names the list, the line and the path).
    """
    paths = []
    for lineno, line in enumerate(Path(path).read_text().splitlines(), start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        if not Path(entry).is_file():
            raise FileNotFoundError(f"{path}, line {lineno}: sweep file {entry} does not exist")
        paths.append(entry)
    if not paths:
        raise ValueError(f"{path}: the sweep list names no files")
    return paths


def _iter_blocks(
    path: str, columns: Sequence[str], chunk_rows: int
) -> Iterator[tuple[list[str], SweepBlock]]:
    """Memory-mapped row blocks of a sweep file, read the cross-match's way: first binary
    table extension, case-insensitive column names (the sweep format itself is known to
    :func:`galstar.archives.legacysurvey.iter_sweep_blocks`).
    """
    return iter_sweep_blocks(path, columns, chunk_rows, ignore_case=True, hdu=None)


def iter_sweep_chunks(
    path: str, columns: Sequence[str], chunk_rows: int
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """Yield ``(first_row, {column: array})`` for consecutive row chunks of a sweep file.

    The file is memory-mapped and only ``columns`` are converted, ``chunk_rows`` rows at
    a time, so memory stays bounded whatever the file size.

    Raises
    ------
    KeyError
        If a column is missing (names the file and the column).
    """
    for _, block in _iter_blocks(path, columns, chunk_rows):
        yield block.start, {c: block.column(c) for c in columns}


def _fill_value(dtype: np.dtype) -> object:
    if dtype.kind == "f":
        return np.nan
    if dtype.kind in "iu":
        return -1 if dtype.kind == "i" else 0
    if dtype.kind == "b":
        return False
    return ""


def match_streaming(
    mpa: pd.DataFrame,
    sweep_paths: Sequence[str],
    radius_arcsec: float | u.Quantity,
    chunk_rows: int,
    dr9_columns: Sequence[str] = DR9_COLUMNS,
) -> pd.DataFrame:
    """Find, for every MPA-JHU row, the nearest DR9 source within ``radius_arcsec``.

    Every sweep file is streamed in chunks of ``chunk_rows`` rows; the running best
    candidate per MPA row is kept across chunks and files, so memory is bounded by
    ``len(mpa)`` plus one chunk. Exact ties in separation go to the earlier file, then
    the earlier row, so the result does not depend on ``chunk_rows``.

    Parameters
    ----------
    mpa : pandas.DataFrame
        MPA-JHU rows with ``ra`` and ``dec`` in degrees (ICRS).
    sweep_paths : sequence of str
        DR9 sweep FITS files.
    radius_arcsec : float or astropy.units.Quantity
        Match radius (a float is in arcsec).
    chunk_rows : int
        Rows of a sweep file read at a time.
    dr9_columns : sequence of str
        DR9 columns to carry; must include RELEASE, BRICKID, OBJID, RA, DEC.

    Returns
    -------
    pandas.DataFrame
        One row per ``mpa`` row, in order: the MPA columns, then the DR9 columns (upper
        case; for unmatched rows NaN, -1 or ''), ``sep_arcsec`` (NaN if unmatched),
        ``matched`` (bool), ``n_candidates`` (DR9 sources within the radius, all files)
        and ``sweep_file`` (name of the file the match came from).
    """
    radius = _as_radius(radius_arcsec)
    for col in ("ra", "dec"):
        if col not in mpa.columns:
            raise KeyError(f"MPA-JHU table: missing required column {col}")
    columns = list(dict.fromkeys([*DR9_IDENTITY, "RA", "DEC", *dr9_columns]))
    n = len(mpa)
    mpa_xyz = unit_vectors(mpa["ra"].to_numpy(), mpa["dec"].to_numpy())
    if not np.isfinite(mpa_xyz).all():
        raise ValueError("MPA-JHU table: non-finite ra/dec")
    mpa_tree = cKDTree(mpa_xyz)
    max_chord = chord_length(radius)

    best_d = np.full(n, np.inf)
    best_file = np.full(n, -1, dtype=np.int64)
    n_candidates = np.zeros(n, dtype=np.int64)
    store: dict[str, np.ndarray] = {}

    for file_index, path in enumerate(sweep_paths):
        for _, block in _iter_blocks(path, columns, chunk_rows):
            ra, dec = block.column("RA"), block.column("DEC")
            xyz = unit_vectors(ra, dec)
            if not np.isfinite(xyz).all():
                raise ValueError(f"{path}: non-finite RA/DEC in the sweep file")
            pairs = mpa_tree.sparse_distance_matrix(
                cKDTree(xyz), max_chord, output_type="ndarray"
            )
            if len(pairs) == 0:
                continue
            i, j, d = pairs["i"], pairs["j"], pairs["v"]
            np.add.at(n_candidates, i, 1)
            # nearest per MPA row in this chunk; ties to the lower row number
            order = np.lexsort((j, d, i))
            i, j, d = i[order], j[order], d[order]
            first = np.r_[True, i[1:] != i[:-1]]
            i, j, d = i[first], j[first], d[first]
            better = d < best_d[i]
            i, j, d = i[better], j[better], d[better]
            if len(i) == 0:
                continue
            best_d[i] = d
            best_file[i] = file_index
            # the other columns are read for the new best rows only
            for c in columns:
                values = block.column(c, j)
                if c not in store:
                    fill = _fill_value(values.dtype)
                    store[c] = np.full(n, fill, dtype=object if values.dtype.kind == "O"
                                       else values.dtype)
                store[c][i] = values

    matched = best_file >= 0
    out = mpa.reset_index(drop=True).copy()
    for c in columns:  # a column is absent from store only when nothing matched
        out[c] = store[c] if c in store else np.full(n, np.nan)
    sep = np.full(n, np.nan)
    if matched.any():
        mpa_c = SkyCoord(out.loc[matched, "ra"].to_numpy() * u.deg,
                         out.loc[matched, "dec"].to_numpy() * u.deg)
        dr9_c = SkyCoord(out.loc[matched, "RA"].to_numpy() * u.deg,
                         out.loc[matched, "DEC"].to_numpy() * u.deg)
        sep[matched] = mpa_c.separation(dr9_c).to_value(u.arcsec)
    out["sep_arcsec"] = sep
    out["matched"] = matched
    out["n_candidates"] = n_candidates
    names = np.array([Path(p).name for p in sweep_paths] + [""], dtype=object)
    out["sweep_file"] = names[best_file]  # index -1 picks the trailing ''
    return out


def score_matches(matches: pd.DataFrame, pairs: pd.DataFrame) -> dict[str, float]:
    """Completeness and purity of a cross-match against known true pairs.

    Parameters
    ----------
    matches : pandas.DataFrame
        Output of :func:`match_streaming` (needs specObjID, matched, RELEASE, BRICKID,
        OBJID).
    pairs : pandas.DataFrame
        True pairs: specObjID, RELEASE, BRICKID, OBJID (several rows per specObjID when
        a source is duplicated in DR9; any of them is a correct match).

    Returns
    -------
    dict
        ``completeness``: fraction of spectra that have a true counterpart and are
        matched to one of them; ``purity``: fraction of matched spectra whose match is a
        true counterpart; and the counts behind them.
    """
    key = ["specObjID", *DR9_IDENTITY]
    truth = pairs[key].drop_duplicates().astype("int64")
    with_truth = matches["specObjID"].isin(truth["specObjID"]).to_numpy()
    got = matches.loc[matches["matched"].to_numpy(), key].astype("int64")
    correct = got.merge(truth, on=key, how="inner")["specObjID"].nunique()
    n_true = int(with_truth.sum())
    n_matched = len(got)
    return {
        "n_with_counterpart": n_true,
        "n_matched": n_matched,
        "n_correct": int(correct),
        "completeness": correct / n_true if n_true else float("nan"),
        "purity": correct / n_matched if n_matched else float("nan"),
    }
