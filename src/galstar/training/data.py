"""Named-input datasets for training and prediction (docs/contracts.md, Training).

A :class:`Split` holds the objects of one split: any number of named inputs (images
(n, h, w, c), spectra or feature sequences (n, l, c), tabular vectors (n, k)), the
labels and, optionally, per-object sample weights. Inputs are :class:`Source` objects
that gather rows on demand, so image shards stay memory-mapped; a batch is a dict
keyed by the model's input names. With the TensorFlow backend the gather runs inside
``tf.data`` (parallel map, prefetch); with any other backend a
``keras.utils.PyDataset`` with worker threads does the same job.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["SPLITS", "Source", "ShardSource", "ArraySource", "Split", "input_scale",
           "d4_transform", "d4_augment", "is_image", "BatchLoader", "make_dataset",
           "repeat_for_fit", "iter_batches", "check_columns", "finite_labels"]

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


class Source:
    """Rows of one named input, gathered on demand (base class)."""

    def __len__(self) -> int:
        raise NotImplementedError

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one object's input (without the batch axis)."""
        raise NotImplementedError

    def gather(self, index: np.ndarray) -> np.ndarray:
        """Rows ``index`` as one float32 (b, *sample_shape) array."""
        raise NotImplementedError

    def subset(self, index: np.ndarray) -> Source:
        """The rows ``index`` as a new source (no copy of memory-mapped data)."""
        raise NotImplementedError


@dataclass
class ShardSource(Source):
    """One input stored as one memory-mapped array per shard.

    Attributes
    ----------
    arrays : list of numpy.ndarray
        One (n_kept, ...) array per shard.
    shard, row : numpy.ndarray
        For object i: which array and which row of it.
    """

    arrays: list[np.ndarray]
    shard: np.ndarray
    row: np.ndarray

    def __len__(self) -> int:
        return len(self.row)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.arrays[0].shape[1:])

    def gather(self, index: np.ndarray) -> np.ndarray:
        index = np.asarray(index, dtype=np.int64)
        out = np.empty((len(index), *self.sample_shape), dtype=np.float32)
        shards = self.shard[index]
        for s in np.unique(shards):
            pos = np.flatnonzero(shards == s)
            rows = self.row[index[pos]]
            order = np.argsort(rows, kind="stable")  # sequential reads of the memory map
            out[pos[order]] = self.arrays[s][rows[order]]
        return out

    def subset(self, index: np.ndarray) -> ShardSource:
        index = np.asarray(index, dtype=np.int64)
        return ShardSource(self.arrays, self.shard[index], self.row[index])


@dataclass
class ArraySource(Source):
    """One input held in memory as a single (n, ...) array."""

    array: np.ndarray

    def __post_init__(self) -> None:
        self.array = np.asarray(self.array, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.array)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.array.shape[1:])

    def gather(self, index: np.ndarray) -> np.ndarray:
        return self.array[np.asarray(index, dtype=np.int64)]

    def subset(self, index: np.ndarray) -> ArraySource:
        return ArraySource(self.array[np.asarray(index, dtype=np.int64)])


@dataclass
class Split:
    """The objects of one split: named inputs, labels, their table rows.

    Attributes
    ----------
    inputs : dict of str to Source
        Model input name -> its rows, all of the same length.
    labels : numpy.ndarray
        (n, n_targets) physical labels (float64).
    table : pandas.DataFrame
        The objects' catalogue rows, in the same order (carried into predictions).
    targets : tuple of str
        Label column names.
    sample_weight : numpy.ndarray, optional
        (n,) per-object loss weights (training only).
    """

    inputs: dict[str, Source]
    labels: np.ndarray
    table: pd.DataFrame
    targets: tuple[str, ...]
    sample_weight: np.ndarray | None = field(default=None)

    def __post_init__(self) -> None:
        n = len(self.labels)
        bad = {k: len(s) for k, s in self.inputs.items() if len(s) != n}
        if bad or len(self.table) != n:
            raise ValueError(f"split inputs {bad} / table ({len(self.table)} rows) do not "
                             f"match its {n} labels")
        if self.sample_weight is not None and len(self.sample_weight) != n:
            raise ValueError(f"{len(self.sample_weight)} sample weights for {n} objects")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def input_shapes(self) -> dict[str, tuple[int, ...]]:
        """Input name -> per-object shape."""
        return {k: s.sample_shape for k, s in self.inputs.items()}

    def subset(self, index: np.ndarray) -> Split:
        """The objects ``index`` (memory-mapped arrays are not copied)."""
        index = np.asarray(index, dtype=np.int64)
        weight = None if self.sample_weight is None else self.sample_weight[index]
        return Split({k: s.subset(index) for k, s in self.inputs.items()}, self.labels[index],
                     self.table.iloc[index].reset_index(drop=True), self.targets, weight)

    def gather(self, index: np.ndarray) -> dict[str, np.ndarray]:
        """Every input of objects ``index``, keyed by input name."""
        return {k: s.gather(index) for k, s in self.inputs.items()}


