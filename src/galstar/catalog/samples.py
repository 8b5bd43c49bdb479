"""From matched spectra to a sample of unique galaxies with shards and splits.

Duplicates exist on both sides. SDSS observed some galaxies more than once (repeat
spectra, several MPA-JHU rows), and DR9 lists sources in the north/south overlap twice
(once per photometric region, with different RELEASE/BRICKID/OBJID and positions that
agree to a fraction of an arcsec). A galaxy is therefore a connected group of matched
DR9 sources closer than a de-duplication radius, together with every spectrum matched to
one of them; it keeps one spectrum (highest ``sn_median_r``) and that spectrum's DR9
source, whose identity gives the galaxy's ``object_id``.

Shard and split are pure functions of ``object_id`` and the config seed (a SplitMix64
hash), so they are stable across runs, machines and chunkings, and since each galaxy has
exactly one ``object_id`` no galaxy (or duplicate of it) can land in two splits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import astropy.units as u
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from galstar.catalog.crossmatch import DR9_IDENTITY, chord_length, unit_vectors

__all__ = [
    "SPLITS",
    "Deduplicated",
    "assign_shards",
    "assign_splits",
    "deduplicate",
    "hash_unit_interval",
    "object_id_from_dr9",
    "dr9_from_object_id",
]

#: Split names in the order their fractions are laid out on [0, 1).
SPLITS: tuple[str, ...] = ("train", "val", "test")

# object_id = RELEASE * 10**14 + BRICKID * 10**7 + OBJID: decimal fields, so an id
# reads as its DR9 identity (9010 0662174 0001234), and < 10**18 < 2**63.
_RELEASE_SCALE = 10**14
_BRICKID_SCALE = 10**7


def object_id_from_dr9(release, brickid, objid) -> np.ndarray:
    """Pack a DR9 identity into an int64 ``object_id``.

    ``object_id = RELEASE * 10**14 + BRICKID * 10**7 + OBJID``; e.g. RELEASE 9010,
    BRICKID 662174, OBJID 1234 give 901006621740001234. Unique because BRICKID and OBJID
    are each below 10**7 (DR9 has 662,174 bricks and far fewer than 10**7 sources per
    brick) and RELEASE is below 10**4.

    Raises
    ------
    ValueError
        If a field is negative or too large for its decimal slot.
    """
    fields = {
        "RELEASE": (np.asarray(release, dtype=np.int64), 10**4),
        "BRICKID": (np.asarray(brickid, dtype=np.int64), 10**7),
        "OBJID": (np.asarray(objid, dtype=np.int64), 10**7),
    }
    for name, (values, limit) in fields.items():
        bad = (values < 0) | (values >= limit)
        if np.any(bad):
            raise ValueError(
                f"DR9 {name} out of range [0, {limit}) for object_id: "
                f"{np.unique(values[bad])[:5].tolist()}"
            )
    rel, brick, obj = (v for v, _ in fields.values())
    return rel * _RELEASE_SCALE + brick * _BRICKID_SCALE + obj


def dr9_from_object_id(object_id) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`object_id_from_dr9`: ``(RELEASE, BRICKID, OBJID)``."""
    oid = np.asarray(object_id, dtype=np.int64)
    return oid // _RELEASE_SCALE, (oid // _BRICKID_SCALE) % 10**7, oid % _BRICKID_SCALE


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser (Steele et al. 2014): a fast bijective 64-bit mix."""
    x = np.asarray(x, dtype=np.uint64).copy()
    with np.errstate(over="ignore"):
        x += np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def hash_unit_interval(object_id, seed: int, salt: int) -> np.ndarray:
    """Deterministic pseudo-uniform numbers in [0, 1) from ``object_id``, seed and salt.

    Different ``salt`` values give independent streams (shard vs split). Unlike Python's
    ``hash`` the result does not depend on the process or platform.
    """
    key = _splitmix64(np.uint64(seed) ^ _splitmix64(np.uint64(salt)))
    h = _splitmix64(np.asarray(object_id, dtype=np.int64).view(np.uint64) ^ key)
    return (h >> np.uint64(11)).astype(np.float64) / float(2**53)


def assign_shards(object_id, n_shards: int, seed: int) -> np.ndarray:
    """Shard (int16 in [0, n_shards)) of each object, uniform and deterministic."""
    if n_shards < 1:
        raise ValueError(f"config key 'shards' must be >= 1, got {n_shards}")
    u01 = hash_unit_interval(object_id, seed, salt=1)
    return np.minimum((u01 * n_shards).astype(np.int64), n_shards - 1).astype(np.int16)


def assign_splits(object_id, ratios: Mapping[str, float], seed: int) -> np.ndarray:
    """Split name of each object, drawn with the given ratios, deterministically.

    Parameters
    ----------
    object_id : array_like of int64
    ratios : mapping
        ``{'train': 6, 'val': 1, 'test': 3}`` (config ``galaxies.crossmatch.split``);
        relative weights, normalised here.
    seed : int
        Config ``seed``.
    """
    if set(ratios) != set(SPLITS):
        raise ValueError(
            f"config key 'galaxies.crossmatch.split' must have exactly {list(SPLITS)}, "
            f"got {sorted(ratios)}"
        )
    weights = np.array([float(ratios[s]) for s in SPLITS])
    if np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError(f"config key 'galaxies.crossmatch.split' needs weights >= 0: {ratios}")
    edges = np.cumsum(weights) / weights.sum()
    u01 = hash_unit_interval(object_id, seed, salt=2)
    index = np.minimum(np.searchsorted(edges, u01, side="right"), len(SPLITS) - 1)
    return np.asarray(SPLITS, dtype=object)[index]


@dataclass(frozen=True)
class Deduplicated:
    """Outcome of :func:`deduplicate`.

    Attributes
    ----------
    galaxies : pandas.DataFrame
        One row per galaxy: the kept spectrum's row plus ``object_id``, sorted by it.
    duplicates : pandas.DataFrame
        The dropped spectra: their row plus ``object_id`` (of their own DR9 match),
        ``duplicate_of`` (the kept galaxy's object_id) and ``reject_reason``
        ('duplicate_spectrum').
    n_sources : int
        Distinct DR9 sources among the matched spectra (before merging DR9 duplicates).
    """

    galaxies: pd.DataFrame
    duplicates: pd.DataFrame
    n_sources: int


def deduplicate(matched: pd.DataFrame, dedup_radius_arcsec: float | u.Quantity) -> Deduplicated:
    """Merge repeat spectra and DR9 duplicates into one row per galaxy.

    Parameters
    ----------
    matched : pandas.DataFrame
        Matched spectra (:func:`~galstar.catalog.crossmatch.match_streaming` rows with
        ``matched`` True): needs specObjID, sn_median_r, sep_arcsec, RA, DEC and the DR9
        identity columns.
    dedup_radius_arcsec : float or astropy.units.Quantity
        DR9 sources closer than this are one source listed twice (north/south overlap).

    Returns
    -------
    Deduplicated
        Kept galaxies and dropped spectra. Within a galaxy the spectrum with the highest
        ``sn_median_r`` is kept (ties: smaller separation, then smaller specObjID).
    """
    radius = u.Quantity(dedup_radius_arcsec, u.arcsec)
    if not radius.value >= 0:
        raise ValueError(f"dedup radius must be >= 0, got {radius}")
    table = matched.reset_index(drop=True).copy()
    table["object_id"] = object_id_from_dr9(*(table[c].to_numpy() for c in DR9_IDENTITY))

    sources, source_index = np.unique(table["object_id"].to_numpy(), return_inverse=True)
    first_row = np.zeros(len(sources), dtype=np.int64)
    first_row[source_index[::-1]] = np.arange(len(table))[::-1]
    xyz = unit_vectors(table["RA"].to_numpy()[first_row], table["DEC"].to_numpy()[first_row])
    # DR9 duplicates: sources within the radius are one galaxy (transitively)
    close = cKDTree(xyz).query_pairs(chord_length(radius), output_type="ndarray") if len(xyz) else (
        np.empty((0, 2), dtype=np.int64))
    graph = coo_matrix(
        (np.ones(len(close)), (close[:, 0], close[:, 1])), shape=(len(sources), len(sources))
    )
    _, component = connected_components(graph, directed=False)
    table["_galaxy"] = component[source_index]

    ranked = table.sort_values(
        ["_galaxy", "sn_median_r", "sep_arcsec", "specObjID"],
        ascending=[True, False, True, True],
        kind="stable",
    )
    keep = ~ranked["_galaxy"].duplicated(keep="first")
    kept = ranked[keep.to_numpy()]
    dropped = ranked[~keep.to_numpy()].copy()
    winner = kept.set_index("_galaxy")["object_id"]
    dropped["duplicate_of"] = winner.loc[dropped["_galaxy"].to_numpy()].to_numpy()
    dropped["reject_reason"] = "duplicate_spectrum"
    galaxies = kept.drop(columns="_galaxy").sort_values("object_id", kind="stable")
    return Deduplicated(
        galaxies=galaxies.reset_index(drop=True),
        duplicates=dropped.drop(columns="_galaxy").reset_index(drop=True),
        n_sources=len(sources),
    )
