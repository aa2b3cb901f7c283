"""The same model for both tools: our bundle, and a GFF3 written from it for bcftools csq."""
from __future__ import annotations

import hashlib
import subprocess
import sys
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
