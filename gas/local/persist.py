"""Local stack persistence: snapshot moto's state into ``<data_dir>/state/`` and load it back.

moto keeps everything in memory and its request recorder is not reliable enough to replay, so
the embedded stack takes its own snapshots (docs/local-stack.md, "Persistence"):

- **S3**: every object of the stack's buckets (current version) as a file, plus ``s3.json``
  (bucket, key, file, size, ETag, last-modified, metadata incl. content type/encoding, storage
  class, encryption, restore state). Bodies are read from moto's backend in chunks (a GLACIER
  object cannot be read through the API) and streamed back into it, never held whole in memory.
  An unchanged object (same bucket, key, ETag, size) is hard-linked from the previous snapshot.
- **DynamoDB**: every item of every table, ``dynamodb/<table>.jsonl``, one item a line in the
  low-level attribute-value format (``{"n": {"N": "3"}, "b": {"B": "<base64>"}}``), so numbers,
  sets, lists, maps and binaries round-trip. A scan is fine here: it is the emulator's backup.
- **SQS**: every message of every queue and DLQ (``sqs.json``), copied from moto's backend
  without receiving it: body, message attributes, system attributes, message id, sent and first
  receive timestamps, receive count, FIFO group/deduplication ids. In-flight messages are saved
  (and restored) as visible; a delayed message keeps its remaining delay.
- **Cognito**: every user of the stack's user pools (``cognito.json``, keyed by pool name, since
  moto gives the pool a new id at each start): username, ``sub``, password, status, enabled flag,
  attributes and dates, read from moto's backend (Cognito has no API that returns passwords). The
  ``sub`` is kept, so the users table's ``user_id`` still matches the login. moto stores passwords
  in clear, so does the snapshot: the file is created readable by its owner only (0600).
- **Step Functions**: RUNNING executions (``stepfunctions.json``): state machine, name, input,
  start time and the wait they were given (``wait_seconds`` of the input, else the definition's
  default). At restore each is started again under the same name with ``wait_seconds`` set to
  what remains of it (0 if overdue), so the archive is due when it was due.

Atomicity: a snapshot is written to ``state.tmp-<pid>-<n>/`` and swapped in by two renames
(``state`` -> ``state.old``, tmp -> ``state``); ``snapshot.json`` is written last inside the
folder, so a folder without it is incomplete. Loading reads ``state/`` if it is complete, else
``state.old/`` (a crash between the renames); ``state.tmp-*`` leftovers are ignored and removed
by the next snapshot. A crash (kill -9) loses at most what changed since the last snapshot.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import math
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gas.local.provision import ACCOUNT_ID, Provisioned

log = logging.getLogger("gas.local.persist")

STATE_DIR = "state"
OLD_DIR = "state.old"
TMP_PREFIX = "state.tmp-"
MARKER = "snapshot.json"
FORMAT_VERSION = 1
CHUNK = 1024 * 1024


# ----------------------------------------------------------------------------- what to persist

@dataclass
class Targets:
    """The stack's resources to persist, by physical name (state machines by ARN)."""

    buckets: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)
    state_machines: list[str] = field(default_factory=list)
    user_pools: dict[str, str] = field(default_factory=dict)   # pool name -> pool id (new at each start)

    @classmethod
    def of(cls, prov: Provisioned) -> Targets:
        t = cls()
        for lid, kind in prov.types.items():
            res = prov.resources.get(lid) or {}
            if kind == "AWS::S3::Bucket":
                t.buckets.append(res["Ref"])
            elif kind == "AWS::DynamoDB::Table":
                t.tables.append(res["Ref"])
            elif kind == "AWS::SQS::Queue":
                t.queues.append(res["QueueName"])
            elif kind in ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine"):
                t.state_machines.append(res["Ref"])
            elif kind == "AWS::Cognito::UserPool":
                t.user_pools[res["Name"]] = res["Ref"]
        return t


# ----------------------------------------------------------------------------- encoding helpers

def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def encode_av(av: dict[str, Any]) -> dict[str, Any]:
    """boto3's low-level AttributeValue (bytes for B/BS) -> JSON-safe (base64 strings)."""
    (kind, value), = av.items()
    if kind == "B":
        return {"B": _b64(value)}
    if kind == "BS":
        return {"BS": [_b64(v) for v in value]}
    if kind == "M":
        return {"M": {k: encode_av(v) for k, v in value.items()}}
    if kind == "L":
        return {"L": [encode_av(v) for v in value]}
    return {kind: value}


