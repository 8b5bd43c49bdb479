"""The GalEffNet selection of MPA-JHU spectra as an ordered list of named cuts.

Zhong et al. (2024, sect. 2.1) keep spectra with spectrotype = 'GALAXY', reliable = 1,
z > 0, z_warning = 0, S/N_r >= 5 and valid fibre stellar mass and specific SFR. The
cuts are applied in that order so that each rejected row is charged to the *first* cut
it fails, which makes the cut-flow (rows left after each cut) well defined and
comparable with a truth table that records the first cut each simulated row fails.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "CUT_NAMES",
    "MPA_REQUIRED_COLUMNS",
    "SENTINELS",
    "Cut",
    "CutResult",
    "apply_cuts",
    "paper_cuts",
    "require_columns",
]

#: Values the MPA-JHU catalogue uses for "not measured".
SENTINELS: tuple[float, ...] = (-9999.0, -99.0, -1.0)

#: Names of the paper's cuts, in the order they are applied.
CUT_NAMES: tuple[str, ...] = (
    "spectrotype",
    "reliable",
    "z_positive",
    "z_warning",
    "sn_median_r",
    "valid_mass_ssfr",
)

#: MPA-JHU columns the selection and the cross-match need.
MPA_REQUIRED_COLUMNS: tuple[str, ...] = (
    "specObjID",
    "ra",
    "dec",
    "spectrotype",
    "reliable",
    "z",
    "z_warning",
    "sn_median_r",
    "lgm_fib_p50",
    "specsfr_fib_p50",
)


@dataclass(frozen=True)
class Cut:
    """One named selection cut.

    Attributes
    ----------
    name : str
        Name in the cut-flow and in ``reject_reason``.
    columns : tuple of str
        Columns the cut reads (checked before any cut runs).
    keep : callable
        ``keep(table) -> numpy.ndarray[bool]``, True for rows that pass.
    """

    name: str
    columns: tuple[str, ...]
    keep: Callable[[pd.DataFrame], np.ndarray]


@dataclass(frozen=True)
class CutResult:
    """Outcome of :func:`apply_cuts`.

    Attributes
    ----------
    reject_reason : pandas.Series
        Per input row: the name of the first cut it fails, '' if it passes all.
    cutflow : pandas.DataFrame
        Columns ``step`` and ``rows``: 'input' then the rows left after each cut.
    """

    reject_reason: pd.Series
    cutflow: pd.DataFrame

    @property
    def passed(self) -> np.ndarray:
        """Boolean mask of the rows that pass every cut."""
        return (self.reject_reason == "").to_numpy()


def require_columns(table: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    """Raise ``KeyError`` naming ``source`` and every column of ``columns`` it lacks.

    Parameters
    ----------
    table : pandas.DataFrame
        The table to check.
    columns : sequence of str
        Required column names (case-sensitive, as the archives spell them).
    source : str
        What the table came from (a file path), for the message.
    """
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise KeyError(
            f"{source}: missing required column(s) {', '.join(missing)} "
            f"(has: {', '.join(map(str, table.columns))})"
        )


def _text(values: pd.Series) -> pd.Series:
    """Decode FITS byte strings and strip the padding FITS adds to fixed-width text."""
    return values.map(
        lambda v: (v.decode("ascii", "replace") if isinstance(v, bytes) else str(v))
        .strip()
        .upper()
    )


def _finite(values: pd.Series) -> np.ndarray:
    return np.isfinite(pd.to_numeric(values, errors="coerce").to_numpy(dtype=float))


def _valid_quantity(values: pd.Series, lo: float, hi: float) -> np.ndarray:
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(x) & (x >= lo) & (x <= hi)
    return ok & ~np.isin(x, SENTINELS)


def paper_cuts(
    sn_median_r_min: float,
    lgm_range: tuple[float, float],
    specsfr_range: tuple[float, float],
) -> list[Cut]:
    """The GalEffNet cuts, in order.

    Parameters
    ----------
    sn_median_r_min : float
        Minimum median r-band S/N per pixel (paper: 5).
    lgm_range : (float, float)
        Inclusive range of physically meaningful ``lgm_fib_p50`` [log Msun].
    specsfr_range : (float, float)
        Inclusive range of physically meaningful ``specsfr_fib_p50`` [log yr^-1].

    Returns
    -------
    list of Cut
        In the order of :data:`CUT_NAMES`.
    """
    lgm_lo, lgm_hi = (float(v) for v in lgm_range)
    ssfr_lo, ssfr_hi = (float(v) for v in specsfr_range)
    if not (lgm_lo < lgm_hi and ssfr_lo < ssfr_hi):
        raise ValueError(
            f"empty physical range: lgm_range={lgm_range}, specsfr_range={specsfr_range}"
        )

    def numeric(t: pd.DataFrame, col: str) -> np.ndarray:
        return pd.to_numeric(t[col], errors="coerce").to_numpy(dtype=float)

    def spectrotype(t: pd.DataFrame) -> np.ndarray:
        return (_text(t["spectrotype"]) == "GALAXY").to_numpy()

    def reliable(t: pd.DataFrame) -> np.ndarray:
        return numeric(t, "reliable") == 1

    def z_positive(t: pd.DataFrame) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return numeric(t, "z") > 0

    def z_warning(t: pd.DataFrame) -> np.ndarray:
        return numeric(t, "z_warning") == 0

    def sn_median_r(t: pd.DataFrame) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return numeric(t, "sn_median_r") >= float(sn_median_r_min)

    def valid_mass_ssfr(t: pd.DataFrame) -> np.ndarray:
        return _valid_quantity(t["lgm_fib_p50"], lgm_lo, lgm_hi) & _valid_quantity(
            t["specsfr_fib_p50"], ssfr_lo, ssfr_hi
        )

    cuts = [
        Cut("spectrotype", ("spectrotype",), spectrotype),
        Cut("reliable", ("reliable",), reliable),
        Cut("z_positive", ("z",), z_positive),
        Cut("z_warning", ("z_warning",), z_warning),
        Cut("sn_median_r", ("sn_median_r",), sn_median_r),
        Cut("valid_mass_ssfr", ("lgm_fib_p50", "specsfr_fib_p50"), valid_mass_ssfr),
    ]
    assert tuple(c.name for c in cuts) == CUT_NAMES
    return cuts


def apply_cuts(table: pd.DataFrame, cuts: Sequence[Cut], source: str = "table") -> CutResult:
    """Apply ``cuts`` in order; record the first failed cut of every row.

    Parameters
    ----------
    table : pandas.DataFrame
        MPA-JHU rows.
    cuts : sequence of Cut
        Usually :func:`paper_cuts`.
    source : str
        Name of the input (a file path) for error messages.

    Returns
    -------
    CutResult
        Reject reasons aligned with ``table`` and the cut-flow.

    Raises
    ------
    KeyError
        If a column a cut needs is missing (message names ``source`` and the column).
    """
    require_columns(table, [c for cut in cuts for c in cut.columns], source)
    reason = np.full(len(table), "", dtype=object)
    alive = np.ones(len(table), dtype=bool)
    steps = [("input", len(table))]
    for cut in cuts:
        keep = np.asarray(cut.keep(table), dtype=bool)
        failed = alive & ~keep
        reason[failed] = cut.name
        alive &= keep
        steps.append((cut.name, int(alive.sum())))
    return CutResult(
        reject_reason=pd.Series(reason, index=table.index, name="reject_reason", dtype=object),
        cutflow=pd.DataFrame(steps, columns=["step", "rows"]),
    )
