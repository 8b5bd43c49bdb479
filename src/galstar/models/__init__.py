"""Keras 3 model builders, one module per architecture (imported lazily: keras is heavy)."""
