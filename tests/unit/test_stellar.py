"""The stellar method: StarNet and VGG-1D layers, folds and warm starts in the core,
experiment checks, splits on a hand-made sample, Table 6.1 and the gap table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from galstar.methods import stellar
from galstar.training.folds import (
    assign_folds,
    expand_folds,
    fold_groups,
    fold_split,
    gather_folds,
)

keras = pytest.importorskip("keras")

from galstar.models import get_builder  # noqa: E402


def test_starnet_is_the_published_network():
    model = get_builder("starnet")({"vis": (256, 1)}, 3)
    kinds = [(layer.name, type(layer).__name__) for layer in model.layers]
    assert kinds == [("vis", "InputLayer"), ("vis_conv1", "Conv1D"), ("vis_conv2", "Conv1D"),
                     ("vis_pool", "MaxPooling1D"), ("vis_flatten", "Flatten"),
                     ("dense1", "Dense"), ("dense2", "Dense"), ("outputs", "Dense")]
    c1, c2 = model.get_layer("vis_conv1"), model.get_layer("vis_conv2")
    assert (c1.filters, c2.filters) == (4, 16)
    assert c1.kernel_size == (8,) and c1.padding == "same" and c2.padding == "same"
    assert model.get_layer("vis_pool").pool_size == (4,)
    assert [model.get_layer(n).units for n in ("dense1", "dense2", "outputs")] == [256, 128, 3]
    assert type(c1.kernel_initializer).__name__ == "HeNormal"
    assert model.get_layer("outputs").activation.__name__ == "linear"
    # 256 px -> 64 after the pool, x 16 filters into Dense 256
    assert model.get_layer("dense1").kernel.shape == (64 * 16, 256)


def test_vgg1d_is_the_thesis_network_and_any_length_works():
    model = get_builder("vgg1d")({"nir": (100, 1)}, 2)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv1D)]
    assert [c.filters for c in convs] == [64, 128, 256]
    assert all(c.kernel_size == (3,) and c.padding == "same" for c in convs)
    pools = [layer.name for layer in model.layers if isinstance(layer, keras.layers.MaxPooling1D)]
    assert pools == ["nir_pool1", "nir_pool2"]
    assert isinstance(model.layers[-2], keras.layers.GlobalAveragePooling1D)
    assert model.output.shape[-1] == 2


def test_fusion_has_two_branches_and_standardised_inputs():
    model = get_builder("starnet")({"vis": (64, 1), "nir": (32, 1)}, 1, dropout=0.2,
                                   input_stats={"vis": (2.0, 4.0), "nir": (0.0, 1.0)})
    fused = model.get_layer("fusion")
    assert fused.output.shape[-1] == 16 * 16 + 8 * 16
    scaled = keras.Model(model.inputs, model.get_layer("vis_scaling").output)
    out = scaled({"vis": np.full((1, 64, 1), 4.0, "float32"),
                  "nir": np.zeros((1, 32, 1), "float32")})
    assert np.allclose(np.asarray(out), 1.0)  # (4 - 2) / sqrt(4)
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in model.layers) == 3


def test_init_weights_copies_matching_layers_and_normalisation(tmp_path):
    from galstar.training.fit import init_weights

    source = get_builder("starnet")({"vis": (32, 1)}, 2, filters=(2, 4), dense_units=(8,),
                                    input_stats={"vis": (3.0, 9.0)})
    source.save(tmp_path / "m.keras")
    target = get_builder("starnet")({"vis": (32, 1)}, 2, filters=(2, 4), dense_units=(8,),
                                    input_stats={"vis": (0.0, 1.0)})
    copied = init_weights(target, tmp_path / "m.keras")
    assert set(copied) == {"vis_scaling", "vis_conv1", "vis_conv2", "dense1", "outputs"}
    x = np.random.default_rng(0).normal(size=(3, 32, 1)).astype("float32")
    assert np.allclose(np.asarray(target({"vis": x})), np.asarray(source({"vis": x})), atol=1e-6)
    other = get_builder("vgg1d")({"nir": (32, 1)}, 5)
    with pytest.raises(ValueError, match="shares no layer"):
        init_weights(other, tmp_path / "m.keras")


def test_folds_expand_check_and_split():
    exps = {"a": {"name": "a"}, "b": {"name": "b", "folds": 3},
            "c": {"name": "c", "folds": 3, "init_from": "b"},
            "d": {"name": "d", "folds": 3, "init_from": "a"}}
    out = expand_folds(exps, "m.experiments")
    assert list(out) == ["a", "b-fold0", "b-fold1", "b-fold2", "c-fold0", "c-fold1",
                         "c-fold2", "d-fold0", "d-fold1", "d-fold2"]
    assert out["c-fold2"]["init_from"] == "b-fold2" and out["d-fold1"]["init_from"] == "a"
    assert fold_groups(out) == {g: [f"{g}-fold{k}" for k in range(3)] for g in "bcd"}
    for bad, match in (({"x": {"folds": 1}}, "integer >= 2"),
                       ({"x": {"init_from": "nope"}}, "no experiment 'nope'"),
                       ({"x": {"init_from": "x"}}, "itself"),
                       ({"a": {}, "x": {"folds": 2, "init_from": "b"}, "b": {"folds": 3}},
                        "same number of folds")):
        with pytest.raises(ValueError, match=match):
            expand_folds(bad, "m.experiments")
    fold = assign_folds(30, 3, seed=1, order=np.arange(30))
    assert np.bincount(fold).tolist() == [10, 10, 10]
    assert all(sorted(fold[i:i + 3]) == [0, 1, 2] for i in range(0, 30, 3))  # stratified
    splits = [fold_split(fold, k, 3, val_share=0.5) for k in range(3)]
    for s in splits:
        assert (s == "test").sum() == 10 and (s == "val").sum() == 5 and (s == "train").sum() == 15
    assert all(sum(s[i] == "test" for s in splits) == 1 for i in range(30))
    frames = {f"f{k}": pd.DataFrame({"object_id": np.flatnonzero(s != "train"),
                                     "split": s[s != "train"]}) for k, s in enumerate(splits)}
    gathered = gather_folds(frames)
    assert len(gathered) == 45 and gathered.groupby("split").size().to_dict() == {
        "test": 30, "val": 15}
    with pytest.raises(ValueError, match="two folds"):
        gather_folds({"a": frames["f0"], "b": frames["f0"]})


def _config(**experiments):
    return {"seed": 5, "training": {}, "stellar": {
        "training": {"model": "starnet", "targets": ["teff", "logg", "mh"], "epochs": 1,
                     "batch_size": 4, "learning_rate": 1e-3},
        "experiments": experiments}}


def test_experiments_check_regimes():
    found = stellar.experiments(_config(
        a={"arm": "vis", "regime": "synthetic"},
        c={"arm": "vis", "regime": "finetune", "folds": 2, "init_from": "a"}))
    assert set(found) == {"a", "c-fold0", "c-fold1"} and found["a"]["fold_seed"] == 5
    for bad, match in (({"arm": "vis", "regime": "observed"}, "needs folds"),
                       ({"arm": "vis", "regime": "synthetic", "folds": 2}, "grid"),
                       ({"arm": "vis", "regime": "observed", "folds": 2, "targets": ["x"]},
                        "subset")):
        with pytest.raises(ValueError, match=match):
            stellar.experiments(_config(x=bad))
    with pytest.raises(ValueError, match="same model, arm and targets"):
        stellar.experiments(_config(a={"arm": "nir", "regime": "synthetic"},
                                    c={"arm": "vis", "regime": "finetune", "folds": 2,
                                       "init_from": "a"}))
    assert stellar.inputs(found["a"], [])["grid_vis"] == ["results/stellar/grid/vis.npy"]
    assert "grid_vis" not in stellar.inputs(found["c-fold0"], [])


@pytest.fixture
def files(tmp_path):
    """A sample of 12 stars (2 without labels, 1 without a NIR spectrum), arm arrays
    whose first pixel encodes the star, and a 4-node grid with 2 copies per node."""
    from galstar.io import write_parquet

    n = 12
    sample = pd.DataFrame({"object_id": np.arange(n), "karmn": [f"J{i:05d}" for i in range(n)],
                           "teff": 3000.0 + 50 * np.arange(n), "logg": 5.0, "mh": 0.0,
                           "label_reason": [""] * 10 + ["no_label", "sentinel: teff=-9999"],
                           "vis_row": np.arange(n)[::-1], "nir_row": [-1] + list(range(n - 1)),
                           "vis_reason": "", "nir_reason": ["no_spectrum"] + [""] * (n - 1)})
    write_parquet(sample, tmp_path / "sample.parquet")
    np.save(tmp_path / "vis.npy", np.repeat(np.arange(n, dtype="float32")[::-1, None], 8, 1))
    np.save(tmp_path / "nir.npy", np.ones((n - 1, 6), "float32"))
    grid = pd.DataFrame({"node": np.repeat(np.arange(4), 2), "copy": np.tile([0, 1], 4),
                         "teff": np.repeat([2500.0, 3000, 3500, 4000], 2), "logg": 5.0,
                         "mh": 0.0, "kept": [True] * 7 + [False]})
    write_parquet(grid, tmp_path / "grid.parquet")
    np.save(tmp_path / "grid.npy", np.zeros((8, 8), "float32"))
    names = {"sample": "sample.parquet", "observed_vis": "vis.npy", "observed_nir": "nir.npy",
             "grid_vis": "grid.npy", "grid_vis_table": "grid.parquet"}
    return {key: [str(tmp_path / name)] for key, name in names.items()}


def test_splits_keep_stars_and_rows_aligned(files):
    exp = {"name": "x", "regime": "observed", "arm": "vis", "targets": ["teff"], "folds": 2,
           "fold": 0, "cv_group": "x", "fold_seed": 1}
    test = stellar.load_split(files, exp, "test")
    val = stellar.load_split(files, exp, "val")
    train = stellar.load_split(files, exp, "train")
    assert len(test) + len(val) + len(train) == 10  # labelled stars only
    assert len(train) == 0 and len(test) == 5  # 2 folds: test and val are whole folds
    for split in (test, val):  # the vis row of star i holds i
        assert np.allclose(split.inputs["vis"].array[:, 0, 0], split.table["object_id"])
        assert np.allclose(split.labels[:, 0], 3000 + 50 * split.table["object_id"])
    fused = stellar.load_split(files, {**exp, "arm": "fusion"}, "test")
    assert 0 not in set(fused.table["object_id"])  # star 0 has no NIR spectrum
    syn = {"name": "s", "regime": "synthetic", "arm": "vis", "targets": ["teff", "logg"],
           "val_fraction": 0.25, "fold_seed": 1}
    gtrain, gval = stellar.load_split(files, syn, "train"), stellar.load_split(files, syn, "val")
    assert len(gtrain) + len(gval) == 7 and set(gtrain.table["node"]).isdisjoint(gval.table["node"])
    assert len(stellar.load_split(files, syn, "test")) == 10
    assert gtrain.labels.shape[1] == 2 and gtrain.inputs["vis"].sample_shape == (8, 1)


def _pred(n, bias, noise, seed):
    rng = np.random.default_rng(seed)
    t = rng.uniform(2500, 4000, n)
    return pd.DataFrame({"object_id": np.arange(n), "split": "test", "teff_true": t,
                         "teff_pred": t + bias + noise * rng.standard_normal(n),
                         "teff_sigma": 0.0})


def test_table_and_gap():
    frames = {"a": _pred(50, 100.0, 50.0, 1), "b": _pred(50, 0.0, 40.0, 2),
              "c": _pred(50, 20.0, 40.0, 3)}
    settings = {k: {"model": "starnet", "targets": ["teff"], "arm": "vis", "regime": r}
                for k, r in zip("abc", ("synthetic", "observed", "finetune"), strict=True)}
    table = stellar.thesis_table(frames, settings)
    assert list(table.columns) == list(stellar.TABLE_COLUMNS)
    a = table[table["experiment"] == "a"].iloc[0]
    r = frames["a"]["teff_pred"] - frames["a"]["teff_true"]
    assert a["MAE"] == pytest.approx(np.abs(r).mean()) and a["bias"] == pytest.approx(r.mean())
    assert a["MSE"] == pytest.approx((r ** 2).mean()) and a["target_set"] == "T"
    gap = stellar.gap_table(table)
    row = gap.iloc[0]
    assert row["gap"] == pytest.approx(row["MAE_a"] - row["MAE_b"])
    assert row["closed"] == pytest.approx((row["MAE_a"] - row["MAE_c"]) / row["gap"])
    assert 0.5 < row["closed"] < 1.0
