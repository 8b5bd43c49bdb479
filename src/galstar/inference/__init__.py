"""Inference on a user's own targets with a packaged model (docs/contracts.md, Inference).

Sits above the methods (like :mod:`galstar.methods.run`): it may import the stage
packages and :mod:`galstar.methods`; neither ever imports it. One concept per module:
``targets`` (reading and validating the list), ``preprocessing`` (the record and its
comparison), ``model_dir`` / ``model_card`` / ``package`` (the portable model
directory), ``galaxies`` / ``spectra`` (preparing each kind of target; data env, no
Keras), ``inputs`` (the prepared targets as model inputs), ``predict`` (model and
calibration), ``table`` (the output table), ``run`` (a run end to end) and ``cli``
(``galstar predict``).
"""
