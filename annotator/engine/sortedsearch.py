"""`np.searchsorted` over only the part of the sorted keys that the queries can land in.

The engine's lookups (exons and introns by `transcript * 2**32 + position`, dbSNP sites by
`contig * 2**32 + position`) search arrays of about a million keys with the queries of one
chunk, and a chunk's queries are neighbours: a sorted VCF's 20k records touch a few hundred
transcripts. Two searches for the queries' smallest and largest value bound the slice; the
real search then runs in a slice that stays in cache (exon ranges of 1M variants: 0.107 ->
0.055 s, 2026-11-28). For unsorted input the slice is at worst the whole array.
"""
from __future__ import annotations

from typing import Literal

import numpy as np


def searchsorted(keys: np.ndarray, values: np.ndarray, side: Literal["left", "right"] = "left") -> np.ndarray:
    """Exactly `np.searchsorted(keys, values, side)` (int64) for ascending `keys`."""
    values = np.asarray(values)
    if len(values) == 0 or len(keys) == 0:
        return np.searchsorted(keys, values, side).astype(np.int64, copy=False)
    lo = int(np.searchsorted(keys, values.min(), "left"))
    hi = int(np.searchsorted(keys, values.max(), "right"))
    return np.searchsorted(keys[lo:hi], values, side).astype(np.int64, copy=False) + lo
