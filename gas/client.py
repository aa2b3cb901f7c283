"""The Python client of a running local stack (`gas up`), and the helpers the CLI shares.

    from gas.client import Client
    c = Client(user="alice")                 # data dir: argument, $GAS_DATA_DIR, ~/.local/share/gas
    job = c.submit("sample.vcf")             # waits until COMPLETED/FAILED by default
    c.jobs()                                 # pandas DataFrame, newest first
    df = c.results(job["job_id"])            # the NAME.parquet result as a DataFrame

It talks to the stack the way the UI does: endpoint and environment from ``<data_dir>/stack.json``
(written by `gas up`), the user's plan and ownership from the tables, uploads through a presigned
POST (`gas.submit`). With a `user`, every read of a job is ownership-checked
(`JobStore.get_for_user`): another user's job and a missing one are the same "no such job".
"""
from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from gas import aws, storage
from gas.downloads import ARCHIVED_MESSAGE, RESTORING_MESSAGE, unavailable_reason  # noqa: F401 (re-exported)
from gas.jobs import Job, Status
from gas.settings import Settings

JOB_FIELDS = ("job_id", "user", "user_id", "status", "progress", "input_file", "input_size", "genome",
              "submitted_at", "started_at", "completed_at", "variants", "error", "results", "archived_at")


class GasClientError(RuntimeError):
    """Base of the client's refusals; the message is one line for the user."""


class StackNotRunning(GasClientError):
    pass


class NoSuchUser(GasClientError, LookupError):
    pass


class NoSuchJob(GasClientError, LookupError):
    pass


class UserExists(GasClientError):
    pass


class ResultsUnavailable(GasClientError):
    pass


class JobFailed(GasClientError):
    def __init__(self, job: dict[str, Any]) -> None:
        super().__init__(f"job {job['job_id']} FAILED: {job.get('error') or 'no reason recorded'}")
        self.job = job


# ----------------------------------------------------------------------------- the stack

def data_dir_of(data_dir: str | Path | None) -> Path:
    from gas.local.stack import default_data_dir
    return Path(data_dir) if data_dir else default_data_dir()


def stack_info(data_dir: str | Path | None) -> dict[str, Any]:
    """stack.json of a ready stack (endpoint, env, ...); StackNotRunning with the reason otherwise."""
    from gas.local.stack import status
    info = status(data_dir_of(data_dir))
    if not info.get("ready"):
        raise StackNotRunning(f"{info.get('reason', 'no stack running')}; start one with `gas up`")
    return info


@contextmanager
def stack_environment(env: dict[str, str]) -> Iterator[None]:
    """Point boto3 and `Settings.from_env` at the stack for the duration; restores os.environ."""
    from gas.local.environ import patched_environ
    from gas.local.stack import CLEARED_ENV
    with patched_environ(env, clear=CLEARED_ENV):
        yield


def job_view(job: Job, user_name: str | None = None) -> dict[str, Any]:
    """The user-facing fields of a job (what `gas job --json` prints)."""
    return {"job_id": job.job_id, "user": user_name or job.user_id, "user_id": job.user_id,
            "status": job.status.value, "progress": job.progress, "input_file": job.input_file,
            "input_size": job.input_size, "genome": job.genome, "submitted_at": job.submitted_at,
            "started_at": job.started_at, "completed_at": job.completed_at, "variants": job.variants,
            "error": job.error, "results": job.results_state.value, "archived_at": job.archived_at}


def parquet_key(job: Job) -> str | None:
    """The job's NAME.parquet result (not NAME.transcripts.parquet)."""
    keys = [k for k in job.result_keys if k.endswith(".parquet") and not k.endswith(".transcripts.parquet")]
    return keys[0] if keys else None


# ----------------------------------------------------------------------------- the client

