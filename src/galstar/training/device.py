"""The device a run trains on, its numeric precision and determinism."""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import keras

__all__ = ["describe_device", "precision_policy", "precision_scope", "seed_everything"]

log = logging.getLogger(__name__)


def describe_device() -> dict[str, Any]:
    """Which accelerator Keras will use: backend, device kind and name."""
    try:
        devices = keras.distribution.list_devices()
    except (NotImplementedError, RuntimeError, ValueError):  # backends without the API
        devices = ["cpu:0"]
    gpus = [d for d in devices if d.lower().startswith(("gpu", "cuda"))]
    name = platform.processor() or platform.machine()
    if gpus and shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=20, check=True)
            name = out.stdout.strip().splitlines()[0]
        except (subprocess.SubprocessError, IndexError, OSError):
            name = gpus[0]
    return {"backend": keras.backend.backend(), "device": "gpu" if gpus else "cpu",
            "n_devices": len(gpus) or 1, "name": name, "cpu_count": os.cpu_count()}


def precision_policy(setting: str | bool, gpu: bool) -> str:
    """Resolve config ``mixed_precision`` (auto | float16 | bfloat16 | off) to a policy."""
    setting = str(setting).lower()
    if setting in ("off", "false", "none", "float32"):
        return "float32"
    if setting == "auto":
        return "mixed_float16" if gpu else "float32"
    if setting in ("float16", "mixed_float16", "true"):
        return "mixed_float16"
    if setting in ("bfloat16", "bf16", "mixed_bfloat16"):
        return "mixed_bfloat16"
    raise ValueError(f"config training.mixed_precision: unknown setting '{setting}'")


@contextlib.contextmanager
def precision_scope(policy: str) -> Iterator[None]:
    """Build and train under the Keras dtype policy ``policy``, restored afterwards."""
    previous = keras.config.dtype_policy().name
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python, NumPy and the backend; with ``deterministic``, also ask the backend
    for deterministic kernels (TensorFlow op determinism: bit-identical reruns on the
    same machine, at some speed cost on GPUs, where some kernels have no
    deterministic version and raise instead)."""
    keras.utils.set_random_seed(int(seed))
    if not deterministic:
        return
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(True, warn_only=True)
    # JAX on CPU is deterministic; on GPU XLA_FLAGS=--xla_gpu_deterministic_ops=true.
