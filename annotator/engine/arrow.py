"""Arrow arrays and scalars built from numpy buffers and Python strings directly.

Why not `pa.array(...)` / `pa.scalar(...)`: both consult pyarrow's pandas shim, which imports
pandas on first use (~0.2-0.3 s, more than a small job's whole annotation) and then checks every
argument for pandas types. A plain string given to a compute function goes through `pa.scalar`
too. The engine therefore builds its arrays here and passes compute functions the scalars
below; `tests/integration/test_no_pandas.py` checks that an annotation run never imports pandas.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa

_INT_TYPES = {np.dtype(t): pa.from_numpy_dtype(t) for t in
              (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)}
_NUMPY_INTS = {arrow: numpy for numpy, arrow in _INT_TYPES.items()}


def ints(values: np.ndarray, dtype: type | None = None, valid: np.ndarray | None = None) -> pa.Array:
    """An Arrow integer array of `values`, optionally cast to numpy `dtype` first; null where
    `valid` (if given) is False."""
    values = np.ascontiguousarray(values, dtype)
    bitmap = None if valid is None else pa.py_buffer(np.packbits(np.asarray(valid, bool), bitorder="little"))
    return pa.Array.from_buffers(_INT_TYPES[values.dtype], len(values), [bitmap, pa.py_buffer(values)])


def bools(values: np.ndarray) -> pa.Array:
    """An Arrow boolean array of `values` (no nulls)."""
    values = np.asarray(values, bool)
    bits = np.packbits(values, bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])


def numbers(values: np.ndarray) -> pa.Array:
    """Integers as decimal strings."""
    return ints(values).cast(pa.string())


def int_values(array: pa.Array) -> np.ndarray:
    """An Arrow integer array without nulls as numpy (a view; `to_numpy` consults the shim)."""
    dtype = _NUMPY_INTS[array.type]
    return np.frombuffer(array.buffers()[1], dtype, len(array), array.offset * dtype.itemsize)


def offsets(array: pa.Array) -> np.ndarray:
    """The int32 offsets of a string array's values into its data buffer (len + 1; a view)."""
    return np.frombuffer(array.buffers()[1], np.int32, len(array) + 1, array.offset * 4)


def bool_values(array: pa.Array) -> np.ndarray:
    """An Arrow boolean array without nulls as numpy."""
    bits = np.frombuffer(array.buffers()[1], np.uint8)
    return np.unpackbits(bits, count=array.offset + len(array), bitorder="little")[array.offset:].astype(bool)


def strings(values: list[str]) -> pa.Array:
    """The strings as an Arrow string array."""
    n = len(values)
    data = "".join(values).encode("utf-8")
    ends = np.fromiter(map(len, values), np.int64, n)
    if ends.sum() != len(data):     # not all ASCII: lengths in bytes
        ends = np.fromiter((len(v.encode("utf-8")) for v in values), np.int64, n)
    return from_lengths(data, ends)


def fields(values: list[str]) -> pa.Array:
    """`strings` of short values that hold no tab (VCF fields): their lengths come from the tab
    positions of one tab-joined string, not from a len() call per value."""
    joined = "\t".join(values).encode("utf-8")
    lengths = field_lengths(joined, len(values))
    if len(lengths) != len(values):     # a value with a tab after all
        return strings(values)
    return from_lengths(joined.replace(b"\t", b""), lengths)


def field_lengths(joined: bytes, n: int) -> np.ndarray:
    """Byte lengths of the tab-separated fields of `joined` (`n` strings joined with tabs; a
    string holding a tab itself shows as more than `n` fields)."""
    if n == 0:
        return np.zeros(0, np.int64)
    tabs = np.flatnonzero(np.frombuffer(joined, np.uint8) == 9)
    return np.diff(np.concatenate(([-1], tabs, [len(joined)]))) - 1


def from_lengths(data: bytes, lengths: np.ndarray) -> pa.Array:
    """A string array of the consecutive pieces of `data` (valid UTF-8) with these byte lengths.
    Chunks are capped at a few MB of text (vcf.CHUNK_BYTES), so 32-bit offsets always suffice."""
    if len(data) >= 1 << 31:
        raise ValueError(f"{len(data)} bytes of strings in one array: more than 32-bit offsets hold")
    bounds = np.zeros(len(lengths) + 1, np.int32)
    np.cumsum(lengths, out=bounds[1:])
    return pa.Array.from_buffers(pa.string(), len(lengths), [None, pa.py_buffer(bounds), pa.py_buffer(data)])


def scalar(value: str) -> pa.StringScalar:
    """A string scalar for compute functions (a plain str would go through `pa.scalar`)."""
    return strings([value])[0]


class StringColumn(Sequence[str]):
    """Read-only strings over an Arrow string array, standing in for a chunk's list of str once
    prep.prepare ran. Why: the reader process pickles chunks to the main thread, and 20k str
    objects per list cost ~1.5 ms a chunk to pickle and unpickle, while the main thread reads a
    few of them (dbSNP hits); an Arrow array crosses as its buffers."""

    __slots__ = ("array",)

    def __init__(self, array: pa.Array) -> None:
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, i: int) -> str:      # type: ignore[override] - no slices
        return self.array[i].as_py()

    def __iter__(self) -> Iterator[str]:
        return iter(self.array.to_pylist())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"StringColumn({self.array.to_pylist()!r})"


def take_strings(values: Sequence[str], idx: np.ndarray) -> list[str]:
    """values[i] for i in idx, in bulk when `values` is a StringColumn."""
    if isinstance(values, StringColumn):
        return values.array.take(ints(idx)).to_pylist()
    return [values[i] for i in np.asarray(idx).tolist()]


def repeated(value: str, n: int) -> pa.Array:
    """`value` n times, from buffers."""
    data = value.encode("utf-8")
    bounds = np.arange(n + 1, dtype=np.int32) * len(data)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(bounds), pa.py_buffer(data * n)])


EMPTY = scalar("")
FALSE = bools(np.zeros(1, bool))[0]