def input_scale(source: Source, n_sample: int = 2048, quantile: float = 99.5,
                seed: int = 0) -> list[float]:
    """Per-channel factor that maps an image input's bright pixels onto ~255.

    ImageNet-style backbones expect 0-255 inputs; the preprocessed images are in
    survey units (nanomaggies or normalised), so the model's first layer multiplies
    by this factor.
    """
    rng = np.random.default_rng(seed)
    index = rng.choice(len(source), size=min(n_sample, len(source)), replace=False)
    sample = source.gather(np.sort(index))
    q = np.percentile(np.abs(sample), quantile, axis=tuple(range(sample.ndim - 1)))
    q = np.where(q > 0, q, 1.0)
    return [float(v) for v in 255.0 / q]


def d4_transform(images: np.ndarray, op: int) -> np.ndarray:
    """Element ``op`` (0-7) of the dihedral group D4 applied to (n, h, w, c) images:
    ``op % 4`` quarter turns, then a left-right flip for ``op >= 4``. 0 is the identity."""
    if not 0 <= op < 8:
        raise ValueError(f"D4 has 8 elements (0-7), got {op}")
    x = np.rot90(images, k=op % 4, axes=(1, 2))
    return x[:, :, ::-1] if op >= 4 else x


def d4_augment(images: np.ndarray, rng: np.random.Generator,
               ops: np.ndarray | None = None) -> np.ndarray:
    """Apply a random element of D4 (4 rotations x flip) per image (or the given ``ops``)."""
    if ops is None:
        ops = rng.integers(0, 8, size=len(images))
    out = np.empty_like(images)
    for op in range(8):
        sel = ops == op
        if sel.any():
            out[sel] = d4_transform(images[sel], op)
    return out


def is_image(shape: Sequence[int]) -> bool:
    """Whether a per-object input shape is an image (h, w, c): D4 applies to it."""
    return len(shape) == 3


class BatchLoader:
    """Callable: object indices -> (inputs, scaled labels[, weights]).

    With ``augment``, every image input of an object gets the same random D4 element
    (so that two images of one galaxy stay aligned); other inputs are untouched.
    """

    def __init__(self, split: Split, scaled_labels: np.ndarray, augment: bool, seed: int):
        self.split, self.labels = split, np.asarray(scaled_labels, dtype=np.float32)
        self.augment, self.seed = augment, seed
        self.names = list(split.inputs)
        self.weights = (None if split.sample_weight is None
                        else np.asarray(split.sample_weight, dtype=np.float32))

    def __call__(self, index: np.ndarray) -> tuple[np.ndarray, ...]:
        index = np.asarray(index, dtype=np.int64)
        x = self.split.gather(index)
        if self.augment:
            # Seeded by the batch content, so parallel workers stay reproducible.
            rng = np.random.default_rng([self.seed, len(index), int(index.sum()),
                                         int(index[0])])
            ops = rng.integers(0, 8, size=len(index))
            x = {k: d4_augment(v, rng, ops) if v.ndim == 4 else v for k, v in x.items()}
        out = (*(x[k] for k in self.names), self.labels[index])
        return out if self.weights is None else (*out, self.weights[index])

    def pack(self, arrays: Sequence) -> tuple:
        """(inputs..., labels[, weights]) -> ``({name: input}, labels[, weights])``."""
        n = len(self.names)
        x = dict(zip(self.names, arrays[:n], strict=True))
        return (x, *arrays[n:])


