"""Names of every AWS resource GAS uses, read from the environment.

template.yaml passes these same variables to every function (Globals) and to the annotator's
launch template; the embedded stack (`gas up`) sets them from the same template. Defaults are
the logical names used locally, so unit tests and a notebook work without any environment.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Settings:
    stack: str = "gas"
    region: str = "us-east-1"
    # storage
    inputs_bucket: str = "gas-inputs"
    results_bucket: str = "gas-results"
    # database
    jobs_table: str = "gas-jobs"
    users_table: str = "gas-users"
    sessions_table: str = "gas-sessions"
    # sign-in (Cognito user pool; the embedded stack provisions one in moto)
    user_pool_id: str = ""
    user_pool_client_id: str = ""
    signup_auto_confirm: int = 0      # 1 on the embedded stack: no e-mailed confirmation codes there
    session_ttl_s: int = 7 * 24 * 3600
    # messaging (topics carry ARNs in AWS; queue names resolve to URLs through the client)
    job_requests_topic: str = "gas-job-requests"
    job_results_topic: str = "gas-job-results"
    archive_topic: str = "gas-archive"
    thaw_topic: str = "gas-thaw"
    restore_topic: str = "gas-restore"
    requests_queue: str = "gas-requests"
    results_queue: str = "gas-results"
    archive_queue: str = "gas-archive"
    thaw_queue: str = "gas-thaw"
    restore_queue: str = "gas-restore"
    archive_state_machine: str = "gas-archive-wait"
    # behaviour
    archive_delay_s: int = 300
    free_upload_limit_bytes: int = 150 * 1024 * 1024
    premium_upload_limit_bytes: int = 5 * 1024 * 1024 * 1024
    presigned_ttl_s: int = 300
    sender_email: str = "gas@example.org"
    app_url: str = "http://127.0.0.1:8501"
    genome: str = "GRCh38"

    # environment variable for each field: GAS_<FIELD> (e.g. GAS_JOBS_TABLE)
    @staticmethod
    def env_name(field_name: str) -> str:
        return f"GAS_{field_name.upper()}"

    @classmethod
    def from_env(cls) -> "Settings":
        values = {}
        for f in fields(cls):
            raw = os.environ.get(cls.env_name(f.name))
            if raw:
                values[f.name] = int(raw) if f.type in ("int", int) else raw
        if "region" not in values and os.environ.get("AWS_REGION"):
            values["region"] = os.environ["AWS_REGION"]
        return cls(**values)
