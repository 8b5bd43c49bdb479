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

    from galstar.imaging.rgb import viewer_rgb
    from galstar.mock.cutouts import MockCutoutService

    root = Path(root)
    gals = pd.read_parquet(root / "truth" / "galaxies.parquet")
    uni = pd.read_parquet(root / "universe.parquet", columns=["kind", "role", "ra", "dec",
                                                              "flux_r"])
    tgt = gals[gals["role"] == "target"]
    q = tgt["quiescent"].to_numpy()
    fig = plt.figure(figsize=(15, 9))
    grid = fig.add_gridspec(3, max(n_cutouts, 5), height_ratios=[1, 1, 0.9])
    wide = max(n_cutouts, 5)

    def panel(row: int, k: int, n_panels: int = 3):
        span = wide // n_panels
        return fig.add_subplot(grid[row, k * span:(k + 1) * span])

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
    ax.set(xlabel="RA [deg]", ylabel="Dec [deg]",
           title="patch: targets, field, r<13 stars; N/S and sweep edges")
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
    for k, (_, row) in enumerate(picks.iterrows()):
        ax = fig.add_subplot(grid[2, k])
        # the pipeline's own colour stretch; its planes are already red, green, blue
        ax.imshow(viewer_rgb(service.cube(row["ra"], row["dec"])), origin="lower")
        ax.set_title(f"{'BLEND ' if row['is_blend'] else ''}logM={row['logm_true']:.1f}\n"
                     f"sSFR={row['logssfr_true']:.1f} n={row['sersic_n']:.2g}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
