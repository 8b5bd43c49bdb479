"""Training throughput: the real input pipeline against the same batches held in memory.

Trains GalEffNet on the preprocessed shards (``results/galaxies/preprocess`` when present,
otherwise small synthetic shards in the same format) twice with identical settings:
once fed by :func:`galstar.training.data.make_dataset` (memory-mapped shards, global
shuffle, tf.data parallel map / PyDataset), once from the very same images already in
RAM (numpy arrays sliced by ``tf.data``); both iterated once per fit, as training does
(:func:`galstar.training.data.repeat_for_fit`). The first epoch of each (graph tracing)
is not timed. Writes
``results/benchmarks/train.json``: images/s of both, their ratio (target >= 0.97: the
pipeline must never be the bottleneck; ``ratio_by_round`` its spread over the rounds),
the device and whether mixed precision was on.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import keras
import numpy as np

from galstar import paths
from galstar.io import atomic_path
from galstar.models.galeffnet import build_galeffnet
from galstar.training.data import input_scale, make_dataset, repeat_for_fit
from galstar.training.device import describe_device, precision_policy
from galstar.training.scaler import fit_scaler
from galstar.training.shards import load_shard_split

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from synthetic import write_synthetic_shards  # noqa: E402 (test helper: synthetic shards)

TARGETS = ("lgm_fib_p50", "specsfr_fib_p50")


class EpochClock(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._t)


def epoch_seconds(model, data, epochs: int, batch_size: int | None) -> list[float]:
    """Train ``epochs`` epochs; wall seconds of each but the first (iterator start-up).

    The pipeline is fed as training feeds it (:func:`repeat_for_fit`: one iterator for
    the fit); the arrays as Keras takes arrays, except that they too are iterated once
    per fit (Keras' own per-epoch iterator stalled half the epochs of either side).
    """
    clock = EpochClock()
    if isinstance(data, tuple) and keras.backend.backend() != "tensorflow":
        model.fit(*data, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0,
                  callbacks=[clock])
        return clock.seconds[1:]
    if isinstance(data, tuple):
        import tensorflow as tf

        arrays = tf.data.Dataset.from_tensor_slices(data).batch(batch_size)
        data = arrays.prefetch(tf.data.AUTOTUNE)
    data, steps = repeat_for_fit(data)
    model.fit(data, steps_per_epoch=steps, epochs=epochs, shuffle=False, verbose=0,
              callbacks=[clock])
    return clock.seconds[1:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preprocess", default=paths.PREPROCESS,
                        help="Stage 3 directory (synthetic shards when it has no tables)")
    parser.add_argument("--variant", default="grz-64")
    parser.add_argument("--backbone", default="efficientnet_b0")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-images", type=int, default=640,
                        help="training images per epoch (multiple of the batch size)")
    parser.add_argument("--epochs", type=int, default=3,
                        help="epochs per round, including the untimed first")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved pipeline / in-memory rounds (load drift cancels)")
    parser.add_argument("--seed", type=int, default=3407)
    parser.add_argument("--out", default="results/benchmarks/train.json")
    args = parser.parse_args(argv)

    root = Path(args.preprocess)
    tables = sorted(root.glob("shard-*.parquet"))
    source = str(root)
    if not tables:
        tmp = tempfile.mkdtemp(prefix="bench_train_")
        res = int(args.variant.split("-")[1])
        written = write_synthetic_shards(tmp, n_objects=int(args.max_images * 1.8),
                                         n_shards=4, resolution=res, seed=args.seed)
        tables, root, source = written["tables"], Path(tmp), "synthetic"
    images = [root / args.variant / Path(t).with_suffix(".npy").name for t in tables]
    split = load_shard_split(tables, {"image": images}, "train", TARGETS)
    n = min(len(split), args.max_images) // args.batch_size * args.batch_size
    if n == 0:
        raise SystemExit(f"fewer than one batch of training images in {source}")
    keep = np.sort(np.random.default_rng(args.seed).choice(len(split), n, replace=False))
    split = split.subset(keep)
    scaled = fit_scaler("minmax", split.labels, TARGETS).transform(split.labels)

    device = describe_device()
    policy = precision_policy("auto", device["device"] == "gpu")
    keras.mixed_precision.set_global_policy(policy)

    def model():
        keras.utils.set_random_seed(args.seed)
        net = build_galeffnet(args.backbone, input_shape=split.input_shapes["image"],
                              input_scale=input_scale(split.inputs["image"], seed=args.seed))
        net.compile(optimizer=keras.optimizers.Adam(3e-4), loss="mae")
        return net

    # Both models are traced once, then timed in alternating rounds so that a change in
    # machine load hits both sides alike; the ratio is of the medians.
    dataset = make_dataset(split, scaled, args.batch_size, shuffle=True, seed=args.seed)
    in_memory = (split.gather(np.arange(n)), scaled)  # {"image": array}, labels
    runs = {"pipeline": (model(), dataset), "in_memory": (model(), in_memory)}
    seconds: dict[str, list[float]] = {k: [] for k in runs}
    by_round: list[float] = []
    for _ in range(args.rounds):
        this_round = {}
        for kind, (net, data) in runs.items():
            timed = epoch_seconds(net, data, args.epochs, args.batch_size)
            seconds[kind] += timed
            this_round[kind] = float(np.median(timed))
        by_round.append(this_round["in_memory"] / this_round["pipeline"])
    pipeline, memory = (n / float(np.median(seconds[k])) for k in ("pipeline", "in_memory"))
    per_epoch = {k: [round(n / s, 1) for s in v] for k, v in seconds.items()}

    result = {
        "source": source, "variant": args.variant, "backbone": args.backbone,
        "batch_size": args.batch_size, "images_per_epoch": n,
        "timed_epochs": len(seconds["pipeline"]), "rounds": args.rounds,
        "pipeline_images_per_s": round(pipeline, 2), "in_memory_images_per_s": round(memory, 2),
        "ratio": round(pipeline / memory, 4), "target_ratio": 0.97,
        "ratio_by_round": [round(r, 4) for r in by_round],
        "images_per_s_by_epoch": per_epoch,
        "backend": device["backend"], "device": device["device"], "device_name": device["name"],
        "mixed_precision": policy != "float32", "precision_policy": policy,
        "cpu_count": device["cpu_count"],
    }
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
