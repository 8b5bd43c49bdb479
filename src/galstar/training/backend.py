"""Start the Keras backend once per job, without TensorFlow's CPU-only CUDA noise.

Kept apart from :mod:`galstar.logs` so that every other job (and its conda env) never
imports Keras; import this module before anything that imports Keras.
"""

from __future__ import annotations

import contextlib
import os

from galstar.logs import CPU_ONLY_NOISE, has_nvidia_gpu, native_stderr_filter

__all__ = ["start_backend"]


def start_backend(threads: int | None = None) -> None:
    """Import Keras and its backend and list the devices once, so that TensorFlow's CUDA
    probe happens here: on a machine without an NVIDIA GPU its messages
    (:data:`CPU_ONLY_NOISE`) are dropped, everything else it prints is kept.

    ``threads`` (the job's) below the machine's cores bounds PyTorch's pool. TensorFlow
    keeps its default pools: an intra-op pool sized by the job did not make trainings
    side by side faster than one at a time with the default (docs/calibration.md).
    """
    quiet = native_stderr_filter(CPU_ONLY_NOISE) if not has_nvidia_gpu() else None
    with quiet or contextlib.nullcontext():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()
        elif keras.backend.backend() == "torch" and threads and \
                int(threads) < (os.cpu_count() or 1):
            import torch

            torch.set_num_threads(int(threads))
