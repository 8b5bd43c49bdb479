"""The preprocessing steps figure (like GalEffNet's Fig. 2)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from galstar.imaging.pipeline import PreprocessConfig, preprocess_cutout  # noqa: E402
from galstar.io import atomic_path  # noqa: E402

__all__ = ["STEP_TITLES", "steps_figure", "save_steps_figure"]

STEP_TITLES = ("RGB", "greyscale", "binary", "contours", "ellipses", "masked input")


def _draw_ellipse(image: np.ndarray, ellipse, colour: tuple[int, int, int], width: int) -> None:
    cv2.ellipse(image, (round(ellipse.x), round(ellipse.y)),
                (max(1, round(ellipse.a)), max(1, round(ellipse.b))), ellipse.angle, 0, 360,
                colour, width)


def steps_figure(
    cubes: Sequence[np.ndarray],
    labels: Sequence[str],
    config: PreprocessConfig,
) -> plt.Figure:
    """One row per cutout: RGB, greyscale, binary, contours, ellipses, masked input.

    Parameters
    ----------
    cubes : sequence of numpy.ndarray
        (3, N, N) grz cutouts, nanomaggies.
    labels : sequence of str
        Row titles (object ids).
    config : PreprocessConfig
        Settings.

    Returns
    -------
    matplotlib.figure.Figure
        The figure; each row's last panel names the outcome (kept or the reason).
    """
    n = max(1, len(cubes))
    fig, axes = plt.subplots(n, len(STEP_TITLES), figsize=(2.0 * len(STEP_TITLES), 2.1 * n),
                             squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for row, (cube, label) in enumerate(zip(cubes, labels, strict=True)):
        result = preprocess_cutout(cube, config, keep_steps=True)
        steps = result.steps or {}
        if "rgb" not in steps:  # bad pixels: nothing to show but the reason
            axes[row, 0].set_title(f"{label}\n{result.reject_reason}", fontsize=7)
            continue
        rgb, grey, binary = steps["rgb"], steps["grey"], steps["binary"]
        contours_img = np.zeros(grey.shape + (3,), np.uint8)
        cv2.drawContours(contours_img, steps["contours"], -1, (255, 255, 255), 1)
        fits_img = (rgb * 255).astype(np.uint8).copy()
        for ellipse, _ in steps["fits"]:
            _draw_ellipse(fits_img, ellipse, (0, 160, 255), 1)
        if result.ellipse is not None:
            _draw_ellipse(fits_img, result.ellipse, (255, 40, 40), 1)
        masked = rgb * result.mask[:, :, None]
        panels = (rgb, grey, binary, contours_img, fits_img, masked)
        for col, (ax, panel) in enumerate(zip(axes[row], panels, strict=True)):
            ax.imshow(panel, cmap="gray" if panel.ndim == 2 else None, origin="upper",
                      interpolation="nearest")
            if row == 0:
                ax.set_title(STEP_TITLES[col], fontsize=8)
        axes[row, 0].text(2, 10, label, color="white", fontsize=6)
        outcome = result.reject_reason or f"kept, r = {result.radius_px:.1f} px"
        axes[row, -1].text(2, 10, outcome, color="yellow", fontsize=6)
    fig.tight_layout()
    return fig


def save_steps_figure(
    cubes: Sequence[np.ndarray],
    labels: Sequence[str],
    config: PreprocessConfig,
    path: str | os.PathLike,
    dpi: int = 110,
) -> None:
    """Render :func:`steps_figure` to a PNG, atomically."""
    fig = steps_figure(cubes, labels, config)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(fig)
