"""Print the measurements a reliability run recorded (one JSON line per fault run), as a table.

    python -m tests.reliability.report [build/reliability/measurements.jsonl]
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.reliability.harness import MEASUREMENTS

KEYS = ("jobs", "kills", "kills_mid_job", "restarts", "faults", "deliveries", "reruns", "completed",
        "failed_after_repeated_kills", "lost", "duplicate_emails", "wrong_result_sets", "dlq_messages", "wall_s")


def main(path: Path) -> int:
    if not path.is_file():
        print(f"no measurements in {path}", file=sys.stderr)
        return 1
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    print(f"{len(rows)} measurement(s) from {path}")
    for r in rows:
        shown = {k: r[k] for k in KEYS if k in r}
        rest = {k: v for k, v in r.items() if k not in shown and k not in ("test", "at", "argv", "full")}
        print(f"  {r['at']}  {r['test']:<26} {json.dumps(shown)}  {json.dumps(rest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else MEASUREMENTS))
