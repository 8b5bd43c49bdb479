"""Package a trained experiment as a portable model directory (rule package_model).

What a prediction needs beyond the training outputs: the preprocessing record, the
calibration fitted on the validation split, the test metrics, the training sample (to
flag targets it contains), the inference settings and a model card.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import yaml

from galstar.inference.model_card import model_card
from galstar.inference.model_dir import calibration_record, training_sample, write_package
from galstar.methods import get_method

__all__ = ["UNITS", "model_inputs", "package_model"]

#: Target column -> unit (FITS TUNIT strings; dex(...) is a logarithmic quantity).
UNITS = {"lgm_fib_p50": "dex(solMass)", "specsfr_fib_p50": "dex(1/yr)", "teff": "K",
         "logg": "dex(cm/s2)", "mh": "dex", "z": "", "log_sigma_sfr": "dex(solMass/(yr kpc2))"}


def model_inputs(method: str, experiment: Mapping[str, Any]) -> dict[str, Any]:
    """What the model reads, for the prediction rules (image variant, arms, redshift)."""
    if method == "galeffnet":
        return {"variant": f"{experiment['bands']}-{experiment['resolution']}",
                "with_redshift": bool(experiment.get("with_redshift", False))}
    if method == "stellar":
        arms = ["vis", "nir"] if experiment["arm"] == "fusion" else [str(experiment["arm"])]
        return {"arms": arms}
    if method == "sigma_sfr":
        features = list(experiment["features"])
        return {"features": features, "with_redshift": "z" in features}
    raise ValueError(f"predicting for targets is not available for method '{method}'")


def package_model(method: str, files: Mapping[str, Sequence[str]],
                  experiment: Mapping[str, Any], *, model_dir: str | os.PathLike,
                  metrics_path: str | os.PathLike, calibration_path: str | os.PathLike,
                  evaluated_as: str, preprocessing: Mapping[str, Any],
                  inference: Mapping[str, Any], archive: str, code_version: str
                  ) -> dict[str, Any]:
    """Write the package files of ``experiment`` into ``model_dir``; return model.json.

    Parameters
    ----------
    files : mapping
        The experiment's inputs (``method.inputs``): the training sample is read with
        the method's own split loader, so it is exactly what the model saw.
    evaluated_as : str
        The predictions/metrics name the model is evaluated under (the experiment, or
        its cross-validation group).
    """
    module = get_method(method)
    if hasattr(module, "targets"):
        targets = list(module.targets(experiment))
    else:  # the experiment's own subset (stellar), else the method's labels
        targets = list(experiment.get("targets") or module.label_columns())
    tables = [module.load_split(files, experiment, split, targets).table
              for split in ("train", "val")]
    sample = training_sample(tables)
    calibration = pd.read_csv(calibration_path)
    metrics = pd.read_csv(metrics_path)
    with open(os.path.join(model_dir, "config.yaml")) as fh:
        trained = yaml.safe_load(fh)
    units = {t: UNITS.get(t, "") for t in targets}
    inputs = model_inputs(method, experiment)
    name = f"{method}/{experiment['name']}"
    card = model_card(name=name, method=method, code_version=code_version, archive=archive,
                      experiment=trained["experiment"], run=trained.get("run") or {},
                      targets=targets, units=units, metrics=metrics,
                      calibration=calibration_record(calibration, str(calibration_path)),
                      inputs=inputs, n_train=len(tables[0]), n_val=len(tables[1]))
    return write_package(model_dir, method=method, experiment=str(experiment["name"]),
                         evaluated_as=evaluated_as, code_version=code_version,
                         archive=archive, targets=targets, units=units,
                         inference=inference, inputs=inputs, preprocessing=preprocessing,
                         calibration=calibration, calibration_source=str(calibration_path),
                         metrics=metrics, sample=sample, card=card)
