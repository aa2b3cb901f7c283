"""The same model for both tools: our bundle, and a GFF3 written from it for bcftools csq."""
from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from annotator.engine import gff3
from annotator.engine.annotate import default_cache_dir
from annotator.engine.bundle import load_bundle, resolve_bundle, write_gff3


def gff3_for(genome: str, workdir: Path, contigs: list[str] | None = None) -> Path:
    """The bundle as GFF3, cached in workdir under a name that changes with the bundle and the writer."""
    bundle_dir = resolve_bundle(genome, default_cache_dir())
    writer = hashlib.sha256(Path(gff3.__file__).read_bytes()).hexdigest()[:8]
    out = workdir / f"{bundle_dir.name}-{writer}{'-' + '-'.join(contigs) if contigs else ''}.gff3"
    if not out.exists():
        write_gff3(load_bundle(bundle_dir), out, contigs=contigs)
    return out


def gas_command(vcf: Path, outdir: Path, fasta: Path | None, genome: str = "GRCh37") -> list[str]:
    cmd = [sys.executable, "-m", "gas.cli", "annotate", str(vcf), "-o", str(outdir), "--genome", genome]
    return cmd + (["--fasta", str(fasta)] if fasta else [])


def gas_annotate(vcf: Path, outdir: Path, fasta: Path | None, genome: str = "GRCh37") -> Path:
    subprocess.run(gas_command(vcf, outdir, fasta, genome), check=True, stdout=subprocess.DEVNULL)
    return outdir


def coding_transcripts(genome: str) -> set[str]:
    bundle = load_bundle(resolve_bundle(genome, default_cache_dir()))
    return set(bundle.tx_id[bundle.tx_cds_start > 0].tolist())


def prepare(bench: str, argv: list[str] | None = None,
            options: Callable[[argparse.ArgumentParser], None] | None = None,
            ) -> tuple[argparse.Namespace, Path, Path, Path] | None:
    """What every benchmark starts with: --n/--workdir, the chr20 FASTA and the model as GFF3.

    None (after printing one JSON error line) when the anchor, bcftools or vt-examples, is missing.
    """
    from bench.anchor import have_bcftools, plain_fasta
    p = argparse.ArgumentParser(prog=f"python -m bench.{bench}")
    p.add_argument("--n", type=int, default=1_000_000, help="synthetic variants")
    p.add_argument("--workdir", default=None, help="reuse inputs and the GFF3 between runs")
    if options:
        options(p)
    args = p.parse_args(argv)
    if not have_bcftools():
        print(json.dumps({"bench": bench, "error": "bcftools or vt-examples missing (apt-get install bcftools vt-examples)"}))
        return None
    work = Path(args.workdir or tempfile.mkdtemp(prefix=f"gas-{bench}-"))
    work.mkdir(parents=True, exist_ok=True)
    fasta = plain_fasta(work)
    return args, work, fasta, gff3_for("GRCh37", work)