class Client:
    """A user's view of the local stack (or an operator's, without `user`)."""

    def __init__(self, data_dir: str | Path | None = None, user: str | None = None) -> None:
        self.data_dir = data_dir_of(data_dir)
        self.user_name = user
        self._info: dict[str, Any] | None = None

    # -- plumbing ------------------------------------------------------------------------

    @contextmanager
    def _env(self) -> Iterator[Settings]:
        if self._info is None:
            self._info = stack_info(self.data_dir)
        with stack_environment(self._info.get("env") or {}):
            yield Settings.from_env()

    def _stores(self, settings: Settings) -> tuple[Any, Any]:
        from gas.store import JobStore
        from gas.users import UserStore
        return JobStore(settings), UserStore(settings)

    def _require_user(self, users: Any, name: str | None = None) -> Any:
        name = name or self.user_name
        if not name:
            raise NoSuchUser("no user given (Client(user=...) or --user NAME)")
        user = users.by_name(name)
        if user is None:
            raise NoSuchUser(f"no such user: {name}")
        return user

    def _get(self, settings: Settings, job_id: str) -> tuple[Job, str | None]:
        jobs, users = self._stores(settings)
        if self.user_name:
            user = self._require_user(users)
            job, name = jobs.get_for_user(job_id, user.user_id), user.name
        else:
            job = jobs.get(job_id)
            owner = users.get(job.user_id) if job is not None else None
            name = owner.name if owner else None
        if job is None:
            raise NoSuchJob(f"no such job: {job_id}")
        return job, name

    # -- users ---------------------------------------------------------------------------

    def add_user(self, name: str, email: str, plan: str = "free", password: str | None = None) -> dict[str, Any]:
        """A user who can sign in to the web app: the Cognito login (confirmed, permanent
        password, no e-mail sent; user id = its sub) and the users-table user. Without
        `password` one that satisfies the pool's policy is generated and returned once, as
        ``"password"`` in the result."""
        from gas.auth import Auth, AuthError, InvalidInput, NameTaken
        with self._env() as settings:
            try:
                user, generated = Auth(settings, users=self._stores(settings)[1]).create_login(
                    name, email, plan, password=password)
            except NameTaken as exc:
                raise UserExists(str(exc)) from exc
            except InvalidInput as exc:
                raise GasClientError(f"invalid user: {exc}") from exc
            except AuthError as exc:
                raise GasClientError(str(exc)) from exc
            out = user.model_dump(mode="json")
            if generated is not None:
                out["password"] = generated
            return out

    def user(self, name: str | None = None) -> dict[str, Any]:
        with self._env() as settings:
            return self._require_user(self._stores(settings)[1], name).model_dump(mode="json")

    # -- jobs ----------------------------------------------------------------------------

    def submit(self, path: str | Path, wait: bool = True, *, progress: Callable[[dict[str, Any]], None] | None = None,
               poll_s: float = 0.5, timeout: float | None = None) -> dict[str, Any]:
        """Submit a local VCF as `user`; with `wait`, return once it is COMPLETED or FAILED
        (a FAILED job is returned, not raised: look at its status and error)."""
        from gas.submit import Source, submit
        source = Source.from_path(path)  # a missing file fails before the stack is asked
        with self._env() as settings:
            _, users = self._stores(settings)
            user = self._require_user(users)
            job = submit(source, user, settings=settings)
        view = job_view(job, user.name)
        if progress:
            progress(view)
        return self.wait(job.job_id, progress=progress, poll_s=poll_s, timeout=timeout) if wait else view

    def wait(self, job_id: str, *, progress: Callable[[dict[str, Any]], None] | None = None,
             poll_s: float = 0.5, timeout: float | None = None) -> dict[str, Any]:
        """Poll until COMPLETED or FAILED; `progress(job)` is called on every change."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last = None
        while True:
            view = self.job(job_id)
            state = (view["status"], view["progress"])
            if progress and state != last:
                progress(view)
            last = state
            if view["status"] in (Status.COMPLETED.value, Status.FAILED.value):
                return view
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job_id} still {view['status']} after {timeout:g} s")
            time.sleep(poll_s)

    def job(self, job_id: str) -> dict[str, Any]:
        with self._env() as settings:
            job, name = self._get(settings, job_id)
            return job_view(job, name)

    def job_list(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The user's jobs, newest first (Query on the by_user index, page by page)."""
        with self._env() as settings:
            jobs, users = self._stores(settings)
            user = self._require_user(users)
            out = []
            for job in jobs.iter_for_user(user.user_id):
                out.append(job_view(job, user.name))
                if limit is not None and len(out) >= limit:
                    break
            return out

    def jobs(self, limit: int | None = None) -> Any:
        import pandas as pd
        return pd.DataFrame(self.job_list(limit), columns=list(JOB_FIELDS))

    # -- results -------------------------------------------------------------------------

    def download(self, job_id: str, dest: str | Path) -> Path:
        """Download the job's NAME.parquet to `dest` (ownership-checked when a user is set)."""
        dest = Path(dest)
        with self._env() as settings:
            job, _ = self._get(settings, job_id)
            reason = unavailable_reason(job)
            if reason:
                raise ResultsUnavailable(reason)
            key = parquet_key(job)
            if key is None or not storage.key_belongs_to(key, job.user_id, job.job_id):
                raise ResultsUnavailable(f"job {job_id} has no parquet result")
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".gas-", suffix=".part", dir=dest.parent)
            os.close(fd)
            try:
                aws.s3(settings.region).download_file(settings.results_bucket, key, tmp)
                os.replace(tmp, dest)
            except ClientError as exc:
                if aws.error_code(exc) in ("InvalidObjectState", "403"):
                    raise ResultsUnavailable(ARCHIVED_MESSAGE) from exc
                if aws.error_code(exc) in ("404", "NoSuchKey"):
                    raise ResultsUnavailable(f"job {job_id}: the result object is missing") from exc
                raise
            finally:
                Path(tmp).unlink(missing_ok=True)
            return dest

    def results(self, job_id: str) -> Any:
        """The job's NAME.parquet as a pandas DataFrame (downloaded to a temporary file)."""
        import pandas as pd
        with tempfile.TemporaryDirectory(prefix="gas-results-") as d:
            path = self.download(job_id, Path(d) / "results.parquet")
            return pd.read_parquet(path)

    # -- mail ----------------------------------------------------------------------------

    def outbox(self) -> list[dict[str, Any]]:
        """Emails the stack sent, oldest first (no running stack needed)."""
        from gas.local.outbox import read_outbox
        return read_outbox(self.data_dir)
