"""Figures of the multi-modal method: R2 per target and model, predicted vs true z and
median SFR, the active-learning curves, and t-SNE / UMAP maps of the early-fusion
network's latent space coloured by z and sSFR.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from galstar.io import atomic_path  # noqa: E402
from galstar.methods.multimodal import TARGETS  # noqa: E402
from galstar.methods.multimodal_tables import SHORT  # noqa: E402

__all__ = ["plot_r2", "plot_pred_vs_true", "plot_active_learning", "latent_embedding",
           "plot_latent_maps", "SSFR_COLUMN"]

#: Catalogue column (MPA-JHU) colouring the latent maps: log sSFR [1/yr].
SSFR_COLUMN = "specsfr_tot_p50"
LABELS = {"z": "z", "sfr_tot_median": r"log SFR median [M$_\odot$ yr$^{-1}$]"}


def _save(fig, path: str | os.PathLike) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)


def plot_r2(results: pd.DataFrame, path: str | os.PathLike) -> None:
    """Heat map of the test R2 of every model (rows) and target (columns), with the
    mean over the nine targets as the last column."""
    columns = [f"{SHORT[t]}_R2" for t in TARGETS] + ["mean_R2"]
    values = results[columns].to_numpy(float)
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * len(columns), 0.8 + 0.4 * len(results)))
    image = ax.imshow(np.clip(values, -0.2, 1.0), cmap="viridis", vmin=-0.2, vmax=1.0,
                      aspect="auto")
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7,
                color="white" if v < 0.5 else "black")
    ax.set_xticks(range(len(columns)), [c.removesuffix("_R2") for c in columns], rotation=45,
                  ha="right")
    ax.set_yticks(range(len(results)), results["model"])
    fig.colorbar(image, ax=ax, label="R$^2$ (test)")
    ax.set_title("R$^2$ per target and model")
    _save(fig, path)


def plot_pred_vs_true(predictions: Mapping[str, pd.DataFrame], path: str | os.PathLike,
                      targets: Sequence[str] = ("z", "sfr_tot_median"),
                      split: str = "test") -> None:
    """One row of panels per model: predicted against true value of each target."""
    names = list(predictions)
    fig, axes = plt.subplots(len(names), len(targets), squeeze=False,
                             figsize=(3.2 * len(targets), 2.8 * len(names)))
    for i, name in enumerate(names):
        test = predictions[name][predictions[name]["split"] == split]
        for j, t in enumerate(targets):
            ax = axes[i, j]
            x, y = test[f"{t}_true"].to_numpy(float), test[f"{t}_pred"].to_numpy(float)
            ax.scatter(x, y, s=4, alpha=0.5)
            lo, hi = np.nanmin([x.min(), y.min()]), np.nanmax([x.max(), y.max()])
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
            ax.set_title(f"{name}", fontsize=8)
            ax.set_xlabel(f"true {LABELS.get(t, t)}", fontsize=8)
            ax.set_ylabel("predicted", fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def plot_active_learning(curve: pd.DataFrame, path: str | os.PathLike) -> None:
    """R2 against the number of labels, one panel per scored target, one line per
    strategy: the mean over the repeats, with their range shaded."""
    targets = list(dict.fromkeys(curve["target"]))
    repeats = curve["repeat"].nunique() if "repeat" in curve else 1
    fig, axes = plt.subplots(1, len(targets), squeeze=False, figsize=(3.6 * len(targets), 3))
    for ax, t in zip(axes[0], targets, strict=True):
        for strategy, group in curve[curve["target"] == t].groupby("strategy", sort=False):
            stats = group.groupby("n_labels")["R2"].agg(["mean", "min", "max", "size"])
            (line,) = ax.plot(stats.index, stats["mean"], "o-", label=strategy)
            if stats["size"].max() > 1:
                ax.fill_between(stats.index, stats["min"], stats["max"], alpha=0.2,
                                color=line.get_color(), lw=0)
        ax.set_xlabel("labelled galaxies")
        ax.set_ylabel(f"R$^2$ {t} (test)")
        ax.legend(fontsize=8, title=f"mean of {repeats}, range" if repeats > 1 else None,
                  title_fontsize=7)
    fig.tight_layout()
    _save(fig, path)


def latent_embedding(files: Mapping[str, Sequence[str]], experiment: Mapping[str, Any],
                     model_path: str | os.PathLike, catalogs: Sequence[str | os.PathLike],
                     settings: Mapping[str, Any], *, seed: int = 0) -> pd.DataFrame:
    """The fused latent vectors of one split, mapped to 2-d by t-SNE and UMAP.

    ``settings``: ``split``, ``max_objects`` (a random subset), ``perplexity`` (t-SNE),
    ``n_neighbors`` and ``min_dist`` (UMAP).

    Returns
    -------
    pandas.DataFrame
        object_id, z, ``specsfr_tot_p50`` (from the catalogue shards; NaN where absent),
        tsne_x, tsne_y, umap_x, umap_y.
    """
    import keras
    import umap
    from sklearn.manifold import TSNE

    import galstar.models.fusion as fusion
    from galstar.io import read_parquet
    from galstar.methods.multimodal import load_split
    from galstar.training.data import iter_batches

    split = load_split(files, experiment, str(settings.get("split", "test")))
    rng = np.random.default_rng(seed)
    n = min(len(split), int(settings.get("max_objects", 2000)))
    split = split.subset(np.sort(rng.choice(len(split), n, replace=False)))
    model = keras.saving.load_model(model_path, compile=False)
    encoder = fusion.latent_model(model)
    latent = np.concatenate([np.asarray(encoder.predict_on_batch(x))
                             for x in iter_batches(split, 256)])
    perplexity = min(float(settings.get("perplexity", 30)), (n - 1) / 3)
    tsne = TSNE(2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(latent)
    neighbours = min(int(settings.get("n_neighbors", 15)), n - 1)
    embed = umap.UMAP(n_neighbors=neighbours, min_dist=float(settings.get("min_dist", 0.1)),
                      random_state=seed, n_jobs=1).fit_transform(latent)
    catalog = pd.concat([read_parquet(p, columns=None) for p in catalogs], ignore_index=True)
    ssfr = catalog.set_index("object_id")[SSFR_COLUMN] if SSFR_COLUMN in catalog else None
    ids = split.table["object_id"].to_numpy()
    return pd.DataFrame({"object_id": ids, "z": split.table["z"].to_numpy(float),
                         SSFR_COLUMN: ssfr.reindex(ids).to_numpy(float) if ssfr is not None
                         else np.nan, "tsne_x": tsne[:, 0], "tsne_y": tsne[:, 1],
                         "umap_x": embed[:, 0], "umap_y": embed[:, 1]})


def plot_latent_maps(embedding: pd.DataFrame, path: str | os.PathLike) -> None:
    """2 x 2 maps: t-SNE and UMAP, coloured by z and by log sSFR."""
    fig, axes = plt.subplots(2, 2, figsize=(8, 7))
    for i, method in enumerate(("tsne", "umap")):
        for j, (column, label) in enumerate((("z", "z"), (SSFR_COLUMN, "log sSFR [yr$^{-1}$]"))):
            ax = axes[i, j]
            points = ax.scatter(embedding[f"{method}_x"], embedding[f"{method}_y"],
                                c=embedding[column], s=5,
                                cmap="viridis" if j == 0 else "coolwarm_r")
            fig.colorbar(points, ax=ax, label=label)
            ax.set_title(f"{'t-SNE' if method == 'tsne' else 'UMAP'}, coloured by {label}",
                         fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    _save(fig, path)
