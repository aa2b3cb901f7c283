"""Driving the embedded stack as a user does: `gas up` as a subprocess, the CLI from outside."""
from __future__ import annotations

import signal
import socket
import subprocess
import urllib.request
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def gas(env: dict, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gas.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, check=check, timeout=300)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(env: dict, log: Path, workers: int = 2, extra: list[str] | None = None,
          ui_port: int | None = None) -> subprocess.Popen:
    """`gas up` in the background (GRCh37), returned once `gas status` says it is ready.
    With `ui_port` the web app is served there too (and awaited on its health endpoint)."""
    args = extra or ["--archive-delay", "3600"]
    ui = ["--ui-port", str(ui_port)] if ui_port else ["--no-ui"]
    proc = subprocess.Popen([sys.executable, "-m", "gas.cli", "up", *ui, "--workers", str(workers),
                             "--genome", "GRCh37", *args], env=env, cwd=ROOT, stdout=open(log, "w"),  # noqa: SIM115
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if gas(env, "status", check=False).returncode == 0 and (ui_port is None or _healthy(ui_port)):
            return proc
        assert proc.poll() is None, log.read_text()
        time.sleep(0.5)
    proc.kill()
    raise AssertionError("stack not ready in 60 s:\n" + log.read_text())


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
