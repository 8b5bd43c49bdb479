"""Hyperparameter CV as an experiment key (galstar.training.tuning)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from galstar.training.tuning import apply_tuned, select, trial_split, tuning_trials

BASE = {"name": "net", "method": "m", "model": "dense", "learning_rate": 1e-3, "dropout": 0.1,
        "threads": 1}
GRID = {"learning_rate": [1e-3, 3e-3], "widths": [[4, 8], [8, 16]]}


def _tuned(**spec):
    return {"net": {**BASE, "tune": {"grid": GRID, **spec}}, "other": dict(BASE, name="other")}


def test_trials_cover_every_grid_point_and_fold():
    trials = tuning_trials(_tuned(folds=3), "m.experiments")
    assert list(trials) == ["net"]  # only the experiment with `tune`
    net = trials["net"]
    assert len(net) == 4 * 3
    t = net["net-tune3-fold2"]
    assert t["learning_rate"] == 3e-3 and t["widths"] == [8, 16]
    assert (t["tune_of"], t["tune_point"], t["tune_fold"], t["tune_folds"]) == ("net", 3, 2, 3)
    assert "tune" not in t and t["name"] == "net-tune3-fold2" and t["dropout"] == 0.1
    assert tuning_trials(_tuned(), "m.experiments")["net"]["net-tune0-fold2"]["tune_folds"] == 3


@pytest.mark.parametrize("spec, message", [
    ({"grid": {}}, "non-empty list"),
    ({"grid": {"learning_rate": []}}, "non-empty list"),
    ({"grid": {"threads": [1, 2]}}, r"\['threads'\] cannot be tuned"),
    ({"grid": GRID, "folds": 1}, "folds must be an integer >= 2"),
])
def test_bad_tuning_specs_name_the_key(spec, message):
    with pytest.raises(ValueError, match=rf"config m.experiments.net.tune.*{message}"):
        tuning_trials({"net": {**BASE, "tune": spec}}, "m.experiments")
    with pytest.raises(ValueError, match="plain experiment"):
        tuning_trials({"net": {**BASE, "tune": {"grid": GRID}, "init_from": "x"}},
                      "m.experiments")


def test_trial_folds_partition_the_training_split_whatever_the_order():
    ids = np.arange(1000, 1300)
    trials = tuning_trials(_tuned(folds=3), "m")["net"]
    parts = [trial_split(ids, trials[f"net-tune0-fold{k}"], seed=7) for k in range(3)]
    val = np.stack([p == "val" for p in parts])
    assert (val.sum(axis=0) == 1).all()  # every object validates in exactly one fold
    assert set(val.sum(axis=1)) == {100}  # balanced
    shuffled = np.random.default_rng(1).permutation(len(ids))
    again = trial_split(ids[shuffled], trials["net-tune0-fold1"], seed=7)
    assert (again == parts[1][shuffled]).all()  # a fold follows the object, not its row
    assert (trial_split(ids, trials["net-tune2-fold1"], seed=7) == parts[1]).all()


def test_select_chooses_the_lowest_mean_best_validation_loss(tmp_path):
    trials = tuning_trials({"net": {**BASE, "tune": {"grid": {"dropout": [0.1, 0.3, 0.5]},
                                                     "folds": 2}}}, "m")["net"]
    best = {(0, 0): 0.50, (0, 1): 0.40, (1, 0): 0.30, (1, 1): 0.34, (2, 0): 0.20, (2, 1): 0.60}
    histories = {}
    for name, t in trials.items():
        loss = best[(t["tune_point"], t["tune_fold"])]
        path = tmp_path / f"{name}.csv"
        pd.DataFrame({"epoch": [0, 1, 2], "loss": 1.0,
                      "val_loss": [loss + 0.2, loss, loss + 0.1]}).to_csv(path, index=False)
        histories[name] = path
    table, chosen = select(histories, trials, {"dropout": [0.1, 0.3, 0.5]})
    assert chosen == {"dropout": 0.3}  # mean 0.32 beats 0.45 and 0.40 (not the 0.20 fold)
    assert list(table["dropout"]) == [0.1, 0.3, 0.5]
    np.testing.assert_allclose(table["cv_loss_mean"], [0.45, 0.32, 0.40])
    np.testing.assert_allclose(table["fold1"], [0.40, 0.34, 0.60])
    assert list(table["chosen"]) == [False, True, False]
    del histories["net-tune1-fold0"]
    with pytest.raises(ValueError, match="net-tune1-fold0"):
        select(histories, trials, {"dropout": [0.1, 0.3, 0.5]})


def test_apply_tuned_merges_the_chosen_values(tmp_path):
    exp = {**BASE, "tune": {"grid": GRID}}
    record = tmp_path / "tuned.json"
    record.write_text(json.dumps({"chosen": {"learning_rate": 3e-3, "widths": [8, 16]}}))
    out = apply_tuned(exp, record)
    assert out["learning_rate"] == 3e-3 and out["widths"] == [8, 16]
    assert out["tuned"] == {"learning_rate": 3e-3, "widths": [8, 16]} and out["tune"]
    record.write_text(json.dumps({"chosen": {"epochs": 3}}))
    with pytest.raises(ValueError, match=r"chosen keys \['epochs'\]"):
        apply_tuned(exp, record)
    record.write_text("{")
    with pytest.raises(ValueError, match="cannot read tuning record"):
        apply_tuned(exp, record)
