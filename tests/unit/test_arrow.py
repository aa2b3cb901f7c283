"""arrow.py: arrays read and built from buffers (no pyarrow pandas shim)."""
import numpy as np
import pyarrow as pa

from annotator.engine import arrow


def test_int_values_and_offsets_honour_a_slices_offset():
    ints = arrow.ints(np.array([5, 6, 7, 8], np.int64)).slice(1, 2)
    assert arrow.int_values(ints).tolist() == [6, 7]
    small = arrow.ints(np.array([1, 2, 3], np.int32)).slice(2)
    assert arrow.int_values(small).tolist() == [3]
    strings = arrow.strings(["a", "bc", "", "def"]).slice(1, 3)
    assert arrow.offsets(strings).tolist() == [1, 3, 3, 6]
    assert strings.to_pylist() == ["bc", "", "def"]


def test_bools_round_trip_through_a_slice():
    values = np.array([True, False, True, True, False, False, True, False, True])
    assert arrow.bool_values(arrow.bools(values).slice(3)).tolist() == values[3:].tolist()
    assert arrow.bools(values).equals(pa.array(values))


def test_repeated_and_blank():
    from annotator.engine.pairs import blank
    assert arrow.repeated("\n", 3).to_pylist() == ["\n"] * 3
    assert arrow.repeated("ab", 0).to_pylist() == []
    col = blank(4)
    col.validate(full=True)
    assert col.to_pylist() == [""] * 4
