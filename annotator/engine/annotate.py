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
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.parquet as pq

from annotator.engine import csq
from annotator.engine.bgzf import BgzfWriter, background_thread
from annotator.engine.bundle import resolve_bundle
from annotator.engine.chunk import (
    ChunkAnnotator,
    ChunkResult,
    load_model,
    reference_for,
)
from annotator.engine.errors import AnnotationError
from annotator.engine.parallel import OrderedPool, default_processes
from annotator.engine.readproc import CHUNK_SIZE, ParsedChunks, start_for
from annotator.engine.runlog import RunLog
from annotator.engine.summary import Summary
from annotator.engine.tables import PARQUET_OPTIONS, TRANSCRIPT_SCHEMA, VARIANT_SCHEMA
from annotator.engine.variants import VcfChunk
from annotator.engine.vcf import open_vcf

if TYPE_CHECKING:
    import pandas as pd

Progress = Callable[[float], None]
_SUFFIXES = (".vcf.gz", ".vcf.bgz", ".vcf", ".gz", ".bgz")
WRITE_AHEAD = 3   # chunks whose outputs may still be in the writers' hands (measured: 1 made the main thread wait)


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


def annotate(input_path: Path, outdir: Path, genome: str = "GRCh38", fasta: Path | None = None,
             cache_dir: Path | None = None, chunk_size: int = CHUNK_SIZE,
             progress: Progress | None = None, processes: int | None = None,
             parser: ParsedChunks | None = None) -> AnnotationResult:
    """Annotate `input_path` into `outdir`; raises AnnotationError (one-line message) on bad input.

    `processes`: worker processes for the chunks (None: as many as cores, up to 4, for inputs
    over 2 MB; 0: all in this process). `parser`: a reader process that `readproc.start_for`
    started for this input and chunk size, when the caller started it (the CLI does, before it
    imports the engine); annotate() closes it.
    """
    t0 = time.perf_counter()
    input_path, outdir = Path(input_path), Path(outdir)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    name = output_name(input_path)
    try:
        stage, final, log = _staging(outdir, name)
    except BaseException:
        if parser is not None:
            parser.close()
        raise
    try:
        log.line(f"input {input_path} ({input_path.stat().st_size if input_path.exists() else 0:,} bytes)")
        if parser is None:
            parser = start_for(input_path, chunk_size)     # starts now, while the model loads
        elif (parser.path, parser.chunk_size) != (input_path, chunk_size):
            raise ValueError(f"the reader process was started for {parser.path}, {parser.chunk_size:,} records a chunk")
        bundle_path = resolve_bundle(genome, cache_dir)
        model = load_model(str(bundle_path))
        bundle = model.bundle
        fasta = fasta or (Path(model.meta["fasta"]) if model.meta.get("fasta") else None)
        if fasta:
            reference_for(str(fasta))  # open (and index, if needed) once, before any worker starts
        log.line(f"bundle {bundle.name} ({bundle.source}; {bundle.n_transcripts:,} transcripts) from {bundle_path}")
        log.line(f"reference {fasta or 'none: codon-level consequences and HGVS p. are not computed'}")
        if processes is None:
            processes = default_processes(input_path.stat().st_size if input_path.exists() else 0)
        stats = _run(input_path, stage, final, str(bundle_path), fasta, chunk_size, processes, progress, log,
                     parser)
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
    finally:
        if parser is not None:
            parser.close()


def _staging(outdir: Path, name: str) -> tuple[Path, dict[str, Path], RunLog]:
    """The hidden staging folder, the final paths of the five outputs, and the run log."""
    outdir.mkdir(parents=True, exist_ok=True)
    stage = Path(outdir / f".{name}.partial-{os.getpid()}")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    final = {k: outdir / f"{name}{ext}" for k, ext in
             (("vcf", ".annot.vcf.gz"), ("parquet", ".parquet"), ("transcripts", ".transcripts.parquet"),
              ("summary", ".summary.json"), ("log", ".log"))}
    return stage, final, RunLog(stage / final["log"].name)


