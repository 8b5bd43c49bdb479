"""Tabular feature vectors from the cross-matched galaxy table.

``photometry`` turns DR9 / MPA-JHU columns into named features (extinction-corrected
magnitudes, colours, size, shape, redshift); ``sequence`` arranges them as 1D
sequences for convolutional models; ``baselines`` fits tree and mean baselines on them.
"""

from galstar.features.photometry import (
    FEATURES,
    feature_inputs,
    feature_names,
    feature_reject_reason,
    feature_table,
)
from galstar.features.sequence import align_features, pad_sequences, sequence_mask, to_sequence

__all__ = [
    "FEATURES",
    "align_features",
    "feature_inputs",
    "feature_names",
    "feature_reject_reason",
    "feature_table",
    "pad_sequences",
    "sequence_mask",
    "to_sequence",
]
