"""Named photometric features computed from DR9 and MPA-JHU columns.

Fluxes are corrected for Galactic extinction (``FLUX_X / MW_TRANSMISSION_X``) before
they become AB magnitudes; colours are differences of those corrected magnitudes.
A feature list is configuration: each name maps to the input columns it needs and
the function that computes it, so an unknown name or a missing column fails early.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from galstar.units import nmgy_to_mag

__all__ = ["FEATURES", "feature_inputs", "feature_names", "feature_reject_reason",
           "feature_table"]


@dataclass(frozen=True)
class Feature:
    """One named feature: the columns it reads and how it is computed."""

    inputs: tuple[str, ...]
    compute: Callable[[pd.DataFrame], np.ndarray]
    unit: str


def _column(table: pd.DataFrame, name: str) -> np.ndarray:
    return pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=np.float64)


def _mag(band: str) -> Callable[[pd.DataFrame], np.ndarray]:
    b = band.upper()

    def compute(table: pd.DataFrame) -> np.ndarray:
        transmission = _column(table, f"MW_TRANSMISSION_{b}")
        with np.errstate(divide="ignore", invalid="ignore"):
            # a non-positive transmission is a corrupt row: NaN, rejected downstream
            flux = np.where(transmission > 0, _column(table, f"FLUX_{b}") / transmission,
                            np.nan)
        return nmgy_to_mag(flux)

    return compute


def _colour(blue: str, red: str) -> Callable[[pd.DataFrame], np.ndarray]:
    def compute(table: pd.DataFrame) -> np.ndarray:
        return _mag(blue)(table) - _mag(red)(table)

    return compute


def _ellipticity(table: pd.DataFrame) -> np.ndarray:
    return np.hypot(_column(table, "SHAPE_E1"), _column(table, "SHAPE_E2"))


def _copy(name: str) -> Callable[[pd.DataFrame], np.ndarray]:
    return lambda table: _column(table, name)


def _band_inputs(*bands: str) -> tuple[str, ...]:
    return tuple(f"{p}_{b.upper()}" for b in bands for p in ("FLUX", "MW_TRANSMISSION"))


#: Feature name (config ``sigma_sfr.features``) -> inputs, computation and unit.
FEATURES: dict[str, Feature] = {
    **{f"mag_{b}": Feature(_band_inputs(b), _mag(b), "AB mag") for b in "grz"},
    **{f"{x}_{y}": Feature(_band_inputs(x, y), _colour(x, y), "AB mag")
       for x, y in (("g", "r"), ("r", "z"), ("g", "z"))},
    "SHAPE_R": Feature(("SHAPE_R",), _copy("SHAPE_R"), "arcsec"),
    "ellipticity": Feature(("SHAPE_E1", "SHAPE_E2"), _ellipticity, "|e| = hypot(e1, e2)"),
    "SERSIC": Feature(("SERSIC",), _copy("SERSIC"), "Sersic index"),
    "z": Feature(("z",), _copy("z"), "redshift"),
}


def feature_names() -> list[str]:
    """The known feature names, in registry order."""
    return list(FEATURES)


def _check_names(features: Sequence[str]) -> None:
    if isinstance(features, str):
        raise ValueError(f"features must be a list of names, not the string '{features}'")
    unknown = [f for f in features if f not in FEATURES]
    if unknown:
        raise ValueError(f"unknown feature(s) {unknown}; known: {feature_names()}")
    duplicated = sorted({f for f in features if list(features).count(f) > 1})
    if duplicated:
        raise ValueError(f"feature(s) {duplicated} listed more than once")
    if not features:
        raise ValueError("the feature list is empty")


def feature_inputs(features: Sequence[str]) -> list[str]:
    """The input columns ``features`` need, each once, in order of first use."""
    _check_names(features)
    seen: dict[str, None] = {}
    for f in features:
        seen.update(dict.fromkeys(FEATURES[f].inputs))
    return list(seen)


def feature_table(table: pd.DataFrame, features: Sequence[str],
                  source: str | None = None) -> pd.DataFrame:
    """Compute the named features for every row of ``table``.

    Parameters
    ----------
    table : pandas.DataFrame
        Cross-matched galaxy rows with the DR9 and MPA-JHU columns the features need.
    features : sequence of str
        Feature names (keys of :data:`FEATURES`), in the order of the output columns.
    source : str, optional
        File the table came from, named in error messages.

    Returns
    -------
    pandas.DataFrame
        One float64 column per feature, same index and row order as ``table``. Rows are
        never dropped: a non-finite value (e.g. a magnitude of a non-positive flux) stays
        NaN; :func:`feature_reject_reason` says which rows to reject and why.

    Raises
    ------
    ValueError
        An unknown feature name, or an input column missing from ``table`` (named, with
        the feature that needs it and ``source``).
    """
    _check_names(features)
    where = f" in {source}" if source else ""
    for f in features:
        missing = [c for c in FEATURES[f].inputs if c not in table.columns]
        if missing:
            raise ValueError(f"feature '{f}' needs column(s) {missing}, missing{where}")
    return pd.DataFrame({f: FEATURES[f].compute(table) for f in features}, index=table.index)


def feature_reject_reason(features: pd.DataFrame) -> pd.Series:
    """Why each row cannot be used: ``nonfinite_<feature>`` (first offending) or "".

    Parameters
    ----------
    features : pandas.DataFrame
        Output of :func:`feature_table`.

    Returns
    -------
    pandas.Series
        str per row, same index; "" when every feature is finite.
    """
    reason = pd.Series("", index=features.index, dtype=object)
    # reverse order so that the first non-finite feature (in list order) wins
    for name in reversed(list(features.columns)):
        bad = ~np.isfinite(features[name].to_numpy(dtype=np.float64))
        reason[bad] = f"nonfinite_{name}"
    return reason
