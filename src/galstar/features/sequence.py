"""Feature vectors arranged as 1D sequences (N, L, 1) for convolutional models.

A feature vector becomes a sequence of length L with one channel. Models built for a
fixed L receive shorter or differently composed feature sets through padding with a
mask value (:func:`pad_sequences`) or by placing each feature at its slot in a
canonical order (:func:`align_features`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["align_features", "pad_sequences", "sequence_mask", "to_sequence"]


def to_sequence(values: pd.DataFrame | np.ndarray, length: int | None = None,
                mask_value: float = 0.0) -> np.ndarray:
    """Arrange an (N, F) feature matrix as an (N, L, 1) float32 sequence.

    Parameters
    ----------
    values : pandas.DataFrame or numpy.ndarray
        N rows of F features (scaled beforehand; the order of columns is the order
        along the sequence).
    length : int, optional
        Sequence length L >= F (default F); positions F..L-1 hold ``mask_value``.
    mask_value : float
        Value of the padded positions.

    Returns
    -------
    numpy.ndarray
        float32, shape (N, L, 1).
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be 2-D (rows, features), got shape {x.shape}")
    n, f = x.shape
    length = f if length is None else int(length)
    if length < f:
        raise ValueError(f"sequence length {length} is shorter than the {f} features")
    out = np.full((n, length, 1), mask_value, dtype=np.float32)
    out[:, :f, 0] = x
    return out


def pad_sequences(rows: Sequence[Sequence[float]], length: int | None = None,
                  mask_value: float = 0.0) -> np.ndarray:
    """Pad ragged feature vectors at the end to one length: (N, L, 1) float32.

    Parameters
    ----------
    rows : sequence of sequences of float
        One feature vector per object, possibly of different lengths.
    length : int, optional
        L (default: the longest row). A row longer than L is an error, never truncated.
    mask_value : float
        Value of the padded positions.
    """
    sizes = [len(r) for r in rows]
    length = max(sizes, default=0) if length is None else int(length)
    if sizes and max(sizes) > length:
        raise ValueError(f"a row has {max(sizes)} features, more than the length {length}")
    out = np.full((len(sizes), length, 1), mask_value, dtype=np.float32)
    for i, r in enumerate(rows):
        out[i, : len(r), 0] = np.asarray(r, dtype=np.float64)
    return out


def align_features(table: pd.DataFrame, canonical: Sequence[str],
                   mask_value: float = 0.0) -> np.ndarray:
    """Place the columns of ``table`` at their slots in ``canonical``: (N, L, 1) float32.

    A feature of ``canonical`` absent from ``table`` is filled with ``mask_value``, so
    models fed different feature subsets see each feature at the same position.
    A column of ``table`` that is not in ``canonical`` is an error (it would be lost).
    """
    extra = [c for c in table.columns if c not in canonical]
    if extra:
        raise ValueError(f"feature(s) {extra} are not in the canonical order {list(canonical)}")
    out = np.full((len(table), len(canonical), 1), mask_value, dtype=np.float32)
    for j, name in enumerate(canonical):
        if name in table.columns:
            out[:, j, 0] = table[name].to_numpy(dtype=np.float64)
    return out


def sequence_mask(sequences: np.ndarray, mask_value: float = 0.0) -> np.ndarray:
    """Boolean (N, L): True where a position holds a value, False where it is padding.

    A real feature equal to ``mask_value`` is indistinguishable from padding; choose a
    mask value outside the scaled features' range (e.g. -10) when that matters.
    """
    seq = np.asarray(sequences)
    if seq.ndim == 3:
        seq = seq[..., 0]
    return seq != mask_value
