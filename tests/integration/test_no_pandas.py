"""An annotation run never imports pandas (annotator/engine/arrow.py says why: ~0.25 s of a
small job's ~0.6 s, and pyarrow's per-call checks for pandas objects once it is there).

Any `pa.array(...)`, `pa.scalar(...)`, `Array.to_numpy()` or plain Python value handed to a
compute function on the run path brings the import back; this test then fails and names it.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.integration.test_annotate import RECORDS, fix_refs
from tests.integration.tinygenome import write_vcf

_RUN = """
import json, sys
from pathlib import Path
import annotator.engine.annotate as A
import annotator.engine.readproc as readproc

def traced(name, path=None, target=None):
    if name == "pandas":
        import traceback
        stack = [f for f in traceback.extract_stack() if "/annotator/" in f.filename]
        print(json.dumps({"imported_by": f"{stack[-1].filename}:{stack[-1].lineno}" if stack else "?"}))
        sys.stdout.flush()
    return None

class Tracer:
    find_spec = staticmethod(traced)

sys.meta_path.insert(0, Tracer())
d = Path(sys.argv[1])
rows = 0
for child in (False, True):          # chunks parsed on a thread, and in the reader process
    readproc.PARSE_PROCESS_BYTES = 0 if child else 1 << 40
    for name in ("sites.vcf", "samples.vcf"):
        res = A.annotate(d / name, d / f"out-{child}-{name}", genome=sys.argv[2], cache_dir=Path(sys.argv[3]),
                         fasta=Path(sys.argv[4]), chunk_size=3, processes=0)
        rows += json.loads(res.summary.read_text())["transcript_rows"]
print(json.dumps({"rows": rows, "pandas": sorted(m for m in sys.modules if m.split(".")[0] == "pandas")}))
"""


def test_an_annotation_run_never_imports_pandas(tiny, tmp_path):
    records = fix_refs(tiny["seq"], RECORDS)
    write_vcf(tmp_path / "sites.vcf", records)
    # samples, and an old CSQ to drop: the other way the VCF text is rendered
    write_vcf(tmp_path / "samples.vcf", [r.replace("\tDP=", "\tCSQ=old|x;DP=") + "\tGT\t0/1" for r in records],
              samples=True)
    proc = subprocess.run([sys.executable, "-c", _RUN, str(tmp_path), str(tiny["bundle"]), str(tiny["cache"]),
                           str(tiny["fasta"])], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr[-2000:]
    reports = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert not [r for r in reports if "imported_by" in r], reports
    final = reports[-1]
    assert final["pandas"] == [] and final["rows"] >= 4 * len(records), final   # four runs, a row or more per record
