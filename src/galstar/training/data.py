"""Input pipeline over the preprocessed shards (docs/contracts.md, Stage 3).

Images stay memory-mapped; a batch is gathered by fancy indexing each shard's
``.npy`` (rows sorted per shard so reads are sequential). The order is a global
permutation of all rows of a split, so batches mix shards. With the TensorFlow
backend the gather runs inside ``tf.data`` (parallel map, prefetch); with any other
backend a ``keras.utils.PyDataset`` with worker threads does the same job.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from galstar.io import load_npy, read_parquet

__all__ = ["ShardSplit", "load_split", "pixel_scale", "d4_transform", "d4_augment",
           "BatchLoader", "make_dataset", "iter_batches"]

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


@dataclass
class ShardSplit:
    """The kept objects of one split across all shards.

    Attributes
    ----------
    images : list of numpy.ndarray
        One memory-mapped (n_kept, h, w, c) array per shard.
    shard, row : numpy.ndarray
        For object i: which array and which row of it.
    labels : numpy.ndarray
        (n, n_targets) physical labels (float64).
    table : pandas.DataFrame
        The objects' rows of the shard tables, in the same order.
    targets : tuple of str
        Label column names.
    """

    images: list[np.ndarray]
    shard: np.ndarray
    row: np.ndarray
    labels: np.ndarray
    table: pd.DataFrame
    targets: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.row)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.images[0].shape[1:])

    def subset(self, index: np.ndarray) -> ShardSplit:
        """The objects ``index`` (same memory-mapped arrays, no copy of the images)."""
        index = np.asarray(index, dtype=np.int64)
        return ShardSplit(self.images, self.shard[index], self.row[index], self.labels[index],
                          self.table.iloc[index].reset_index(drop=True), self.targets)

    def gather(self, index: np.ndarray) -> np.ndarray:
        """Images of objects ``index`` as one float32 (b, h, w, c) array."""
        index = np.asarray(index, dtype=np.int64)
        out = np.empty((len(index), *self.image_shape), dtype=np.float32)
        shards = self.shard[index]
        for s in np.unique(shards):
            pos = np.flatnonzero(shards == s)
            rows = self.row[index[pos]]
            order = np.argsort(rows, kind="stable")
            out[pos[order]] = self.images[s][rows[order]]
        return out


def load_split(
    tables: Sequence[str | os.PathLike],
    images: Sequence[str | os.PathLike],
    split: str,
    targets: Sequence[str],
) -> ShardSplit:
    """Collect the kept objects of ``split`` from shard tables and their image tensors.

    Parameters
    ----------
    tables, images : sequences of paths
        ``results/preprocess/shard-XXX.parquet`` and the matching
        ``results/preprocess/<bands>-<res>/shard-XXX.npy``, in the same shard order.
    split : {'train', 'val', 'test'}
    targets : sequence of str
        Label columns.

    Raises
    ------
    ValueError
        Mismatched shard lists, a tensor whose length differs from the table's kept
        count, bad row indices, missing columns or non-finite labels (naming the file).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got '{split}'")
    if len(tables) != len(images) or not tables:
        raise ValueError(f"need one image tensor per shard table: {len(tables)} tables, "
                         f"{len(images)} tensors")
    arrays, shard_ids, rows, frames = [], [], [], []
    for s, (tpath, ipath) in enumerate(zip(tables, images, strict=True)):
        table = read_parquet(tpath)
        missing = [c for c in ("object_id", "split", "kept", "row", *targets)
                   if c not in table.columns]
        if missing:
            raise ValueError(f"{tpath}: missing columns {missing}")
        array = load_npy(ipath)
        kept = table["kept"].to_numpy(dtype=bool)
        if array.ndim != 4 or array.shape[0] != kept.sum():
            raise ValueError(f"{ipath}: shape {array.shape} does not hold the {kept.sum()} "
                             f"kept objects of {tpath}")
        if arrays and array.shape[1:] != arrays[0].shape[1:]:
            raise ValueError(f"{ipath}: image shape {array.shape[1:]} differs from "
                             f"{arrays[0].shape[1:]} in the other shards")
        sel = table[kept & (table["split"] == split).to_numpy()]
        row = sel["row"].to_numpy(dtype=np.int64)
        if np.any((row < 0) | (row >= array.shape[0])):
            raise ValueError(f"{tpath}: kept rows index outside {ipath} (0..{array.shape[0]})")
        arrays.append(array)
        shard_ids.append(np.full(len(sel), s, dtype=np.int32))
        rows.append(row)
        frames.append(sel)
    table = pd.concat(frames, ignore_index=True)
    labels = table[list(targets)].to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(labels)):
        raise ValueError(f"non-finite {list(targets)} among kept '{split}' objects of "
                         f"{[str(t) for t in tables]}")
    return ShardSplit(arrays, np.concatenate(shard_ids), np.concatenate(rows), labels,
                      table, tuple(targets))