def _tf_dataset(loader: BatchLoader, batch_size: int, shuffle: bool, seed: int,
                drop_remainder: bool):
    import tensorflow as tf  # only on the TensorFlow backend

    n = len(loader.split)
    shapes = [(None, *loader.split.inputs[k].sample_shape) for k in loader.names]
    shapes.append((None, loader.labels.shape[1]))
    if loader.weights is not None:
        shapes.append((None,))
    ds = tf.data.Dataset.range(n)
    if shuffle:  # a full-size buffer of indices = a global permutation across shards
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    def load(index):
        arrays = tf.numpy_function(loader, [index], [tf.float32] * len(shapes),
                                   stateful=False)
        for array, shape in zip(arrays, shapes, strict=True):
            array.set_shape(shape)
        return loader.pack(arrays)

    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    # As Keras does for arrays held in memory: no default graph rewrites. The pipeline is
    # already a parallel map and a prefetch; the rewrites (a serialisation and
    # optimisation of the dataset graph when an iterator is made, every epoch of fit())
    # take CPU from the model's steps on a CPU host and gain nothing here.
    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)


def make_dataset(split: Split, scaled_labels: np.ndarray, batch_size: int, *,
                 shuffle: bool, augment: bool = False, seed: int = 0,
                 backend: str | None = None, weighted: bool = True):
    """Batches of ``({input: array}, scaled labels[, sample weights])`` for ``model.fit``.

    Parameters
    ----------
    split : Split
    scaled_labels : numpy.ndarray
        (n, n_targets) labels already scaled.
    batch_size : int
    shuffle : bool
        Reshuffle globally every epoch (training); drops the last partial batch so
        batch normalisation never sees a tiny batch.
    augment : bool
        Random D4 flips/rotations of the image inputs.
    seed : int
    backend : str, optional
        Override ``keras.backend.backend()`` ("tensorflow" -> tf.data, else PyDataset).
    weighted : bool
        Yield the split's sample weights when it has them (False for validation
        metrics that must not be weighted).
    """
    if len(split) == 0:
        raise ValueError("cannot build a dataset from an empty split")
    if not weighted and split.sample_weight is not None:
        split = Split(split.inputs, split.labels, split.table, split.targets)
    loader = BatchLoader(split, scaled_labels, augment, seed)
    drop = shuffle and len(split) > batch_size
    if backend is None:
        import keras

        backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tf_dataset(loader, batch_size, shuffle, seed, drop)
    from galstar.training.pydataset import SplitBatches

    return SplitBatches(loader, batch_size, shuffle, seed, drop)


def repeat_for_fit(dataset) -> tuple[Any, int | None]:
    """``(dataset, steps)`` for ``model.fit(..., steps_per_epoch=steps)`` that keeps one
    input iterator for the whole fit.

    Keras makes a new iterator of a finite ``tf.data`` dataset every epoch of training;
    on the TensorFlow backend about half of those epochs then started
    after ~5 s with every core idle, halving the epoch's speed (docs/calibration.md,
    "One input iterator per fit"). Repeated, with the batches of one pass as the steps
    of an epoch, the dataset is iterated once: every epoch still sees each object once,
    reshuffled, since the batches are formed before the repeat. Datasets of unknown
    length and other backends' ``PyDataset`` are returned as they are (``steps`` None).
    """
    cardinality = getattr(dataset, "cardinality", None)
    if cardinality is None:
        return dataset, None
    steps = int(cardinality())
    if steps <= 0:  # infinite (-1) or unknown (-2): Keras counts or the caller bounds it
        return dataset, None
    return dataset.repeat(), steps


def iter_batches(split: Split, batch_size: int) -> Iterator[dict[str, np.ndarray]]:
    """Inputs in split order, ``batch_size`` objects at a time (prediction, batch norm)."""
    for start in range(0, len(split), batch_size):
        yield split.gather(np.arange(start, min(start + batch_size, len(split))))


def check_columns(table: pd.DataFrame, columns: Sequence[str], where: str) -> None:
    """A clear error naming ``where`` (a file or config key) for missing columns."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{where}: missing columns {missing}")


def finite_labels(table: pd.DataFrame, targets: Sequence[str], where: str) -> np.ndarray:
    """The (n, n_targets) labels of ``table``; non-finite labels are an error naming ``where``."""
    labels = table[list(targets)].to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(labels)):
        raise ValueError(f"non-finite {list(targets)} among kept objects of {where}")
    return labels
