"""Figures as a reader sees them: no label overlaps another or leaves the figure, axes
name their quantity and unit, bins read as ranges, nothing is drawn over the data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from figure_checks import capture, outside, overlapping
from test_evaluation import TARGETS, _predictions

from galstar.evaluation import plots
from galstar.evaluation.uncertainty import binned_sigma
from galstar.methods.galeffnet_tables import table2

SIZE_BINS = [0, 2, 3, 4, 5, 6.5]


@pytest.fixture()
def figures(monkeypatch, tmp_path):
    """Every per-experiment figure of a synthetic GalEffNet-like test split, by name."""
    kept = capture(monkeypatch)
    pred = _predictions(n=600)
    pred["radius_arcsec"] = np.random.default_rng(1).gamma(3.0, 1.0, len(pred)).clip(0.3, 6.4)
    t2 = table2(pred, TARGETS, size_bins=SIZE_BINS, redshift_bins=[0, 0.1, 0.2, 0.35])
    unc = pd.concat([binned_sigma(pred[t + "_true"], pred[t + "_sigma"]).assign(target=t)
                     for t in TARGETS])
    names = ["pred_vs_ref", "distributions", "uncertainty_fig", "by_size", "by_redshift",
             "by_type"]
    plots.experiment_figures(pred, t2, unc, **{n: tmp_path / f"{n}.png" for n in names})
    history = pd.DataFrame({"epoch": [1, 2, 3], "loss": [1.0, 0.5, 0.4],
                            "val_loss": [1.1, 0.7, 0.6], "mae": [0.9, 0.4, 0.3],
                            "val_mae": [1.0, 0.6, 0.5]})
    plots.plot_learning_curve(history, tmp_path / "lc.png", title="net")
    assert len(kept) == len(names) + 1
    return dict(zip([*names, "learning_curve"], kept, strict=True)), t2


def test_no_label_overlaps_or_leaves_any_figure(figures):
    for name, fig in figures[0].items():
        assert fig.get_layout_engine() is not None, name  # constrained layout
        assert overlapping(fig) == [], name
        assert outside(fig) == [], name


def test_pred_vs_ref_keeps_its_panels_clear(figures):
    fig = figures[0]["pred_vs_ref"]
    density = [ax for ax in fig.axes if ax.get_xlabel().startswith("reference")]
    residual = [ax for ax in fig.axes if ax.get_xlabel().startswith("residual")]
    assert len(density) == len(residual) == len(TARGETS)
    for ax in density:
        assert len(ax.texts) == 0 and ax.child_axes == []  # no box or inset over the points
        assert "MAE = " in ax.get_title() and "N = 300" in ax.get_title()
        assert ax.get_xlabel().endswith("]") and ax.get_ylabel().startswith("predicted")
    assert all(ax.get_xlabel().endswith("[dex]") for ax in residual)


def test_metrics_by_size_reads_as_ranges_with_counts(figures):
    fig, t2 = figures[0]["by_size"], figures[1]
    sizes = t2[(t2["by"] == "radius_arcsec") & (t2["target"] == TARGETS[0])]
    for ax in fig.axes:
        assert ax.get_xlabel() == "galaxy radius [arcsec]"
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        assert ticks == [f"{g}\nN={n}" for g, n in zip(sizes["group"], sizes["N"], strict=True)]
        assert ticks[0].startswith("0-2\n") and ticks[-1].startswith("5-6.5\n")
        assert len(ax.texts) == 0  # the counts are not printed over the bars
    assert int(sizes["N"].sum()) == 300