def pixel_scale(split: ShardSplit, n_sample: int = 2048, quantile: float = 99.5,
                seed: int = 0) -> list[float]:
    """Per-channel factor that maps the split's bright pixels onto ~255.

    The backbones expect 0-255 inputs; the preprocessed images are in survey units
    (nanomaggies or normalised), so the model's first layer multiplies by this factor.
    """
    rng = np.random.default_rng(seed)
    index = rng.choice(len(split), size=min(n_sample, len(split)), replace=False)
    sample = split.gather(np.sort(index))
    q = np.percentile(np.abs(sample), quantile, axis=(0, 1, 2))
    q = np.where(q > 0, q, 1.0)
    return [float(v) for v in 255.0 / q]


def d4_transform(images: np.ndarray, op: int) -> np.ndarray:
    """Element ``op`` (0-7) of the dihedral group D4 applied to (n, h, w, c) images:
    ``op % 4`` quarter turns, then a left-right flip for ``op >= 4``. 0 is the identity."""
    if not 0 <= op < 8:
        raise ValueError(f"D4 has 8 elements (0-7), got {op}")
    x = np.rot90(images, k=op % 4, axes=(1, 2))
    return x[:, :, ::-1] if op >= 4 else x


def d4_augment(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Apply a random element of the dihedral group D4 (4 rotations x flip) per image."""
    ops = rng.integers(0, 8, size=len(images))
    out = np.empty_like(images)
    for op in range(8):
        sel = ops == op
        if sel.any():
            out[sel] = d4_transform(images[sel], op)
    return out


class BatchLoader:
    """Callable: object indices -> (images, scaled labels), with optional D4 augmentation."""

    def __init__(self, split: ShardSplit, scaled_labels: np.ndarray, augment: bool, seed: int):
        self.split, self.labels = split, np.asarray(scaled_labels, dtype=np.float32)
        self.augment, self.seed = augment, seed

    def __call__(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        index = np.asarray(index, dtype=np.int64)
        x = self.split.gather(index)
        if self.augment:
            # Seeded by the batch content, so parallel workers stay reproducible.
            rng = np.random.default_rng([self.seed, len(index), int(index.sum()),
                                         int(index[0])])
            x = d4_augment(x, rng)
        return x, self.labels[index]


class ShardBatches(keras.utils.PyDataset):
    """Backend-neutral batches (threads, not processes: the arrays are memory-mapped)."""

    def __init__(self, loader: BatchLoader, batch_size: int, shuffle: bool, seed: int,
                 drop_remainder: bool, workers: int = 2):
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=8)
        self.loader, self.batch_size, self.shuffle = loader, batch_size, shuffle
        self.n, self.drop_remainder = len(loader.split), drop_remainder
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(self.n) if shuffle else np.arange(self.n)

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_remainder else -(-self.n // self.batch_size)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        return self.loader(self.order[i * self.batch_size:(i + 1) * self.batch_size])

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.order = self.rng.permutation(self.n)


def _tf_dataset(loader: BatchLoader, batch_size: int, shuffle: bool, seed: int,
                drop_remainder: bool):
    import tensorflow as tf  # only on the TensorFlow backend

    n = len(loader.split)
    h, w, c = loader.split.image_shape
    k = loader.labels.shape[1]
    ds = tf.data.Dataset.range(n)
    if shuffle:  # a full-size buffer of indices = a global permutation across shards
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    def load(index):
        x, y = tf.numpy_function(loader, [index], (tf.float32, tf.float32), stateful=False)
        x.set_shape((None, h, w, c))
        y.set_shape((None, k))
        return x, y

    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def make_dataset(split: ShardSplit, scaled_labels: np.ndarray, batch_size: int, *,
                 shuffle: bool, augment: bool = False, seed: int = 0,
                 backend: str | None = None):
    """Batches of (images, scaled labels) for ``model.fit``.

    Parameters
    ----------
    split : ShardSplit
    scaled_labels : numpy.ndarray
        (n, n_targets) labels already min-max scaled.
    batch_size : int
    shuffle : bool
        Reshuffle globally every epoch (training); drops the last partial batch so
        batch normalisation never sees a tiny batch.
    augment : bool
        Random D4 flips/rotations per image.
    seed : int
    backend : str, optional
        Override ``keras.backend.backend()`` ("tensorflow" -> tf.data, else PyDataset).
    """
    if len(split) == 0:
        raise ValueError("cannot build a dataset from an empty split")
    loader = BatchLoader(split, scaled_labels, augment, seed)
    drop = shuffle and len(split) > batch_size
    backend = backend or keras.backend.backend()
    if backend == "tensorflow":
        return _tf_dataset(loader, batch_size, shuffle, seed, drop)
    return ShardBatches(loader, batch_size, shuffle, seed, drop)


def iter_batches(split: ShardSplit, batch_size: int) -> Iterator[np.ndarray]:
    """Images in split order, ``batch_size`` at a time (for prediction)."""
    for start in range(0, len(split), batch_size):
        yield split.gather(np.arange(start, min(start + batch_size, len(split))))
