"""Logging set-up shared by the workflow scripts."""

from __future__ import annotations

import logging
import os

__all__ = ["log_to_file"]

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def log_to_file(path: str | os.PathLike, level: int = logging.INFO) -> None:
    """Send every logger's records to the rule's ``log:`` file (one per job)."""
    logging.basicConfig(filename=os.fspath(path), level=level, format=LOG_FORMAT)
