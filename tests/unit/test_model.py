"""CodedStrings: a loaded bundle's string column indexes as the object array it replaces."""
from __future__ import annotations

import numpy as np
import pytest

from annotator.engine.model import CodedStrings

ROWS = ["TP53", "BRCA1", "TP53", "", "BRCA1", "TP53"]


def _coded(rows: list[str]) -> CodedStrings:
    values, codes = np.unique(np.array(rows, dtype=str), return_inverse=True)
    return CodedStrings(values, codes.astype(np.int32))


@pytest.mark.parametrize("rows", [ROWS, ["ENST1", "ENST2", "ENST3"]], ids=["shared values", "distinct values"])
def test_indexing_gives_what_the_object_array_gives(rows: list[str]) -> None:
    coded, plain = _coded(rows), np.array(rows, dtype=object)
    assert len(coded) == len(plain)
    for i in range(len(rows)):
        assert coded[i] == plain[i] and type(coded[i]) is str
    idx = np.array([2, 0, 0, len(rows) - 1])
    mask = np.arange(len(rows)) % 2 == 0
    for key in (idx, mask, slice(1, None)):
        got = coded[key]
        assert got.dtype == object and got.tolist() == plain[key].tolist()
        assert all(type(x) is str for x in got)
    assert coded[np.zeros(0, np.int64)].tolist() == []
    assert list(coded) == rows and coded.tolist() == rows
    assert np.asarray(coded).tolist() == rows and np.append(coded, "").tolist() == rows + [""]
    for value in (rows[0], "", "absent"):
        assert ((coded == value) == (plain == value)).all() and ((coded != value) == (plain != value)).all()
    assert ((coded == plain) & ~(coded != plain)).all()


def test_shared_values_become_str_once() -> None:
    coded = _coded(ROWS * 10)
    first = coded[np.array([0])][0]
    assert coded[np.array([0])][0] is first        # the same str object: converted once, not per read


def test_empty_column() -> None:
    coded = CodedStrings(np.zeros(0, "U1"), np.zeros(0, np.int32))
    assert len(coded) == 0 and coded.tolist() == [] and coded[np.zeros(0, np.int64)].tolist() == []