def decode_av(av: dict[str, Any]) -> dict[str, Any]:
    (kind, value), = av.items()
    if kind == "B":
        return {"B": base64.b64decode(value)}
    if kind == "BS":
        return {"BS": [base64.b64decode(v) for v in value]}
    if kind == "M":
        return {"M": {k: decode_av(v) for k, v in value.items()}}
    if kind == "L":
        return {"L": [decode_av(v) for v in value]}
    return {kind: value}


def _jsonable(value: Any) -> Any:
    """Message attributes may hold bytes (BinaryValue): tag them so they come back as bytes."""
    if isinstance(value, (bytes, bytearray)):
        return {"__b64__": _b64(bytes(value))}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _unjsonable(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__b64__"}:
            return base64.b64decode(value["__b64__"])
        return {k: _unjsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unjsonable(v) for v in value]
    return value


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _from_iso(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def _retry_copy(read: Callable[[], list[Any]]) -> list[Any]:
    """Copy a moto collection another thread may be changing ("changed size during iteration")."""
    for _ in range(5):
        try:
            return read()
        except RuntimeError:
            time.sleep(0.01)
    return read()


# ----------------------------------------------------------------------------- moto backends

def _s3_backend() -> Any:
    from moto.s3.models import s3_backends
    return s3_backends[ACCOUNT_ID]["aws"]


def _sqs_backend(region: str) -> Any:
    from moto.sqs.models import sqs_backends
    return sqs_backends[ACCOUNT_ID][region]


def _cognito_backend(region: str) -> Any:
    from moto.cognitoidp.models import cognitoidp_backends
    return cognitoidp_backends[ACCOUNT_ID][region]


# ----------------------------------------------------------------------------- collect

def _s3_keys(bucket_name: str) -> list[Any]:
    from moto.s3.models import FakeKey
    bucket = _s3_backend().buckets.get(bucket_name)
    if bucket is None:
        return []
    keys = _retry_copy(lambda: list(bucket.keys.values()))
    return [k for k in keys if isinstance(k, FakeKey)]  # no delete markers


def _key_record(bucket: str, key: Any) -> dict[str, Any]:
    restore = None
    if key._expiry is not None:
        # moto's last computed restore status (None/IN_PROGRESS/RESTORED), read raw: reading
        # `key.status` may complete the restore and emit its event from here
        restore = {"status": key._status, "expiry": _iso(key._expiry)}
    return {"bucket": bucket, "key": key.name, "size": key.contentsize, "etag": key.etag.strip('"'),
            "last_modified": _iso(key.last_modified), "metadata": dict(key.metadata),
            "storage_class": key.storage_class, "encryption": key.encryption, "kms_key_id": key.kms_key_id,
            "restore": restore}


def _message_record(m: Any) -> dict[str, Any]:
    now = time.time()
    delay = max(0.0, float(m.delayed_until or 0) - now)
    return {"id": m.id, "body": m.body, "message_attributes": _jsonable(m.message_attributes),
            "system_attributes": _jsonable(m.system_attributes), "sender_id": m.sender_id,
            "sent_timestamp": m.sent_timestamp, "first_receive_timestamp": m.approximate_first_receive_timestamp,
            "receive_count": m.approximate_receive_count, "group_id": m.group_id,
            "deduplication_id": m.deduplication_id, "delay_s": math.ceil(delay) if delay else 0}


def _cognito_user_record(u: Any) -> dict[str, Any]:
    return {"username": u.username, "sub": u.id, "password": u.password,
            "status": getattr(u.status, "value", u.status), "enabled": bool(u.enabled),
            "attributes": [dict(a) for a in u.attributes],
            "created": _iso(u.create_date), "modified": _iso(u.last_modified_date)}


_DEFAULT_WAIT = re.compile(r"""States\.StringToJson\('(\d+)'\)""")


def default_wait_seconds(definition: str) -> int | None:
    """The wait an execution without ``wait_seconds`` gets: the archive machine's default, or a
    fixed ``Seconds`` of its Wait state."""
    m = _DEFAULT_WAIT.search(definition)
    if m:
        return int(m.group(1))
    try:
        states = json.loads(definition).get("States", {})
    except ValueError:
        return None
    for st in states.values():
        if st.get("Type") == "Wait" and isinstance(st.get("Seconds"), int):
            return int(st["Seconds"])
    return None


class Persistence:
    """Snapshots the stack's state into ``<data_dir>/state`` and loads it back."""

    def __init__(self, data_dir: str | Path, targets: Targets, clients: Callable[[str], Any], region: str) -> None:
        self.data_dir = Path(data_dir)
        self.targets, self.client, self.region = targets, clients, region
        self.lock = threading.Lock()   # one snapshot at a time (periodic thread vs. stop)
        self.last_digest: str | None = None
        self.stale = False
        self._keys: list[Any] = []
        self._n = 0

    @property
    def state_dir(self) -> Path:
        return self.data_dir / STATE_DIR

    # --------------------------------------------------------------- collecting (in memory, no bodies)

    def collect(self) -> dict[str, Any]:
        """The whole state but S3 bodies, JSON-ready (its digest tells whether anything changed).

        The S3 key objects read are kept in ``self._keys`` (same order as ``state["s3"]``) so the
        bodies written are those of the records collected."""
        pairs = [(_key_record(b, k), k) for b in self.targets.buckets for k in _s3_keys(b)]
        self._keys = [k for _, k in pairs]
        s3 = [r for r, _ in pairs]
        ddb: dict[str, list[dict[str, Any]]] = {}
        client = self.client("dynamodb")
        for table in self.targets.tables:
            items = []
            for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
                items.extend({k: encode_av(v) for k, v in item.items()} for item in page.get("Items", []))
            ddb[table] = items
        sqs: dict[str, list[dict[str, Any]]] = {}
        backend = _sqs_backend(self.region)
        for name in self.targets.queues:
            queue = backend.queues.get(name)
            if queue is None:
                continue
            with queue._messages_lock:
                messages = list(queue._messages)
            sqs[name] = [_message_record(m) for m in messages]
        return {"s3": s3, "dynamodb": ddb, "sqs": sqs, "stepfunctions": self._executions(),
                "cognito": self._cognito_users()}

    def _cognito_users(self) -> dict[str, list[dict[str, Any]]]:
        if not self.targets.user_pools:
            return {}
        backend = _cognito_backend(self.region)
        out = {}
        for name, pool_id in self.targets.user_pools.items():
            pool = backend.user_pools.get(pool_id)
            if pool is not None:
                users = _retry_copy(lambda: list(pool.users.values()))  # noqa: B023 - called at once
                out[name] = sorted((_cognito_user_record(u) for u in users), key=lambda r: r["sub"])
        return out

    def _executions(self) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        out = []
        for arn in self.targets.state_machines:
            definition = sfn.describe_state_machine(stateMachineArn=arn)["definition"]
            default = default_wait_seconds(definition)
            for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn, statusFilter="RUNNING"):
                for ex in page.get("executions", []):
                    desc = sfn.describe_execution(executionArn=ex["executionArn"])
                    try:
                        payload = json.loads(desc.get("input") or "{}")
                    except ValueError:
                        payload = None
                    wait = payload.get("wait_seconds") if isinstance(payload, dict) else None
                    wait = wait if isinstance(wait, (int, float)) else default
                    start = desc["startDate"].timestamp()
                    out.append({"state_machine": arn.rsplit(":", 1)[-1], "name": desc["name"],
                                "input": desc.get("input") or "{}", "started_at": start, "wait_seconds": wait,
                                "due_at": start + wait if wait is not None else None})
        return sorted(out, key=lambda e: (e["state_machine"], e["name"]))

    @staticmethod
    def digest(state: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()

    # --------------------------------------------------------------- writing

    def snapshot(self, force: bool = False) -> bool:
        """Write a snapshot if anything changed since the last one (or `force`). True if written."""
        with self.lock:
            state = self.collect()
            digest = self.digest(state)
            if not force and digest == self.last_digest:
                return False
            self.stale = False
            self._write(state)
            self.last_digest = None if self.stale else digest
            return True

    def _write(self, state: dict[str, Any]) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for leftover in self.data_dir.glob(TMP_PREFIX + "*"):
            shutil.rmtree(leftover, ignore_errors=True)
        self._n += 1
        tmp = self.data_dir / f"{TMP_PREFIX}{os.getpid()}-{self._n}"
        (tmp / "s3").mkdir(parents=True)
        (tmp / "dynamodb").mkdir()
        previous = self._previous_objects()
        objects = []
        for i, (rec, key) in enumerate(zip(state["s3"], self._keys)):
            rel = f"s3/{i:06d}"
            dest = tmp / rel
            old = previous.get((rec["bucket"], rec["key"], rec["etag"], rec["size"]))
            if old is not None and old.is_file():
                try:
                    os.link(old, dest)
                except OSError:
                    shutil.copyfile(old, dest)
            else:
                try:
                    with key.lock, open(dest, "wb") as out:
                        key._value_buffer.seek(0)
                        shutil.copyfileobj(key._value_buffer, out, CHUNK)
                        out.flush()
                        os.fsync(out.fileno())
                except ValueError:  # overwritten and disposed meanwhile: the next snapshot has it
                    dest.unlink(missing_ok=True)
                    self.stale = True
                    continue
            objects.append({**rec, "file": rel})
        _write_json(tmp / "s3.json", objects)
        tables = {}
        for table, items in state["dynamodb"].items():
            rel = f"dynamodb/{table}.jsonl"
            with open(tmp / rel, "w") as out:
                out.writelines(json.dumps(item, sort_keys=True) + "\n" for item in items)
                out.flush()
                os.fsync(out.fileno())
            tables[table] = {"file": rel, "items": len(items)}
        _write_json(tmp / "sqs.json", state["sqs"])
        _write_json(tmp / "stepfunctions.json", state["stepfunctions"])
        _write_json(tmp / "cognito.json", state["cognito"], private=True)
        _fsync_dir(tmp / "s3")
        _fsync_dir(tmp / "dynamodb")
        _write_json(tmp / MARKER, {  # last: a folder without it is incomplete
            "version": FORMAT_VERSION, "taken_at": time.time(), "objects": len(objects), "tables": tables,
            "messages": {q: len(m) for q, m in state["sqs"].items()},
            "executions": len(state["stepfunctions"]),
            "logins": sum(len(u) for u in state["cognito"].values())})
        _fsync_dir(tmp)
        old_dir, cur = self.data_dir / OLD_DIR, self.state_dir
        if old_dir.exists() and (cur / MARKER).is_file():
            shutil.rmtree(old_dir)
        if cur.exists():
            if old_dir.exists():     # `cur` is incomplete and `old` is the good one: drop `cur`
                shutil.rmtree(cur)
            else:
                os.rename(cur, old_dir)
        os.rename(tmp, cur)
        _fsync_dir(self.data_dir)
        shutil.rmtree(old_dir, ignore_errors=True)

    def _previous_objects(self) -> dict[tuple[str, str, str, int], Path]:
        src = self.readable_snapshot()
        if src is None:
            return {}
        try:
            objects = json.loads((src / "s3.json").read_text())
        except (OSError, ValueError):
            return {}
        return {(o["bucket"], o["key"], o["etag"], o["size"]): src / o["file"] for o in objects}

    def readable_snapshot(self) -> Path | None:
        """``state/`` if complete, else ``state.old/`` (a crash between the two renames), else None."""
        for d in (self.state_dir, self.data_dir / OLD_DIR):
            if (d / MARKER).is_file():
                return d
        return None

    # --------------------------------------------------------------- loading

    def restore(self) -> dict[str, int]:
        """Load the last complete snapshot into the (freshly provisioned, empty) stack."""
        src = self.readable_snapshot()
        counts = {"objects": 0, "items": 0, "messages": 0, "executions": 0, "logins": 0}
        if src is None:
            return counts
        marker = json.loads((src / MARKER).read_text())
        if marker.get("version") != FORMAT_VERSION:
            raise RuntimeError(f"{src}: snapshot format {marker.get('version')} (expected {FORMAT_VERSION})")
        counts["objects"] = self._restore_s3(src)
        counts["items"] = self._restore_dynamodb(src, marker.get("tables", {}))
        counts["messages"] = self._restore_sqs(src)
        counts["executions"] = self._restore_executions(src)
        counts["logins"] = self._restore_cognito(src)
        log.info("restored %s from %s", counts, src)
        return counts

    def _restore_s3(self, src: Path) -> int:
        backend = _s3_backend()
        n = 0
        for o in json.loads((src / "s3.json").read_text()):
            if o["bucket"] not in backend.buckets:
                log.warning("snapshot: bucket %s no longer exists; %s skipped", o["bucket"], o["key"])
                continue
            key = backend.put_object(o["bucket"], o["key"], b"", storage=o.get("storage_class") or "STANDARD",
                                     encryption=o.get("encryption"), kms_key_id=o.get("kms_key_id"),
                                     disable_notification=True)
            with key.lock, open(src / o["file"], "rb") as f:
                key._value_buffer.seek(0)
                key._value_buffer.truncate()
                shutil.copyfileobj(f, key._value_buffer, CHUNK)
                key.contentsize = key._value_buffer.tell()
            key._etag = o["etag"]
            key.set_metadata(dict(o.get("metadata") or {}))
            if o.get("last_modified"):
                key.last_modified = _from_iso(o["last_modified"])
            restore = o.get("restore")
            if restore:
                key._expiry = _from_iso(restore.get("expiry"))
                key._status = restore.get("status")
                # a pending restore's delay starts again from now (a finished one stays finished)
                key._time_progressed = dt.datetime.now()
            n += 1
        return n

    def _restore_dynamodb(self, src: Path, tables: dict[str, Any]) -> int:
        client = self.client("dynamodb")
        n = 0
        for table, info in tables.items():
            if table not in self.targets.tables:
                log.warning("snapshot: table %s no longer exists; skipped", table)
                continue
            batch: list[dict[str, Any]] = []
            with open(src / info["file"]) as f:
                for line in f:
                    if line.strip():
                        item = {k: decode_av(v) for k, v in json.loads(line).items()}
                        batch.append({"PutRequest": {"Item": item}})
                        n += 1
                    if len(batch) == 25:
                        _batch_write(client, table, batch)
                        batch = []
            if batch:
                _batch_write(client, table, batch)
        return n

    def _restore_sqs(self, src: Path) -> int:
        backend = _sqs_backend(self.region)
        n = 0
        for name, messages in json.loads((src / "sqs.json").read_text()).items():
            if name not in backend.queues:
                log.warning("snapshot: queue %s no longer exists; %d messages skipped", name, len(messages))
                continue
            for m in messages:
                msg = backend.send_message(name, m["body"], message_attributes=_unjsonable(m["message_attributes"]),
                                           delay_seconds=int(m.get("delay_s") or 0),
                                           deduplication_id=m.get("deduplication_id"), group_id=m.get("group_id"),
                                           system_attributes=_unjsonable(m.get("system_attributes") or {}),
                                           validate_group_id=False)
                msg.id = m["id"]
                msg.sender_id = m.get("sender_id") or msg.sender_id
                if m.get("sent_timestamp"):
                    msg.sent_timestamp = m["sent_timestamp"]
                msg.approximate_first_receive_timestamp = m.get("first_receive_timestamp")
                msg.approximate_receive_count = int(m.get("receive_count") or 0)
                n += 1
        return n

    def _restore_executions(self, src: Path) -> int:
        sfn = self.client("stepfunctions")
        arns = {a.rsplit(":", 1)[-1]: a for a in self.targets.state_machines}
        n = 0
        for e in json.loads((src / "stepfunctions.json").read_text()):
            arn = arns.get(e["state_machine"])
            if arn is None:
                log.warning("snapshot: state machine %s no longer exists; %s skipped", e["state_machine"], e["name"])
                continue
            payload = e["input"]
            if e.get("due_at") is not None:
                try:
                    data = json.loads(payload)
                except ValueError:
                    data = None
                if isinstance(data, dict):
                    data["wait_seconds"] = max(0, math.ceil(e["due_at"] - time.time()))
                    payload = json.dumps(data)
            try:
                sfn.start_execution(stateMachineArn=arn, name=e["name"], input=payload)
                n += 1
            except Exception as exc:  # ExecutionAlreadyExists: already restarted
                if "ExecutionAlreadyExists" not in repr(exc):
                    raise
        return n

    def _restore_cognito(self, src: Path) -> int:
        """Users back into the freshly created pools, with their sub, password and status."""
        path = src / "cognito.json"
        if not path.is_file():  # a snapshot from before logins were kept
            return 0
        from moto.cognitoidp.models import CognitoIdpUser, UserStatus
        backend = _cognito_backend(self.region)
        n = 0
        for name, users in json.loads(path.read_text()).items():
            pool = backend.user_pools.get(self.targets.user_pools.get(name, ""))
            if pool is None:
                log.warning("snapshot: user pool %s no longer exists; %d logins skipped", name, len(users))
                continue
            for r in users:
                user = CognitoIdpUser(pool.id, r["username"], r["password"], UserStatus(r["status"]),
                                      [dict(a) for a in r["attributes"]])
                user.id = r["sub"]                    # the constructor minted a new one
                user.update_attributes([{"Name": "sub", "Value": r["sub"]}])
                user.enabled = bool(r.get("enabled", True))
                user.create_date = _from_iso(r.get("created")) or user.create_date
                user.last_modified_date = _from_iso(r.get("modified")) or user.last_modified_date
                pool.users[user.username] = user
                n += 1
        return n


# ----------------------------------------------------------------------------- file helpers

def _write_json(path: Path, value: Any, private: bool = False) -> None:
    if private:  # created 0600 (holds passwords), never world-readable even for a moment
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    with open(path, "w") as f:
        json.dump(value, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _batch_write(client: Any, table: str, requests: list[dict[str, Any]]) -> None:
    pending = {table: requests}
    for attempt in range(10):
        resp = client.batch_write_item(RequestItems=pending)
        pending = resp.get("UnprocessedItems") or {}
        if not pending:
            return
        time.sleep(0.05 * (attempt + 1))
    raise RuntimeError(f"restore of {table}: items left unprocessed")
