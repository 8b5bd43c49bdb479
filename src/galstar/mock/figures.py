"""Overview figure of a mock archive: the population it holds and what its cutouts show.

Reads the archive's truth and universe, so it lives with the mock, not the simulator.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from galstar.io import atomic_path
from galstar.units import mag_to_nmgy

__all__ = ["plot_mock_overview"]

#: Example cutouts: the pipeline's default cutout (152 px at 0.262"/px, 40").
STAMP_PX, STAMP_PIXSCALE = 152, 0.262


def plot_mock_overview(root: str | os.PathLike, out_png: str | os.PathLike,
                       n_cutouts: int = 6, seed: int = 0) -> None:
    """Write a PNG: redshifts, M*-sSFR plane, mass-size relations, colours, the sky patch
    and example target cutouts (blended ones marked), all from the archive's truth.

    Parameters
    ----------
    root : path
        Mock archive directory (:func:`galstar.mock.writer.build_mock_archive` output).
    out_png : path
        Figure to write (atomically).
    n_cutouts : int
        Example cutouts shown.
    seed : int
        Picks the examples.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from galstar.imaging.rgb import display_rgb
    from galstar.mock.cutouts import MockCutoutService

    root = Path(root)
    gals = pd.read_parquet(root / "truth" / "galaxies.parquet")
    uni = pd.read_parquet(root / "universe.parquet", columns=["kind", "role", "ra", "dec",
                                                              "flux_r"])
    tgt = gals[gals["role"] == "target"]
    q = tgt["quiescent"].to_numpy()
    fig = plt.figure(figsize=(15, 10), layout="constrained")
    # two sub-figures: the cutout row is laid out apart from the plots' axis labels
    plots, stamps = fig.subfigures(2, 1, height_ratios=[2, 0.8])
    grid = plots.add_gridspec(2, 3)

    def panel(row: int, k: int):
        return plots.add_subplot(grid[row, k])

    ax = panel(0, 0)
    ax.hist(tgt["z"], bins=np.linspace(0, 0.35, 36), color="0.4")
    ax.set(xlabel="redshift", ylabel="spectroscopic galaxies",
           title=f"{len(tgt)} targets, median z = {tgt['z'].median():.3f}")
    ax = panel(0, 1)
    ax.scatter(tgt["logm_true"], tgt["logssfr_true"], s=2, c=np.where(q, "tab:red", "tab:blue"))
    ax.set(xlabel="log M* [Msun]", ylabel="log sSFR [1/yr]", xlim=(7.5, 11.5),
           ylim=(-13.5, -8), title="quiescent (red) / star-forming (blue)")
    ax = panel(0, 2)
    for sel, colour in ((q, "tab:red"), (~q, "tab:blue")):
        ax.scatter(tgt["logm_true"][sel], np.log10(tgt["r_e_kpc"][sel]), s=2, c=colour)
    ax.set(xlabel="log M* [Msun]", ylabel="log r_e [kpc]", title="mass-size relations")
    ax = panel(1, 0)
    gr = -2.5 * np.log10(tgt["flux_g"] / tgt["flux_r"])
    ax.scatter(tgt["logm_true"], gr, s=2, c=np.where(q, "tab:red", "tab:blue"))
    ax.set(xlabel="log M* [Msun]", ylabel="observed g - r", title="colour-mass")
    ax = panel(1, 1)
    ax.hist([tgt["sersic_n"][~q], tgt["sersic_n"][q]], bins=np.arange(0.375, 6.4, 0.25),
            color=["tab:blue", "tab:red"], stacked=True)
    ax.set(xlabel="Sersic n", ylabel="targets", title="profiles")
    ax = panel(1, 2)
    for kind, colour, size in (("galaxy", "0.7", 0.3), ("star", "tab:orange", 0.6)):
        sel = uni["kind"] == kind
        ax.scatter(uni["ra"][sel], uni["dec"][sel], s=size, c=colour)
    ax.scatter(tgt["ra"], tgt["dec"], s=1.5, c="k")
    bright = (uni["kind"] == "star") & (uni["flux_r"] > mag_to_nmgy(13.0))
    ax.scatter(uni["ra"][bright], uni["dec"][bright], s=30, marker="*", c="tab:red")
    ax.axhline(32.375, color="tab:green", lw=1)
    ax.axvline(160.0, color="tab:purple", lw=1)
    ax.invert_xaxis()
    ax.ticklabel_format(useOffset=False)  # degrees as they are, not "+1.6e2"
    ax.set(xlabel="RA [deg]", ylabel="Dec [deg]")
    ax.set_title("sky: targets (black), field galaxies (grey), stars (orange;\n"
                 "r < 13 red), N/S boundary (green), sweep edge (purple)", fontsize=10)
    service = MockCutoutService(root)
    rng = np.random.default_rng(seed)
    blended = tgt[tgt["is_blend"]]
    isolated = tgt[~tgt["is_blend"]]
    n_blend = min(len(blended), n_cutouts // 2)
    picks = pd.concat([
        blended.iloc[rng.choice(len(blended), n_blend, replace=False)],
        isolated.iloc[rng.choice(len(isolated), min(len(isolated), n_cutouts - n_blend),
                                 replace=False)],
    ])
    stamp_axes = stamps.subplots(1, max(n_cutouts, 1), squeeze=False)[0]
    for ax in stamp_axes[len(picks):]:
        ax.set_axis_off()
    for k, (_, row) in enumerate(picks.iterrows()):
        ax = stamp_axes[k]
        # the viewer's colours, brightened per cutout (faint targets are near black)
        cube = service.cube(row["ra"], row["dec"], size=STAMP_PX, pixscale=STAMP_PIXSCALE)
        ax.imshow(display_rgb(cube), origin="lower")
        ax.set_title(f"{'BLEND ' if row['is_blend'] else ''}logM={row['logm_true']:.1f}\n"
                     f"sSFR={row['logssfr_true']:.1f} n={row['sersic_n']:.2g}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        if k == 0:
            ax.set_ylabel(f'{STAMP_PX * STAMP_PIXSCALE:.0f}" grz cutouts', fontsize=9)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
