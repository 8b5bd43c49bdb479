"""Start the Keras backend once per job, without TensorFlow's CPU-only CUDA noise.

Kept apart from :mod:`galstar.logs` so that every other job (and its conda env) never
imports Keras; import this module before anything that imports Keras.
"""

from __future__ import annotations

import contextlib

from galstar.logs import CPU_ONLY_NOISE, has_nvidia_gpu, native_stderr_filter

__all__ = ["start_backend"]


def start_backend(threads: int | None = None) -> None:
    """Import Keras and its backend and list the devices once, so that TensorFlow's CUDA
    probe happens here: on a machine without an NVIDIA GPU its messages
    (:data:`CPU_ONLY_NOISE`) are dropped, everything else it prints is kept.

    ``threads`` (the job's Snakemake threads) bounds PyTorch's pool. TensorFlow's
    intra-op pool is left at the machine's width: two one-thread EfficientNet trainings
    on two cores ran 40 s epochs with one intra-op thread each against 30 s with two.
    """
    quiet = native_stderr_filter(CPU_ONLY_NOISE) if not has_nvidia_gpu() else None
    with quiet or contextlib.nullcontext():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()
        elif keras.backend.backend() == "torch" and threads:
            import torch

            torch.set_num_threads(int(threads))
