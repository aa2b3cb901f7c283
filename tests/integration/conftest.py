"""Fixtures shared by the integration tests."""
from __future__ import annotations

import pytest

from annotator.engine.bundle import build_from_gff3
from tests.integration.tinygenome import GFF3, tiny_sequence


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("tiny")
    fasta = d / "tiny.fa"
    seq = tiny_sequence()
    fasta.write_text(">1\n" + "\n".join(seq[i:i + 60] for i in range(0, len(seq), 60)) + "\n")
    gff3 = d / "tiny.gff3"
    gff3.write_text(GFF3)
    cache = d / "cache"
    bundle = build_from_gff3(gff3, "tiny", cache, fasta=fasta)
    return {"dir": d, "fasta": fasta, "bundle": bundle, "cache": cache, "seq": seq}


@pytest.fixture(scope="module")
def endpoint():
    """A moto server on 127.0.0.1 (never 0.0.0.0, its default) for one test module."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