def _run(input_path: Path, stage: Path, final: dict[str, Path], bundle_path: str, fasta: Path | None,
         chunk_size: int, processes: int, progress: Progress | None, log: RunLog,
         parser: ParsedChunks | None = None) -> Summary:
    """Reading (ahead: in `parser`'s child process for large inputs, else on a thread),
    annotating (worker processes, or this thread) and writing overlap. Writing is two threads,
    the Parquet tables on one and the VCF text (rendered from Arrow, then BGZF) on the other:
    with one, the main thread waited ~1.4 s of a 6 s run for it (the writer's 3 s of work was
    preempted on the shared core). Queues stay short (WRITE_AHEAD chunks), so memory is
    bounded by a few chunks."""
    stats = Summary()
    bundle = load_model(bundle_path).bundle
    with OrderedPool(processes) as pool, \
            open_vcf(input_path, chunk_size=chunk_size) as reader, \
            BgzfWriter(stage / final["vcf"].name) as vcf_out, \
            pq.ParquetWriter(stage / final["parquet"].name, VARIANT_SCHEMA, **PARQUET_OPTIONS) as vwriter, \
            pq.ParquetWriter(stage / final["transcripts"].name, TRANSCRIPT_SCHEMA, **PARQUET_OPTIONS) as twriter, \
            ThreadPoolExecutor(1, thread_name_prefix="parquet", initializer=background_thread) as tables_out, \
            ThreadPoolExecutor(1, thread_name_prefix="vcf", initializer=background_thread) as text_out:
        log.line(f"format {reader.fileformat}, {len(reader.samples)} samples; "
                 f"{processes or 'no'} worker processes, {chunk_size:,} records a chunk")
        has_csq = any(h.startswith("##INFO=<ID=CSQ,") for h in reader.header_lines)
        header = [h for h in reader.header_lines if not h.startswith("##INFO=<ID=CSQ,")]
        header += [csq.header_line(bundle.name), reader.column_header]
        vcf_out.write(("\n".join(header) + "\n").encode())
        work = ChunkAnnotator(bundle_path, str(fasta) if fasta else None, has_csq, not reader.samples)

        def write_tables(result: ChunkResult) -> None:
            twriter.write_table(result.transcripts)
            vwriter.write_table(result.variants)

        def write_text(result: ChunkResult) -> None:
            vcf_out.write(result.vcf.render())

        written: deque[tuple[Future, Future]] = deque()
        if parser is not None:
            chunks, position = iter(parser), lambda: parser.bytes_read
        else:
            chunks, position = _read_ahead(reader.chunks()), lambda: reader.bytes_read

        def tick() -> None:
            if progress and reader.total_bytes:
                progress(min(0.99, position() / reader.total_bytes))

        for result in pool.map(work, _with_records(chunks, tick)):
            written.append((tables_out.submit(write_tables, result), text_out.submit(write_text, result)))
            while len(written) > WRITE_AHEAD:
                for done in written.popleft():
                    done.result()
            stats.merge(result.stats)
            tick()
        while written:
            for done in written.popleft():
                done.result()
    if stats.records == 0:
        log.line("the file has a header but no variant records")
    return stats


def _with_records(chunks: Iterator[VcfChunk], tick: Callable[[], None]) -> Iterator[VcfChunk]:
    """The chunks that hold records; `tick()` for each one that does not (blank lines only), so
    progress, and the caller's chance to stop, keep coming through any run of blank lines."""
    for chunk in chunks:
        if chunk.n_records:
            yield chunk
        else:
            tick()


def _read_ahead(chunks: Iterator[VcfChunk]) -> Iterator[VcfChunk]:
    """The next chunk is parsed on a thread while the current one is handed out."""
    with ThreadPoolExecutor(1, thread_name_prefix="read") as reader:
        upcoming = reader.submit(next, chunks, None)
        while (chunk := upcoming.result()) is not None:
            upcoming = reader.submit(next, chunks, None)
            yield chunk


def load_results(path: Path) -> pd.DataFrame:
    """A result parquet (NAME.parquet or NAME.transcripts.parquet) as a pandas DataFrame."""
    import pandas as pd  # imported on use: the annotation itself never needs it (arrow.py)
    return pd.read_parquet(path)
