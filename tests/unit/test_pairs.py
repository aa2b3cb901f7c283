"""pairs.scatter: values at their rows, '' elsewhere, whichever path builds the column."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from annotator.engine.pairs import blank, scatter, scatter_objects


@given(st.integers(0, 40), st.data(), st.integers(0, 3), st.booleans())
def test_scatter_puts_each_value_at_its_row(n, data, skip, ascending):
    rows = np.array(sorted(data.draw(st.sets(st.integers(0, max(n - 1, 0)), max_size=n))), np.int64)
    if not ascending:
        rows = rows[::-1].copy()
    texts = data.draw(st.lists(st.text(max_size=5), min_size=len(rows) + skip, max_size=len(rows) + skip))
    values = pa.array(texts, pa.string()).slice(skip)        # an offset into shared buffers
    got = scatter(n, rows, values)
    want = [""] * n
    for r, v in zip(rows.tolist(), texts[skip:]):
        want[r] = v
    got.validate(full=True)
    assert got.to_pylist() == want


def test_scatter_with_a_fill():
    assert scatter(4, np.array([1, 2]), pa.array(["a", ""]), fill="||").to_pylist() == ["||", "a", "", "||"]


def test_scatter_of_all_empty_values_and_large_types():
    assert scatter(3, np.array([0, 2]), pa.array(["", ""])).to_pylist() == ["", "", ""]
    assert scatter(3, np.array([1]), pa.array(["x"], pa.large_string())).to_pylist() == ["", "x", ""]
    assert scatter_objects(4, np.array([0, 1, 3]), np.array(["a", "", "c"], dtype=object)).to_pylist() == \
        ["a", "", "", "c"]
    assert blank(2).to_pylist() == ["", ""]
