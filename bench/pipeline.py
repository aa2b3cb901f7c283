"""The job pipeline of the embedded stack, end to end: latency of single jobs and throughput of a burst.

Usage: python -m bench.pipeline [--jobs 20] [--burst 200] [--workers 2] [--vcf FILE] [--poll 0.1]

Starts `gas up --no-ui --workers N --genome GRCh37 --archive-delay 3600` as a subprocess with a
temporary GAS_DATA_DIR (ready when `gas status` exits 0), adds a user, then:

1. latency: `--jobs` small jobs one after another through the Python client (`submit(wait=False)`,
   then `wait`, polling every `--poll` s). Per job: total = the job's submitted_at -> completed_at
   (server clock, ms), the client's wall time (submit call + wait), the annotation time (the
   engine's `runtime_s` from the job's NAME.summary.json result), the worker's span
   (started_at -> completed_at) and the queue wait (submitted_at -> started_at). Overhead = total -
   annotation. p50/p95 of each; the issue's target is p50 overhead <= 1 s.
2. burst: `--burst` jobs submitted as fast as one client can (`submit(wait=False)`), then polled until
   every one is COMPLETED or FAILED (or `--timeout`). Throughput (jobs/min from the first
   submitted_at to the last completed_at), lost jobs (never finished), duplicates (attempts > 1, or
   more than one email for a job in the outbox), failures.

The stack is stopped with SIGTERM. One JSON object per line on stdout; progress on stderr.
No thresholds are asserted anywhere: the numbers are only reported (docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COURSE_TEST = ROOT.parent / "shared" / "data" / "course" / "test.vcf"
EXAMPLE = ROOT / "examples" / "course-test.vcf"
TERMINAL = ("COMPLETED", "FAILED")


def log(msg: str) -> None:
    print(f"[bench.pipeline] {msg}", file=sys.stderr, flush=True)


def ts(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso).timestamp() if iso else None


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of the values; None when empty."""
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, round(q / 100 * len(s) + 0.5) - 1))
    return round(s[k], 3)


def dist(values: list[float]) -> dict[str, Any]:
    return {"p50": pct(values, 50), "p95": pct(values, 95), "min": pct(values, 0), "max": pct(values, 100),
            "mean": round(statistics.fmean(values), 3) if values else None}


def gas_cmd(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gas.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)


def start_stack(env: dict[str, str], workers: int, logfile: Path, ready_timeout: float = 120) -> subprocess.Popen:
    with open(logfile, "w") as out:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([sys.executable, "-m", "gas.cli", "up", "--no-ui", "--workers", str(workers),
                                 "--genome", "GRCh37", "--archive-delay", "3600"], env=env, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if gas_cmd(env, "status").returncode == 0:
            return proc
        if proc.poll() is not None:
            raise RuntimeError(f"gas up exited with {proc.returncode}:\n{logfile.read_text()[-3000:]}")
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"stack not ready in {ready_timeout:g} s:\n{logfile.read_text()[-3000:]}")


def stop_stack(proc: subprocess.Popen) -> float:
    t0 = time.perf_counter()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    return time.perf_counter() - t0


