"""Codes of values among their distinct values, by hashing (several times faster than
np.unique's sort for the few distinct masks, transcripts or names of a chunk)."""
from __future__ import annotations

import numpy as np
import pandas as pd


def factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int32 codes into the distinct values (in order of first appearance), and those values."""
    codes, uniques = pd.factorize(values, sort=False)
    return codes.astype(np.int32), np.asarray(uniques)
