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

    ``threads`` (the job's) below the machine's cores bounds the backend's pools
    (TensorFlow's intra- and inter-op pools, PyTorch's), so that Keras jobs side by side
    each keep to their claim: two one-thread GalEffNet trainings on two cores ran 1.7
    steps/s together, one two-thread training 1.4 (docs/calibration.md).
    """
    bounded = bool(threads) and int(threads) < (os.cpu_count() or 1)
    quiet = native_stderr_filter(CPU_ONLY_NOISE) if not has_nvidia_gpu() else None
    with quiet or contextlib.nullcontext():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            if bounded:  # before the runtime starts (listing devices starts it)
                tf.config.threading.set_intra_op_parallelism_threads(int(threads))
                tf.config.threading.set_inter_op_parallelism_threads(int(threads))
            tf.config.list_physical_devices()
        elif keras.backend.backend() == "torch" and bounded:
            import torch

            torch.set_num_threads(int(threads))
