"""Training: experiments from config, label scaling, shard datasets, the fit loop.

Submodules are imported explicitly (``galstar.training.fit`` pulls in keras, which the
Snakefile must not pay for when it only expands the experiment list).
"""
