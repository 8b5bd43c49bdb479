"""Layout checks of matplotlib figures: labels that overlap or leave the figure.

A figure function saves and closes its figure; :func:`capture` keeps every figure
passed to ``plt.close`` so that a test can draw it and measure its labels.
"""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")
import matplotlib.axes  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402


def capture(monkeypatch) -> list:
    """Figures closed from now on, kept open (in closing order)."""
    kept: list = []
    monkeypatch.setattr(plt, "close", lambda fig=None: kept.append(fig))
    return kept


def _shown(ax, text, which: str) -> bool:
    """A tick label is drawn only when its tick lies inside the axis' view limits."""
    lo, hi = sorted(ax.get_xlim() if which == "x" else ax.get_ylim())
    pos = text.get_position()[0 if which == "x" else 1]
    return lo - 1e-9 * abs(hi - lo) <= pos <= hi + 1e-9 * abs(hi - lo)


def labels(fig) -> list:
    """(axes, text, window box) of every drawn label: tick labels, axis labels, titles,
    texts, offset texts, of every axes (colour bars and insets included)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    found = {}
    for ax in fig.findobj(matplotlib.axes.Axes):
        items = [(t, "x") for t in ax.get_xticklabels()] + [(t, "y") for t in ax.get_yticklabels()]
        items = [(t, w) for t, w in items if _shown(ax, t, w)]
        items += [(t, None) for t in (ax.xaxis.label, ax.yaxis.label, ax.title, ax._left_title,
                                      ax._right_title, ax.xaxis.offsetText, ax.yaxis.offsetText,
                                      *ax.texts)]
        for t, _ in items:
            if t.get_visible() and t.get_text().strip():
                found[id(t)] = (ax, t, t.get_window_extent(renderer))
    return list(found.values())


def overlapping(fig) -> list[tuple[str, str]]:
    """Pairs of label texts whose boxes overlap."""
    return [(a.get_text(), b.get_text())
            for (_, a, box_a), (_, b, box_b) in itertools.combinations(labels(fig), 2)
            if box_a.overlaps(box_b)]


def outside(fig) -> list[str]:
    """Label texts that reach beyond the figure's edges (cut off in the PNG)."""
    width, height = fig.canvas.get_width_height()
    return [t.get_text() for _, t, box in labels(fig)
            if box.x0 < -0.5 or box.y0 < -0.5 or box.x1 > width + 0.5 or box.y1 > height + 0.5]
