"""Active learning with the Bayesian (MC-dropout) image CNN (seed 001, reference [7]).

From a small labelled pool of training galaxies the CNN is trained, scored on the test
split, and the pool grows each round by the galaxies it is most uncertain about (the
largest mean MC-dropout variance of the scaled targets) or, for comparison, by random
ones. Both strategies start from the same pool; every round retrains from scratch.
The whole comparison repeats with other starting pools and training seeds, so that the
curves carry their own run-to-run spread (one training a point scatters by ~0.05 in R2).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["STRATEGIES", "acquire", "run_active_learning", "active_learning_curve",
           "labels_to_reach"]

log = logging.getLogger(__name__)

STRATEGIES = ("uncertainty", "random")

#: fit_and_score(labelled indices, whether the uncertainties are needed, repeat) -> (test
#: scores {target: R2}, uncertainty per pool object or None)
FitAndScore = Callable[[np.ndarray, bool, int],
                       tuple[Mapping[str, float], np.ndarray | None]]


def acquire(strategy: str, unlabelled: np.ndarray, uncertainty: np.ndarray, step: int,
            rng: np.random.Generator) -> np.ndarray:
    """``step`` pool indices from ``unlabelled``: the most uncertain (ties: lowest
    index) or uniformly random ones."""
    step = min(int(step), len(unlabelled))
    if strategy == "uncertainty":
        order = np.lexsort((unlabelled, -np.asarray(uncertainty, float)[unlabelled]))
        return unlabelled[order[:step]]
    if strategy == "random":
        return rng.choice(unlabelled, size=step, replace=False)
    raise ValueError(f"config multimodal.active_learning.strategies: unknown strategy "
                     f"'{strategy}'; choose from {list(STRATEGIES)}")


def run_active_learning(n_pool: int, fit_and_score: FitAndScore, *, initial: int, step: int,
                        rounds: int, strategies: Sequence[str] = STRATEGIES, seed: int = 0,
                        repeats: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The acquisition loop, independent of the model.

    Parameters
    ----------
    n_pool : int
        Training objects that may be labelled (indices 0 .. n_pool - 1).
    fit_and_score : callable
        Trains on the labelled indices (its third argument: the repeat, for its seed);
        returns the test scores and, when its second argument is true, an uncertainty
        for every pool index. Round 0 is trained once per repeat for all strategies; the
        last round's uncertainties are not asked for.
    initial, step, rounds : int
        Starting pool size, objects added per round, rounds of acquisition.
    repeats : int
        Independent comparisons, each from its own random starting pool.

    Returns
    -------
    curve : pandas.DataFrame
        repeat, strategy, round, n_labels, target, R2.
    acquired : pandas.DataFrame
        repeat, strategy, round (0 = the initial pool), index: every labelled pool index
        once per repeat and strategy.
    """
    if initial < 1 or step < 1 or rounds < 0 or repeats < 1:
        raise ValueError("active learning needs initial >= 1, step >= 1, rounds >= 0 "
                         "and repeats >= 1")
    if initial + rounds * step > n_pool:
        raise ValueError(f"config multimodal.active_learning: initial {initial} + rounds "
                         f"{rounds} x step {step} exceeds the {n_pool} training objects")
    curve, acquired = [], []
    for rep in range(repeats):
        start = np.sort(np.random.default_rng([seed, rep]).choice(n_pool, size=initial,
                                                                  replace=False))
        # round 0 trains on the same pool for every strategy: once
        first = fit_and_score(start, rounds > 0, rep)
        for strategy in strategies:
            rng = np.random.default_rng([seed, rep, STRATEGIES.index(strategy) + 1])
            labelled = start
            acquired += [{"repeat": rep, "strategy": strategy, "round": 0, "index": int(i)}
                         for i in labelled]
            for rnd in range(rounds + 1):
                scores, uncertainty = first if rnd == 0 else \
                    fit_and_score(labelled, rnd < rounds, rep)
                curve += [{"repeat": rep, "strategy": strategy, "round": rnd,
                           "n_labels": len(labelled), "target": t, "R2": float(v)}
                          for t, v in scores.items()]
                log.info("repeat %d, %s round %d: %d labels, R2 %s", rep, strategy, rnd,
                         len(labelled), {t: round(float(v), 3) for t, v in scores.items()})
                if rnd == rounds:
                    break
                unlabelled = np.setdiff1d(np.arange(n_pool), labelled)
                new = acquire(strategy, unlabelled, uncertainty, step, rng)
                acquired += [{"repeat": rep, "strategy": strategy, "round": rnd + 1,
                              "index": int(i)} for i in new]
                labelled = np.sort(np.concatenate([labelled, new]))
    return pd.DataFrame(curve), pd.DataFrame(acquired)


