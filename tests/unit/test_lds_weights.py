"""Label distribution smoothing weights: hand-computed cases, mean 1, the cap."""

from __future__ import annotations

import numpy as np
import pytest

from galstar.training.weights import cap_at_mean_one, lds_weights, smoothed_label_density


def test_unsmoothed_inverse_weights_by_hand():
    labels = np.array([0.0, 0.0, 0.0, 1.0])
    # two bins, counts (3, 1); inverse density (1/3, 1/3, 1/3, 1), mean 1/2 -> x2
    w = lds_weights(labels, bins=2, sigma=0.0, power="inverse", cap=None)
    np.testing.assert_allclose(w, [2 / 3, 2 / 3, 2 / 3, 2.0])
    w = lds_weights(labels, bins=2, sigma=0.0, power="inverse_sqrt", cap=None)
    raw = np.array([3 ** -0.5] * 3 + [1.0])
    np.testing.assert_allclose(w, raw / raw.mean())


def test_cap_is_respected_and_mean_stays_one():
    labels = np.array([0.0, 0.0, 0.0, 1.0])
    # cap 1.5: the rare label sits at the cap, the other three share the rest equally
    w = lds_weights(labels, bins=2, sigma=0.0, power="inverse", cap=1.5)
    np.testing.assert_allclose(w, [2.5 / 3, 2.5 / 3, 2.5 / 3, 1.5])
    rng = np.random.default_rng(3)
    tail = np.concatenate([rng.normal(0.0, 0.3, 2000), rng.uniform(-4.0, -1.0, 40)])
    for power in ("inverse", "inverse_sqrt"):
        for cap in (2.0, 5.0, 10.0):
            w = lds_weights(tail, power=power, cap=cap)
            assert w.mean() == pytest.approx(1.0, abs=1e-12)
            assert w.max() <= cap + 1e-12
    w = lds_weights(tail, power="inverse", cap=3.0)
    assert np.sum(w == 3.0) > 0  # the cap binds on the sparse tail
    assert w[-40:].mean() > 2.0 > w[:2000].mean()  # the tail gets the weight


def test_smoothing_spreads_density_to_empty_neighbour_bins():
    labels = np.array([0.0] * 10 + [1.0] * 10 + [2.0, 10.0])
    edges, density, index = smoothed_label_density(labels, bins=10, sigma=1.0)
    assert edges[0] == 0.0 and edges[-1] == 10.0 and index[-1] == 9
    assert density.sum() < len(labels)  # mass lost beyond the edges (mode="constant")
    assert density[3] > 0 and np.bincount(index, minlength=10)[3] == 0
    w = lds_weights(labels, bins=10, sigma=1.0, power="inverse", cap=None)
    assert w[-1] == w.max()  # the isolated label is the rarest


def test_degenerate_and_bad_inputs():
    np.testing.assert_allclose(lds_weights(np.full(5, 2.0)), np.ones(5))
    np.testing.assert_allclose(cap_at_mean_one(np.array([1.0, 9.0]), cap=1.0), [1.0, 1.0])
    with pytest.raises(ValueError, match="cap must be >= 1"):
        lds_weights(np.arange(5.0), cap=0.5)
    with pytest.raises(ValueError, match="non-finite"):
        lds_weights(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="power"):
        lds_weights(np.arange(5.0), power="log")
