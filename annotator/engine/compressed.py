"""Recognising gzip input (BGZF included) by its first bytes, never by its name: analysts upload
`x.vcf` files that are gzip and `x.vcf.gz` files that are not."""
from __future__ import annotations

import gzip
from pathlib import Path
from typing import IO

GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == GZIP_MAGIC


def open_text(path: Path) -> IO[str]:
    """`path` as text, decompressed when it is gzip."""
    return gzip.open(path, "rt") if is_gzip(path) else open(path)
