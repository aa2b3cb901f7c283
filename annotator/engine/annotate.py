"""`annotate()`: one VCF in, five outputs out, streamed chunk by chunk in constant memory.

Outputs are written into a hidden staging folder and moved into place only when the whole
run succeeded, so a failed run never leaves partial files that look complete.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from annotator.engine import csq, so
from annotator.engine.bgzf import BgzfWriter
from annotator.engine.bundle import load_bundle, lookup_rsids, resolve_bundle
from annotator.engine.consequence import annotate_chunk
from annotator.engine.errors import AnnotationError
from annotator.engine.fasta import Reference
from annotator.engine.model import Bundle
from annotator.engine.overlap import TranscriptIndex
from annotator.engine.pairs import Pairs
from annotator.engine.runlog import RunLog
from annotator.engine.summary import Summary
from annotator.engine.tables import (PARQUET_OPTIONS, TRANSCRIPT_SCHEMA, VARIANT_SCHEMA, BundleColumns, ChunkColumns,
                                      transcript_table, variant_table)
from annotator.engine.vcf import open_vcf

Progress = Callable[[float], None]
_SUFFIXES = (".vcf.gz", ".vcf.bgz", ".vcf", ".gz", ".bgz")
_NEARBY = so.BIT["upstream_gene_variant"] | so.BIT["downstream_gene_variant"] | so.BIT["intergenic_variant"]
_GENIC = np.uint64(((1 << len(so.NAMES)) - 1) & ~_NEARBY)   # a gene counts as hit when the allele is inside it


@dataclass(frozen=True)
class AnnotationResult:
    vcf: Path
    parquet: Path
    transcripts: Path
    summary: Path
    log: Path
    stats: dict

    def paths(self) -> list[Path]:
        return [self.vcf, self.parquet, self.transcripts, self.summary, self.log]


def output_name(input_path: Path) -> str:
    """NAME for input NAME.vcf[.gz]."""
    name = input_path.name
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or "input"
    return name


def default_cache_dir() -> Path:
    return Path(os.environ.get("GAS_CACHE_DIR") or Path.home() / ".cache" / "gas")


@lru_cache(maxsize=4)
def _load(bundle_path: str) -> tuple[Bundle, TranscriptIndex, BundleColumns, dict]:
    """Bundles are loaded once per process: the worker annotates many jobs with the same one."""
    bundle = load_bundle(Path(bundle_path))
    meta = json.loads((Path(bundle_path) / "meta.json").read_text())
    return bundle, TranscriptIndex(bundle), BundleColumns(bundle), meta


def _order_pairs(pairs: Pairs) -> Pairs:
    """Rows grouped by allele (hence by record), transcripts in bundle order within an allele."""
    order = np.lexsort((pairs.tx, pairs.allele))
    return Pairs(**{k: v[order] for k, v in vars(pairs).items()})


def annotate(input_path: Path, outdir: Path, genome: str = "GRCh38", fasta: Path | None = None,
             cache_dir: Path | None = None, chunk_size: int = 20_000,
             progress: Progress | None = None) -> AnnotationResult:
    """Annotate `input_path` into `outdir`; raises AnnotationError (one-line message) on bad input."""
    t0 = time.perf_counter()
    input_path, outdir = Path(input_path), Path(outdir)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    name = output_name(input_path)
    outdir.mkdir(parents=True, exist_ok=True)
    stage = Path(outdir / f".{name}.partial-{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    final = {k: outdir / f"{name}{ext}" for k, ext in
             (("vcf", ".annot.vcf.gz"), ("parquet", ".parquet"), ("transcripts", ".transcripts.parquet"),
              ("summary", ".summary.json"), ("log", ".log"))}
    log = RunLog(stage / final["log"].name)
    try:
        log.line(f"input {input_path} ({input_path.stat().st_size if input_path.exists() else 0:,} bytes)")
        bundle_path = resolve_bundle(genome, cache_dir)
        bundle, index, bcols, meta = _load(str(bundle_path))
        fasta = fasta or (Path(meta["fasta"]) if meta.get("fasta") else None)
        reference = Reference.open(fasta) if fasta else None
        log.line(f"bundle {bundle.name} ({bundle.source}; {bundle.n_transcripts:,} transcripts) from {bundle_path}")
        log.line(f"reference {fasta or 'none: codon-level consequences and HGVS p. are not computed'}")
        stats = _run(input_path, stage, final, bundle, index, bcols, reference, chunk_size, progress, log)
        runtime = time.perf_counter() - t0
        extra = {"input": input_path.name, "bundle": bundle.name, "genome": bundle.genome,
                 "fasta": str(fasta) if fasta else None}
        summary = stats.to_dict(runtime, extra)
        (stage / final["summary"].name).write_text(json.dumps(summary, indent=2) + "\n")
        log.line(f"done: {summary['records']:,} records, {summary['alleles']:,} alleles, "
                 f"{summary['transcript_rows']:,} transcript rows in {runtime:.2f} s")
        if summary["contigs_skipped"]:
            log.line(f"contigs not in the bundle (records skipped): {summary['contigs_skipped']}")
        log.close()
        for key, path in final.items():
            os.replace(stage / path.name, path)
        stage.rmdir()
        if progress:
            progress(1.0)
        return AnnotationResult(**final, stats=summary)
    except AnnotationError as exc:
        log.line(f"FAILED: {exc}")
        log.close()
        for path in final.values():  # nothing from an earlier run may pass for this run's result
            path.unlink(missing_ok=True)
        os.replace(stage / final["log"].name, final["log"])
        shutil.rmtree(stage, ignore_errors=True)
        raise
    except BaseException:
        log.close()
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _run(input_path: Path, stage: Path, final: dict[str, Path], bundle: Bundle, index: TranscriptIndex,
         bcols: BundleColumns, reference: Reference | None, chunk_size: int, progress: Progress | None,
         log: RunLog) -> Summary:
    """Three stages overlap on two cores: reading ahead, annotating (this thread), and writing.

    The writer compresses and encodes with the GIL released (zlib, Arrow), so it runs
    beside the annotation of the next chunk; queues of depth 1-2 keep memory bounded.
    """
    stats = Summary()
    with open_vcf(input_path, chunk_size=chunk_size) as reader, \
            BgzfWriter(stage / final["vcf"].name) as vcf_out, \
            pq.ParquetWriter(stage / final["parquet"].name, VARIANT_SCHEMA, **PARQUET_OPTIONS) as vwriter, \
            pq.ParquetWriter(stage / final["transcripts"].name, TRANSCRIPT_SCHEMA, **PARQUET_OPTIONS) as twriter, \
            ThreadPoolExecutor(1, thread_name_prefix="read") as read_ahead, \
            ThreadPoolExecutor(1, thread_name_prefix="write") as writer:
        log.line(f"format {reader.fileformat}, {len(reader.samples)} samples")
        has_csq = any(h.startswith("##INFO=<ID=CSQ,") for h in reader.header_lines)
        header = [h for h in reader.header_lines if not h.startswith("##INFO=<ID=CSQ,")]
        header += [csq.header_line(bundle.name), reader.column_header]
        vcf_out.write(("\n".join(header) + "\n").encode())

        def write(ttable: pa.Table, vtable: pa.Table, text: bytes) -> None:
            twriter.write_table(ttable)
            vwriter.write_table(vtable)
            vcf_out.write(text)

        chunks = reader.chunks()
        next_chunk = read_ahead.submit(next, chunks, None)
        written: deque[Future] = deque()
        while (chunk := next_chunk.result()) is not None:
            next_chunk = read_ahead.submit(next, chunks, None)
            codes, names = pd.factorize(pd.Series(chunk.chrom, dtype=object), sort=False)
            cids = np.array([bundle.contig_id(c) for c in names], dtype=np.int32)[codes]
            a_ref = np.asarray(chunk.ref, dtype=object)[chunk.a_rec]
            rsids = lookup_rsids(bundle, cids[chunk.a_rec], chunk.pos[chunk.a_rec], a_ref, chunk.a_alt)
            pairs = _order_pairs(annotate_chunk(bundle, index, chunk, reference))
            strand = np.where(pairs.tx >= 0, bundle.tx_strand[np.maximum(pairs.tx, 0)], 0).astype(np.int8)
            cols = ChunkColumns.of(chunk, rsids)
            ttable = transcript_table(bcols, chunk, cols, pairs, strand)
            vtable, masks, chosen_tx = variant_table(bundle, chunk, cols, pairs, ttable)
            escaped = {c: bcols.escaped_take(c, pairs.tx) for c in ("gene", "gene_id", "transcript", "biotype")}
            columns = csq.pair_columns(ttable, csq.vep_alleles(chunk), pairs.allele, strand, escaped,
                                       cols.ids, bcols.ids_clean)
            record_csq = csq.record_csq(chunk.n_records, chunk.a_rec[pairs.allele], columns)
            lines = csq.annotate_lines(chunk.lines, record_csq, drop_existing=has_csq, sites_only=not reader.samples)
            written.append(writer.submit(write, ttable, vtable, csq.text(lines)))
            while len(written) > 1:
                written.popleft().result()
            genes_hit = bundle.gene_name[chosen_tx[((masks & _GENIC) != 0) & (chosen_tx >= 0)]]
            stats.add(chunk, masks, genes_hit, pairs.mask, cids < 0, cols.rsids_filled)
            if progress and reader.total_bytes:
                progress(min(0.99, reader.bytes_read / reader.total_bytes))
        while written:
            written.popleft().result()
    if stats.records == 0:
        log.line("the file has a header but no variant records")
    return stats


def load_results(path: Path) -> pd.DataFrame:
    """A result parquet (NAME.parquet or NAME.transcripts.parquet) as a pandas DataFrame."""
    return pd.read_parquet(path)