def _keras_fit_and_score(experiment: Mapping[str, Any], train, val, test, *, seed: int,
                         targets: Sequence[str], mc_passes: int) -> FitAndScore:
    """Train the experiment's network on a labelled subset of ``train`` (labels scaled on
    that subset), score it on ``test`` and return the pool's MC-dropout variance."""
    from galstar.evaluation.metrics import regression_metrics
    from galstar.evaluation.predict import predict_split
    from galstar.evaluation.uncertainty import mc_dropout_predict
    from galstar.methods.multimodal import model_builder
    from galstar.training.callbacks import build_callbacks
    from galstar.training.data import iter_batches, make_dataset
    from galstar.training.device import seed_everything
    from galstar.training.fit import fit_model
    from galstar.training.losses import get_loss
    from galstar.training.scaler import fit_scaler

    batch = int(experiment["batch_size"])
    steps = experiment.get("steps")

    def fit_and_score(labelled, uncertain=True, repeat=0):
        seed_everything(seed + repeat, bool(experiment.get("deterministic", False)))
        sub = train.subset(labelled)
        # a fixed budget of gradient steps, not of epochs: 100 labels would otherwise get
        # a couple of steps an epoch and learn nothing
        epochs = int(experiment["epochs"]) if not steps else \
            max(1, -(-int(steps) * batch // len(sub)))
        # patience counts epochs, and a round's are len(train) / len(sub) times shorter:
        # stretched, both wait as many steps as in the full run (unstretched, 300 labels
        # halve the rate every ~10 steps and the CNN stops learning within a hundred)
        callbacks = build_callbacks(experiment, patience_scale=len(train) / len(sub))
        scaler = fit_scaler(str(experiment.get("scaler", "minmax")), sub.labels, targets)
        build, _ = model_builder(experiment, sub, seed + repeat)
        model = build(sub)
        fit_model(model, make_dataset(sub, scaler.transform(sub.labels), batch, shuffle=True,
                                      augment=bool(experiment.get("augment", False)),
                                      seed=seed + repeat),
                  make_dataset(val, scaler.transform(val.labels), batch, shuffle=False,
                               weighted=False),
                  epochs=epochs,
                  learning_rate=float(experiment["learning_rate"]), loss=get_loss(experiment),
                  callbacks=callbacks, verbose=0)
        pred = predict_split(model, scaler, test, mc_passes=2, mc_dropout=False)
        scores = {t: regression_metrics(pred[f"{t}_true"], pred[f"{t}_pred"])["R2"]
                  for t in targets}
        if not uncertain:  # the last round acquires nothing
            return scores, None
        _, _, std = mc_dropout_predict(model, iter_batches(train, 256), passes=mc_passes)
        return scores, np.mean(std**2, axis=1)

    return fit_and_score


def active_learning_curve(files: Mapping[str, Sequence[str]], experiment: Mapping[str, Any],
                          settings: Mapping[str, Any], *, seed: int
                          ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The learning curves of every strategy for the experiment's image CNN.

    ``settings``: ``initial``, ``step``, ``rounds``, ``strategies``, ``mc_passes``,
    ``repeats``, ``targets`` (those scored; all nine are trained), ``steps`` (gradient steps per
    round: epochs = steps x batch_size / labels, at least 1; without it ``epochs``), and
    any training key that overrides the experiment's (``epochs``, ``batch_size`` ...).
    """
    from galstar.methods.multimodal import TARGETS, load_split
    from galstar.training.experiments import merge

    keys = ("initial", "step", "rounds", "strategies", "mc_passes", "targets", "experiment",
            "repeats", "priority")
    exp = merge(experiment, {k: v for k, v in settings.items() if k not in keys})
    train, val, test = (load_split(files, exp, s) for s in ("train", "val", "test"))
    scored = list(settings.get("targets") or TARGETS)
    fit = _keras_fit_and_score(exp, train, val, test, seed=seed, targets=TARGETS,
                               mc_passes=int(settings.get("mc_passes", 10)))

    def fit_and_score(labelled, uncertain, repeat):
        scores, uncertainty = fit(labelled, uncertain, repeat)
        return {t: scores[t] for t in scored}, uncertainty

    curve, acquired = run_active_learning(
        len(train), fit_and_score, initial=int(settings["initial"]), step=int(settings["step"]),
        rounds=int(settings["rounds"]),
        strategies=list(settings.get("strategies") or STRATEGIES), seed=seed,
        repeats=int(settings.get("repeats", 1)))
    acquired["object_id"] = train.table["object_id"].to_numpy()[acquired["index"]]
    return curve, acquired


def labels_to_reach(curve: pd.DataFrame, reference: str = "random",
                    target_r2: str = "mean") -> pd.DataFrame:
    """Per strategy: its final R2 (``target_r2`` = a target, or the mean over the scored
    targets), averaged over the repeats, with the repeats' standard deviation, and the
    fewest labels with which the repeat-averaged curve reaches the reference strategy's
    final R2 (NaN if it never does)."""
    scored = curve if target_r2 == "mean" else curve[curve["target"] == target_r2]
    if "repeat" not in scored:
        scored = scored.assign(repeat=0)
    per_repeat = scored.groupby(["strategy", "n_labels", "repeat"], as_index=False,
                              sort=False)["R2"].mean()
    table = per_repeat.groupby(["strategy", "n_labels"], as_index=False, sort=False).agg(
        R2=("R2", "mean"), R2_std=("R2", lambda r: float(np.std(r, ddof=1)) if len(r) > 1
                                   else np.nan), repeats=("R2", "size"))
    goal = float(table[table["strategy"] == reference].sort_values("n_labels")["R2"].iloc[-1])
    rows = []
    for strategy, group in table.groupby("strategy", sort=False):
        group = group.sort_values("n_labels")
        reached = group[group["R2"] >= goal]
        rows.append({"strategy": strategy, "score": target_r2,
                     "final_R2": float(group["R2"].iloc[-1]),
                     "final_R2_std": float(group["R2_std"].iloc[-1]),
                     "repeats": int(group["repeats"].iloc[-1]), "reference_final_R2": goal,
                     "labels_to_reach_reference":
                         float(reached["n_labels"].iloc[0]) if len(reached) else np.nan})
    return pd.DataFrame(rows)
