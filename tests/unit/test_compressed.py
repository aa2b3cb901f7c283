"""Input compression is recognised by content, whatever the file is called."""
from __future__ import annotations

import gzip
from pathlib import Path

from annotator.engine.compressed import is_gzip, open_text


def test_content_decides_not_the_name(tmp_path: Path) -> None:
    text = "##gff-version 3\nchr1\t.\tgene\t1\t10\t.\t+\t.\tID=g\n"
    named_gz = tmp_path / "plain.gff3.gz"
    named_gz.write_text(text)
    named_plain = tmp_path / "packed.gff3"
    named_plain.write_bytes(gzip.compress(text.encode()))
    assert not is_gzip(named_gz) and is_gzip(named_plain)
    for path in (named_gz, named_plain):
        with open_text(path) as f:
            assert f.read() == text
    (tmp_path / "empty").write_bytes(b"")
    assert not is_gzip(tmp_path / "empty")
