"""The embedded stack: moto on 127.0.0.1, template.yaml provisioned into it, the functions' pollers.

    stack = start_stack(data_dir=d)      # in-process; tests and `run_stack` use it
    ...                                  # os.environ now points boto3 (and children) at moto
    stack.stop()

`run_stack(...)` is what `gas up` calls: it starts the stack, the annotator workers and the UI as
child processes, writes ``<data_dir>/stack.json`` (endpoint, pid, env) and blocks until SIGINT or
SIGTERM. `status(data_dir)` reads that file and checks the pid and the endpoint.

What it does to moto, and why:
- binds 127.0.0.1 on a free port (moto's default is 0.0.0.0);
- sets ``MOTO_PORT``: Step Functions task integrations call ``http://localhost:$MOTO_PORT``;
- POSTs ``{"stepfunctions": {"execute_state_machine": true}}`` to ``/moto-api/config`` so the
  archive state machine really waits and publishes;
- serialises every DynamoDB request through one lock in front of moto's WSGI app
  (`_SerialisedDynamoDB`): moto's conditional writes are not atomic under concurrency
  (docs/core.md), and AWS's are. Other services are not serialised (an SQS long poll would
  block everything);
- S3 emits ``s3:ObjectRestore:Completed`` only when a restored object is next read, so a
  `RestoreCompleter` thread heads archived objects of every bucket that has such a notification;
  moto's restore state machine is set to complete ``restore_delay`` seconds after the request.

- with a ``data_dir``, the state (S3 objects with their storage class, DynamoDB items, pending
  SQS messages, running archive waits) is loaded from ``<data_dir>/state`` after provisioning and
  before the pollers start, snapshotted every ``snapshot_interval_s`` if it changed and at a clean
  stop (`gas.local.persist`; docs/local-stack.md, "Persistence").
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gas.local.environ import EnvPatch
from gas.local.outbox import OutboxWriter
from gas.local.persist import Persistence, Targets
from gas.local.pollers import Pollers
from gas.local.provision import DEFAULT_TEMPLATE, ROOT, Provisioned, boto_clients, provision
from gas.settings import Settings

log = logging.getLogger("gas.local.stack")

STACK_FILE = "stack.json"
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
ARCHIVE_CLASSES = ("GLACIER", "DEEP_ARCHIVE", "GLACIER_IR")
# Variables that would send the fake credentials or the endpoint elsewhere.
CLEARED_ENV = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL_S3",
               "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_SNS",
               "AWS_ENDPOINT_URL_STEPFUNCTIONS", "AWS_ENDPOINT_URL_SES", "AWS_ENDPOINT_URL_SESV2")


def default_data_dir() -> Path:
    return Path(os.environ.get("GAS_DATA_DIR") or Path.home() / ".local" / "share" / "gas")


# ----------------------------------------------------------------------------- moto server

class _SerialisedDynamoDB:
    """WSGI middleware: one DynamoDB request at a time (JSON protocol: X-Amz-Target DynamoDB_*)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:  # the whole response is built inside, so the write is complete on release
            return list(self.app(environ, start_response))


