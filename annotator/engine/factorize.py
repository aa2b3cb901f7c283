"""Codes of values among their distinct values, by hashing (several times faster than
np.unique's sort for the few distinct masks, transcripts or names of a chunk). Arrow's
dictionary encoding does the hashing: it keeps the order of first appearance, and unlike
pandas.factorize it needs no pandas import (arrow.py says why that matters)."""
from __future__ import annotations

import numpy as np

from annotator.engine.arrow import int_values, ints, strings


def factorize(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int32 codes into the distinct values (in order of first appearance), and those values.
    `values`: integers, or an object array of str."""
    values = np.asarray(values)
    if values.dtype == object:
        encoded = strings(values.tolist()).dictionary_encode()
        uniques = np.array(encoded.dictionary.to_pylist(), dtype=object)
    else:
        encoded = ints(values).dictionary_encode()
        uniques = int_values(encoded.dictionary).copy()
    return int_values(encoded.indices).copy(), uniques
