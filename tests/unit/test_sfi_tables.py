"""Table-1 errors and decoded-spectrum errors of spectra_from_images on known cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from galstar.methods.spectra_from_images import TARGETS
from galstar.methods.spectra_from_images_decode import spectrum_errors
from galstar.methods.spectra_from_images_tables import validation_errors


def test_validation_errors_known_case():
    rows = {"split": ["val", "val", "test"]}
    for i, t in enumerate(TARGETS):
        rows[f"{t}_true"] = [0.0, 0.0, 5.0]
        rows[f"{t}_pred"] = [1.0, -1.0, 0.0] if i == 0 else [0.0, 0.0, 9.0]
    out = validation_errors(pd.DataFrame(rows), "x")
    assert out["n_val"] == 2  # the test row is not scored
    assert out["val_mse"] == pytest.approx(1.0 / 6)
    assert out["rmse_latent_1"] == pytest.approx(1.0) and out["rmse_latent_2"] == 0.0
    with pytest.raises(ValueError, match="no validation rows"):
        validation_errors(pd.DataFrame(rows).assign(split="test"), "x")


def test_spectrum_errors_masks_and_partial_truth():
    flux = np.zeros((2, 4))
    weight = np.array([[1.0, 1.0, 0.0, 4.0], [1.0, 1.0, 1.0, 1.0]])
    decoded = np.ones((2, 4))
    decoded[0, 2] = 100.0  # a filled pixel (weight 0) is never scored against the observed
    truth = np.array([[1.0, 1.0, 1.0, np.nan], [0.0, 0.0, np.nan, np.nan]])
    out = spectrum_errors(decoded, flux, weight, truth)
    assert out["rms_observed"] == pytest.approx(1.0)
    assert out["reduced_chi2"] == pytest.approx((1 + 1 + 4 + 4) / 7)
    assert out["n_truth"] == 2
    # truth residuals: [0, 0, 99] and [1, 1] over the finite pixels
    assert out["rms_truth"] == pytest.approx(np.sqrt((99**2 + 2) / 5))
    assert np.isnan(out["pixel_rms_truth"][3]) and out["pixel_rms_truth"][0] == pytest.approx(
        np.sqrt(0.5))
    live = spectrum_errors(decoded, flux, weight, np.full((2, 4), np.nan))
    assert live["n_truth"] == 0 and np.isnan(live["rms_truth"])
