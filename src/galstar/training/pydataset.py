"""The batches of a split as a ``keras.utils.PyDataset`` (backends other than TensorFlow).

Its own module because it subclasses a Keras class: :mod:`galstar.training.data` stays
importable without Keras, for the jobs that only read splits (packaging, evaluation).
"""

from __future__ import annotations

import keras
import numpy as np

from galstar.training.data import BatchLoader

__all__ = ["SplitBatches"]


class SplitBatches(keras.utils.PyDataset):
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

    def __getitem__(self, i: int) -> tuple:
        return self.loader.pack(
            self.loader(self.order[i * self.batch_size:(i + 1) * self.batch_size]))

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.order = self.rng.permutation(self.n)
