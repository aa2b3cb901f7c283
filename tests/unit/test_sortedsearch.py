"""The windowed search returns exactly what np.searchsorted does."""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from annotator.engine.sortedsearch import searchsorted

_INTS = st.integers(-50, 50)


@given(st.lists(_INTS, max_size=60), st.lists(_INTS, max_size=40), st.sampled_from(["left", "right"]))
def test_same_as_numpy(keys, values, side):
    k = np.sort(np.array(keys, np.int64))
    v = np.array(values, np.int64)
    got = searchsorted(k, v, side)
    assert got.dtype == np.int64
    assert got.tolist() == np.searchsorted(k, v, side).tolist()


def test_queries_outside_the_keys_and_duplicates():
    k = np.array([10, 20, 20, 20, 30], np.int64)
    v = np.array([20, 5, 35, 20, 25], np.int64)
    assert searchsorted(k, v, "left").tolist() == [1, 0, 5, 1, 4]
    assert searchsorted(k, v, "right").tolist() == [4, 0, 5, 4, 4]