class Inspector:
    """Operator reads the client does not expose: the whole Job item, and the job's summary.json."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def details(self, job_ids: list[str]) -> dict[str, dict[str, Any]]:
        from gas import aws
        from gas.store import JobStore
        out: dict[str, dict[str, Any]] = {}
        with self.client._env() as settings:
            store, s3 = JobStore(settings), aws.s3(settings.region)
            for job_id in job_ids:
                job = store.get(job_id)
                if job is None:
                    out[job_id] = {"missing": True}
                    continue
                runtime = None
                keys = [k for k in job.result_keys if k.endswith(".summary.json")]
                if keys:
                    body = s3.get_object(Bucket=settings.results_bucket, Key=keys[0])["Body"].read()
                    runtime = json.loads(body).get("runtime_s")
                out[job_id] = {"status": job.status.value, "attempts": job.attempts, "runtime_s": runtime,
                               "submitted": ts(job.submitted_at), "started": ts(job.started_at),
                               "completed": ts(job.completed_at), "error": job.error}
        return out


def latency(client: Any, inspector: Inspector, vcf: Path, n: int, poll_s: float, timeout: float) -> dict[str, Any]:
    rows = []
    for i in range(n):
        t0 = time.perf_counter()
        view = client.submit(vcf, wait=False)
        t_sub = time.perf_counter() - t0
        done = client.wait(view["job_id"], poll_s=poll_s, timeout=timeout)
        wall = time.perf_counter() - t0
        rows.append((view["job_id"], t_sub, wall, done["status"]))
        log(f"latency {i + 1}/{n}: {done['status']} in {wall:.2f} s")
    info = inspector.details([r[0] for r in rows])
    total, client_wall, upload, annot, span, queue, overhead, overhead_client = ([] for _ in range(8))
    failed = 0
    for job_id, t_sub, wall, status in rows:
        d = info[job_id]
        if status != "COMPLETED" or d.get("runtime_s") is None:
            failed += 1
            continue
        tot = d["completed"] - d["submitted"]
        total.append(tot)
        client_wall.append(wall)
        upload.append(t_sub)
        annot.append(d["runtime_s"])
        span.append(d["completed"] - d["started"])
        queue.append(d["started"] - d["submitted"])
        overhead.append(tot - d["runtime_s"])
        overhead_client.append(wall - d["runtime_s"])
    p50_over = pct(overhead, 50)
    return {"bench": "pipeline_latency", "jobs": n, "completed": len(total), "failed": failed,
            "input": vcf.name, "poll_s": poll_s,
            "total_s": dist(total), "client_wall_s": dist(client_wall), "client_submit_call_s": dist(upload),
            "annotation_s": dist(annot), "worker_span_s": dist(span), "queue_wait_s": dist(queue),
            "overhead_s": dist(overhead), "overhead_client_s": dist(overhead_client),
            "target": "p50 overhead (submitted_at->completed_at minus engine runtime_s) <= 1 s",
            "target_met": p50_over is not None and p50_over <= 1.0}


def burst(client: Any, inspector: Inspector, vcf: Path, n: int, timeout: float, outbox_wait: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    ids = []
    for i in range(n):
        ids.append(client.submit(vcf, wait=False)["job_id"])
        if (i + 1) % 50 == 0:
            log(f"burst: submitted {i + 1}/{n}")
    submit_wall = time.perf_counter() - t0
    wanted = set(ids)
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    last_log = 0.0
    while True:
        states = {j["job_id"]: j["status"] for j in client.job_list() if j["job_id"] in wanted}
        finished = sum(1 for s in states.values() if s in TERMINAL)
        if finished == n or time.monotonic() > deadline:
            break
        if time.monotonic() - last_log > 10:
            log(f"burst: {finished}/{n} finished after {time.perf_counter() - t0:.0f} s")
            last_log = time.monotonic()
        time.sleep(1.0)
    client_wall = time.perf_counter() - t0
    info = inspector.details(ids)
    done = [d for d in info.values() if d.get("status") in TERMINAL]
    lost = n - len(done)
    failed = sum(1 for d in done if d["status"] == "FAILED")
    retried = sum(1 for d in info.values() if d.get("attempts", 0) > 1)
    first_sub = min(d["submitted"] for d in info.values() if d.get("submitted"))
    last_done = max((d["completed"] for d in done if d.get("completed")), default=None)
    span = (last_done - first_sub) if last_done else None
    # emails: the outbox is synced about every second; give it time to catch up
    completed = sum(1 for d in done if d["status"] == "COMPLETED")
    end = time.monotonic() + outbox_wait
    mail = client.outbox()
    while time.monotonic() < end and sum(1 for m in mail if _mail_job(m, wanted)) < len(done):
        time.sleep(1.0)
        mail = client.outbox()
    per_job: dict[str, int] = {}
    for m in mail:
        j = _mail_job(m, wanted)
        if j:
            per_job[j] = per_job.get(j, 0) + 1
    dup_mail = sum(1 for c in per_job.values() if c > 1)
    totals = [d["completed"] - d["submitted"] for d in done if d.get("completed")]
    return {"bench": "pipeline_burst", "jobs": n, "input": vcf.name,
            "submit_wall_s": round(submit_wall, 2), "submits_per_s": round(n / submit_wall, 1),
            "drain_wall_s": round(client_wall, 1),
            "server_span_s": round(span, 1) if span else None,
            "jobs_per_min": round(len(done) / span * 60, 1) if span else None,
            "completed": completed, "failed": failed, "lost": lost, "lost_ok": lost == 0,
            "retried_jobs": retried, "jobs_emailed": len(per_job), "emails_for_burst": sum(per_job.values()),
            "jobs_with_duplicate_email": dup_mail, "duplicates_ok": retried == 0 and dup_mail == 0,
            "per_job_total_s": dist(totals),
            "errors": sorted({d["error"] for d in done if d.get("error")})[:5]}


def _mail_job(mail: dict[str, Any], wanted: set[str]) -> str | None:
    """The burst job an email is about (its id appears in the subject, text or HTML)."""
    blob = " ".join(str(mail.get(k) or "") for k in ("subject", "text", "html"))
    for job_id in wanted:
        if job_id in blob:
            return job_id
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.pipeline", description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=20, help="sequential jobs for the latency measure")
    p.add_argument("--burst", type=int, default=200, help="jobs submitted at once for the throughput measure")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--vcf", type=Path, default=COURSE_TEST if COURSE_TEST.is_file() else EXAMPLE)
    p.add_argument("--poll", type=float, default=0.1, help="client polling interval in the latency measure (s)")
    p.add_argument("--timeout", type=float, default=3600, help="burst: give up after this many seconds")
    p.add_argument("--keep", action="store_true", help="keep the temporary data dir (its path is logged)")
    args = p.parse_args(argv)

    from gas.client import Client
    data = Path(tempfile.mkdtemp(prefix="gas-bench-pipeline-"))
    env = {**os.environ, "GAS_DATA_DIR": str(data / "data")}
    t0 = time.perf_counter()
    try:
        proc = start_stack(env, args.workers, data / "up.log")
    except RuntimeError as exc:
        print(json.dumps({"bench": "pipeline", "error": str(exc)}))
        return 1
    print(json.dumps({"bench": "pipeline_stack", "workers": args.workers, "genome": "GRCh37",
                      "ready_s": round(time.perf_counter() - t0, 2), "cpus": os.cpu_count()}), flush=True)
    rc = 0
    try:
        client = Client(data_dir=data / "data", user="bench")
        client.add_user("bench", "bench@example.org")
        inspector = Inspector(client)
        if args.jobs > 0:
            warm = [client.submit(args.vcf, wait=False)["job_id"] for _ in range(2 * args.workers)]
            for job_id in warm:  # warm-up: every worker has annotated once (bundle loaded); not counted
                client.wait(job_id, poll_s=args.poll, timeout=300)
            print(json.dumps(latency(client, inspector, args.vcf, args.jobs, args.poll, 300)), flush=True)
        if args.burst > 0:
            print(json.dumps(burst(client, inspector, args.vcf, args.burst, args.timeout, 60)), flush=True)
    except Exception as exc:  # noqa: BLE001 - report it, then still stop the stack
        print(json.dumps({"bench": "pipeline", "error": f"{type(exc).__name__}: {exc}"}), flush=True)
        rc = 1
    finally:
        stop_s = stop_stack(proc)
        print(json.dumps({"bench": "pipeline_stop", "sigterm_to_exit_s": round(stop_s, 2),
                          "returncode": proc.returncode}), flush=True)
        if args.keep or rc:
            log(f"data dir kept: {data}")
        else:
            import shutil
            shutil.rmtree(data, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