def _moto_server_class() -> type:
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    class LockedMotoServer(ThreadedMotoServer):
        """ThreadedMotoServer whose WSGI app is wrapped by `_SerialisedDynamoDB`."""

        def _server_entry(self) -> None:  # same as moto 5.2's, plus the wrapper
            app = _SerialisedDynamoDB(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(self._ip_address, self._port, app, True,
                                       request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    return LockedMotoServer


def _post_json(url: str, payload: dict[str, Any]) -> None:
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        resp.read()


# ----------------------------------------------------------------------------- restore events

class RestoreCompleter(threading.Thread):
    """Reads (HEAD) archived objects so moto emits ``s3:ObjectRestore:Completed`` once it is due."""

    def __init__(self, s3: Any, buckets: list[str], stop: threading.Event, interval_s: float = 1.0) -> None:
        super().__init__(name="restore-completer", daemon=True)
        self.s3, self.buckets, self.stop_event, self.interval_s = s3, buckets, stop, interval_s

    def sweep(self) -> int:
        seen = 0
        for bucket in self.buckets:
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for obj in page.get("Contents", []):
                    if obj.get("StorageClass") in ARCHIVE_CLASSES:
                        self.s3.head_object(Bucket=bucket, Key=obj["Key"])
                        seen += 1
        return seen

    def run(self) -> None:
        while not self.stop_event.wait(self.interval_s):
            try:
                self.sweep()
            except Exception as exc:  # keep sweeping
                log.warning("restore completer: %r", exc)


def restore_buckets(prov: Provisioned, template: dict[str, Any]) -> list[str]:
    out = []
    for lid, res in template.get("Resources", {}).items():
        if res.get("Type") != "AWS::S3::Bucket" or lid not in prov.resources:
            continue
        topics = ((res.get("Properties") or {}).get("NotificationConfiguration") or {})
        events = [c.get("Event", "") for key in ("TopicConfigurations", "QueueConfigurations")
                  for c in topics.get(key, [])]
        if any(e.startswith("s3:ObjectRestore") for e in events):
            out.append(prov.ref(lid))
    return out


# ----------------------------------------------------------------------------- the stack

class _Every(threading.Thread):
    """Runs `fn` every `interval_s` until `stop` is set; an error is logged and retried next time."""

    def __init__(self, name: str, fn: Any, interval_s: float, stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self.fn, self.interval_s, self.stop_event = fn, interval_s, stop

    def run(self) -> None:
        while not self.stop_event.wait(self.interval_s):
            try:
                self.fn()
            except Exception:  # noqa: BLE001 - a background chore must not kill the stack
                log.exception("%s failed", self.name)


@dataclass
class LocalStack:
    server: Any
    endpoint: str
    provisioned: Provisioned
    env: dict[str, str]
    pollers: Pollers | None = None
    persistence: Persistence | None = None
    outbox: OutboxWriter | None = None
    restored: dict[str, int] = field(default_factory=dict)
    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    _env_patch: EnvPatch = field(default_factory=EnvPatch)

    def stop(self, timeout: float = 25.0) -> None:
        self.stop_event.set()
        if self.pollers is not None:
            self.pollers.stop(timeout)
        for t in self.threads:
            t.join(timeout=5)
        if self.outbox is not None:       # mail the last poller run sent
            self.outbox.sync()
        if self.persistence is not None:  # last snapshot: pollers are stopped, moto still answers
            try:
                self.persistence.snapshot()
            except Exception:
                log.exception("final snapshot failed; the last periodic one is kept")
        self.server.stop()
        self._env_patch.undo()
        from gas import aws
        aws.reset_clients()

    def __enter__(self) -> "LocalStack":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_stack(*, template: str | Path = DEFAULT_TEMPLATE, settings: Settings | None = None,
                parameters: dict[str, Any] | None = None, pollers: bool = True, poll_wait_s: int = 2,
                failed_visibility_s: int | None = None, restore_delay_s: float = 0.0,
                quiet: bool = True, data_dir: str | Path | None = None,
                snapshot_interval_s: float = 5.0) -> LocalStack:
    """Start moto, provision `template`, point this process's environment at it, start pollers.

    With `data_dir`, the state saved in ``<data_dir>/state`` is loaded before the pollers start
    and snapshotted every `snapshot_interval_s` (if changed) and at `LocalStack.stop`.

    The environment (AWS_ENDPOINT_URL, fake credentials, region, MOTO_PORT and the template's
    GAS_* variables) is restored by `LocalStack.stop`.
    """
    from gas import aws
    from gas.local.provision import load_template

    settings = settings or Settings()
    if quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = _moto_server_class()(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env_patch = EnvPatch()

    try:
        env_patch.clear(CLEARED_ENV)
        base = {"MOTO_PORT": str(port), "AWS_ENDPOINT_URL": endpoint, **FAKE_CREDENTIALS,
                "AWS_DEFAULT_REGION": settings.region, "AWS_REGION": settings.region}
        env_patch.set(base)
        # moto's backends are process-global: a new stack starts from nothing (then the snapshot)
        _post_json(f"{endpoint}/moto-api/reset", {})
        _post_json(f"{endpoint}/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})
        transition = ({"progression": "time", "seconds": restore_delay_s} if restore_delay_s > 0
                      else {"progression": "immediate"})
        _post_json(f"{endpoint}/moto-api/state-manager/set-transition",
                   {"model_name": "s3::keyrestore", "transition": transition})
        aws.reset_clients()
        tpl = load_template(template)
        get = boto_clients(endpoint, settings.region)
        prov = provision(endpoint, template=template, settings=settings, parameters=parameters, clients=get)
        # moto sends no mail, so no confirmation code would ever arrive: confirm sign-ups at once
        prov.env[Settings.env_name("signup_auto_confirm")] = "1"
        env_patch.set(prov.env)
        stack = LocalStack(server=server, endpoint=endpoint, provisioned=prov, env={**base, **prov.env},
                           _env_patch=env_patch)
        if data_dir is not None:
            stack.persistence = Persistence(data_dir, Targets.of(prov), get, settings.region)
            stack.restored = stack.persistence.restore()
            if snapshot_interval_s > 0:
                # a failed snapshot is retried next interval; the one at stop still runs
                stack.threads.append(_Every("state-snapshotter", stack.persistence.snapshot, snapshot_interval_s,
                                            stack.stop_event))
            # sent mail lives in this process (moto's SES backend): write it out as .eml files
            stack.outbox = OutboxWriter(data_dir)
            stack.threads.append(_Every("outbox", stack.outbox.sync, 1.0, stack.stop_event))
        buckets = restore_buckets(prov, tpl)
        if buckets:
            stack.threads.append(RestoreCompleter(get("s3"), buckets, stack.stop_event))
        if pollers:
            stack.pollers = Pollers(prov.functions, get("sqs"), settings.region, wait_s=poll_wait_s,
                                    failed_visibility_s=failed_visibility_s).start()
        for t in stack.threads:
            t.start()
        return stack
    except BaseException:
        server.stop()
        env_patch.undo()
        raise


# ----------------------------------------------------------------------------- gas up / gas status

def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def status(data_dir: str | Path | None = None) -> dict[str, Any]:
    """{"ready": bool, "reason"|..., "endpoint", "pid", "started_at", "env"} of the running stack."""
    path = Path(data_dir or default_data_dir()) / STACK_FILE
    if not path.is_file():
        return {"ready": False, "reason": f"no stack running ({path} not found)"}
    try:
        info = json.loads(path.read_text())
    except ValueError as exc:
        return {"ready": False, "reason": f"{path}: unreadable ({exc})"}
    out = {**info, "ready": False}
    if not _pid_alive(int(info.get("pid", -1))):
        out["reason"] = f"stale {path}: process {info.get('pid')} is gone"
        return out
    try:
        with urllib.request.urlopen(f"{info['endpoint']}/moto-api/config", timeout=2) as resp:
            resp.read()
    except OSError as exc:
        out["reason"] = f"endpoint {info['endpoint']} not answering ({exc})"
        return out
    out["ready"] = True
    return out


def _spawn(args: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    log.info("starting %s: %s", name, " ".join(args))
    return subprocess.Popen(args, env=env, cwd=str(ROOT))


def local_stale_after(visibility_s: int) -> float:
    """GAS_STALE_AFTER_S for workers on a requests queue with a short VisibilityTimeout: stale
    (re-claimable) by the time a dead worker's message reappears, which is at least
    visibility - heartbeat after its last heartbeat; and still three heartbeats long."""
    beat = min(60.0, visibility_s / 5)
    return max(3 * beat, visibility_s - 2 * beat)


class _Supervisor:
    """The worker children of `gas up`: one that exits non-zero (crash, kill -9) is restarted
    after a back-off (1 s, doubled while it keeps dying within 10 s of its start, at most 30 s)."""

    QUICK_EXIT_S = 10.0

    def __init__(self, args: list[str], env: dict[str, str], count: int) -> None:
        self.args, self.env = args, env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.started: dict[str, float] = {}
        self.backoff: dict[str, float] = {}
        self.due: dict[str, float] = {}   # name -> monotonic time of the pending restart
        self.restarts = 0
        for i in range(count):
            self._start(f"worker-{i}")

    def _start(self, name: str) -> None:
        self.procs[name] = _spawn(self.args, self.env, name)
        self.started[name] = time.monotonic()

    def check(self) -> bool:
        """Restart what is due; schedule restarts of dead workers. True when a pid changed."""
        changed = False
        now = time.monotonic()
        for name, proc in self.procs.items():
            if name in self.due:
                if now >= self.due[name]:
                    del self.due[name]
                    self._start(name)
                    self.restarts += 1
                    changed = True
                continue
            code = proc.poll()
            if code is None:
                continue
            if code == 0:  # a worker exits 0 only when told to stop: leave it
                continue
            quick = now - self.started[name] < self.QUICK_EXIT_S
            delay = min(30.0, self.backoff.get(name, 0.5) * 2) if quick else 1.0
            self.backoff[name] = delay
            how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
            log.warning("%s (pid %d) died (%s); restarting in %.0f s", name, proc.pid, how, delay)
            print(f"gas up: {name} (pid {proc.pid}) died ({how}); restarting in {delay:.0f} s",
                  file=sys.stderr, flush=True)
            self.due[name] = now + delay
        return changed

    def children(self) -> list[tuple[str, subprocess.Popen[bytes]]]:
        return list(self.procs.items())


# No usage statistics sent anywhere (and no network needed); no developer "Deploy" menu for users.
UI_FLAGS = ("--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal")


def run_stack(data_dir: str | Path | None = None, workers: int = 1, archive_delay: int | None = None,
              restore_delay: float = 5.0, ui: bool = True, ui_port: int = 8501, genome: str | None = None,
              request_visibility: int | None = None) -> int:
    """`gas up`: start everything, write stack.json, block until SIGINT/SIGTERM. Returns an exit code.

    `genome` (GRCh38, GRCh37 or a bundle folder) is what the workers annotate against; it wins over
    the template's Genome parameter, which can only name the packaged genomes.
    `request_visibility` is the requests queue's VisibilityTimeout (template RequestVisibilitySeconds,
    default 300): with it the workers also get GAS_STALE_AFTER_S (`local_stale_after`), so a killed
    worker's job is re-run about that many seconds later. Workers that die are restarted."""
    data = Path(data_dir or default_data_dir())
    data.mkdir(parents=True, exist_ok=True)
    current = status(data)
    if current.get("ready"):
        print(f"gas up: a stack is already running (pid {current['pid']}, {current['endpoint']})", file=sys.stderr)
        return 1
    params: dict[str, Any] = {"AppUrl": f"http://127.0.0.1:{ui_port}"}
    if archive_delay is not None:
        params["ArchiveDelaySeconds"] = archive_delay
    if request_visibility is not None:
        params["RequestVisibilitySeconds"] = request_visibility
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    supervisor: _Supervisor | None = None
    stack = start_stack(parameters=params, restore_delay_s=restore_delay, data_dir=data)
    try:
        if genome:  # workers and clients (through stack.json) agree on what jobs are annotated against
            stack.env["GAS_GENOME"] = genome
        stack.env["GAS_LOCAL_STACK"] = "1"           # the UI shows the outbox page only here
        stack.env["GAS_LOCAL_DATA_DIR"] = str(data)  # where the outbox .eml files are
        env = {**os.environ, **stack.env}
        if request_visibility is not None and not env.get("GAS_STALE_AFTER_S"):
            env["GAS_STALE_AFTER_S"] = f"{local_stale_after(request_visibility):g}"
        if workers > 0:
            if (ROOT / "annotator" / "worker.py").is_file():
                supervisor = _Supervisor([sys.executable, "-m", "annotator.worker"], env, workers)
            else:
                print("gas up: annotator/worker.py not found; no workers started", file=sys.stderr)
        if ui:
            app = ROOT / "ui" / "app.py"
            if app.is_file():
                children.append(("ui", _spawn([sys.executable, "-m", "streamlit", "run", str(app),
                                               "--server.address", "127.0.0.1", "--server.port", str(ui_port),
                                               "--server.headless", "true", *UI_FLAGS], env, "ui")))
            else:
                print("gas up: ui/app.py not found; no UI started", file=sys.stderr)
        def write_info() -> None:
            every = (supervisor.children() if supervisor else []) + children
            info = {"endpoint": stack.endpoint, "pid": os.getpid(), "started_at": started,
                    "env": stack.env, "children": {n: p.pid for n, p in every},
                    "cloud_only": stack.provisioned.cloud_only}
            tmp = data / (STACK_FILE + ".tmp")
            tmp.write_text(json.dumps(info, indent=1))
            tmp.replace(data / STACK_FILE)

        started = time.time()
        write_info()
        prov = stack.provisioned
        print(f"GAS local stack on {stack.endpoint} (data dir {data})")
        print(f"  created: {len(prov.types) - len(prov.functions) - len(prov.layers)} resources; "
              f"functions polled: {', '.join(f.name for f in prov.functions.values())}")
        print("  cloud-only (not created locally):")
        for line in prov.cloud_only:
            print(f"    - {line}")
        if ui and any(n == "ui" for n, _ in children):
            print(f"  UI: http://127.0.0.1:{ui_port}")
        r = stack.restored
        print(f"  state: {data / 'state'} (restored {r.get('objects', 0)} objects, {r.get('items', 0)} items, "
              f"{r.get('messages', 0)} messages, {r.get('executions', 0)} archive waits, {r.get('logins', 0)} logins)")
        print("Ctrl-C stops it (and saves the state; it is also saved every 5 s).", flush=True)
        failed = False
        while not stop.wait(0.5):
            if supervisor is not None and supervisor.check():
                write_info()
            for name, proc in children:  # the UI is not restarted: its exit stops the stack
                if proc.poll() is not None:
                    print(f"gas up: {name} exited with {proc.returncode}; stopping", file=sys.stderr)
                    failed = True
                    stop.set()
        return 1 if failed else 0
    finally:
        everything = (supervisor.children() if supervisor else []) + children
        for _, proc in everything:
            if proc.poll() is None:
                proc.terminate()
        for _, proc in everything:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        stack.stop()
        (data / STACK_FILE).unlink(missing_ok=True)
        for s, h in previous.items():
            signal.signal(s, h)
