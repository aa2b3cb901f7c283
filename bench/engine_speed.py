"""Engine speed against bcftools csq, same input, same model, same FASTA, in one run.

Usage: python -m bench.engine_speed [--n 1000000] [--workdir DIR] [--repeat 3]
Prints one JSON object per line: the anchor, GAS, their ratio, memory for the input once and
twice over (flat memory: the same peak when the input doubles), and the course's premium_3.vcf.
The two tools run alternately `--repeat` times and the ratio is of the median walls: on a shared
2-core VM one tool's wall alone moved by up to 30 % between minutes (bcftools 2.55-3.38 s on the
same input, 2026-11-28), so a single pair can land on either side of a target.
Memory of GAS is the summed peak RSS of its processes (bench/measure.py says why).
Both walls include loading the model (a cold process each), as a user running either tool sees.
"""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from bench.anchor import Run, bcftools_csq, repeated_vcf, run_measured, synthetic_vcf
from bench.models import gas_command, prepare

COURSE = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "course"


def count_records(vcf: Path) -> int:
    import gzip
    opener = gzip.open if vcf.suffix == ".gz" else open
    with opener(vcf, "rt") as f:
        return sum(1 for line in f if not line.startswith("#"))


def main() -> int:
    ready = prepare("engine_speed", options=lambda p: p.add_argument(
        "--repeat", type=int, default=3, help="runs of each tool, alternating (median reported)"))
    if ready is None:
        return 1
    args, work, fasta, gff3 = ready
    big = synthetic_vcf(work / f"synth{args.n}.vcf.gz", fasta, args.n)
    double = repeated_vcf(big, work / f"synth{args.n}x2.vcf.gz", 2)
    n_big = count_records(big)

    repeat = max(1, args.repeat)
    anchors, gases = [], []
    for _ in range(repeat):
        anchors.append(bcftools_csq(big, gff3, fasta, work / "bcftools.vcf.gz"))
        gases.append(run_measured(gas_command(big, work / "gas", fasta)))
    gas_double = run_measured(gas_command(double, work / "gas-double", fasta))
    for name, r in [("bcftools", a) for a in anchors] + [("gas", g) for g in gases] + [("gas_double", gas_double)]:
        if r.returncode != 0:
            print(json.dumps({"bench": "engine_speed", "error": f"{name} failed", "stderr": r.stderr}))
            return 1
    anchor, gas = _median_run(anchors), _median_run(gases)
    print(json.dumps({
        "bench": "engine_speed", "input": f"{n_big} synthetic chr20 variants (90% SNVs)",
        "model": "GRCh37 GENCODE v19 whole genome (bundle; GFF3 written from it for bcftools)",
        "anchor": "bcftools csq -l, VCF.gz out",
        "anchor_wall_s": round(anchor.wall_s, 3), "anchor_peak_rss_mb": round(anchor.peak_rss_mb, 1),
        "gas_wall_s": round(gas.wall_s, 3), "gas_peak_rss_mb": round(gas.peak_rss_mb, 1),
        "gas_peak_tree_rss_mb": round(gas.peak_tree_rss_mb, 1),
        "ratio_gas_to_anchor": round(gas.wall_s / anchor.wall_s, 3),
        "runs": len(gases), "anchor_walls_s": [round(r.wall_s, 2) for r in anchors],
        "gas_walls_s": [round(r.wall_s, 2) for r in gases],
        "pair_ratios": [round(g.wall_s / a.wall_s, 2) for a, g in zip(anchors, gases)],
        "gas_variants_per_s": round(n_big / gas.wall_s),
        "anchor_variants_per_s": round(n_big / anchor.wall_s),
    }))
    print(json.dumps({
        "bench": "engine_memory", "measure": "sum of the peak RSS of gas and its reader process (an upper bound of the peak)",
        "input": "the same records once and twice over (flat memory: the same peak)",
        "records": n_big, "peak_mb": round(gas.peak_tree_rss_mb, 1),
        "double_records": 2 * n_big, "double_peak_mb": round(gas_double.peak_tree_rss_mb, 1),
        "double_wall_s": round(gas_double.wall_s, 3),
        "growth_ratio": round(gas_double.peak_tree_rss_mb / gas.peak_tree_rss_mb, 3),
    }))
    course = COURSE / "premium_3.vcf"
    if course.exists():    # a sub-second run: its wall varies more than the 1M run's, so a median too
        runs = [run_measured(gas_command(course, work / "course", None)) for _ in range(repeat)]
        r = _median_run(runs)
        n = count_records(course)
        print(json.dumps({"bench": "engine_course", "input": "premium_3.vcf", "records": n,
                          "wall_s": round(r.wall_s, 3), "variants_per_s": round(n / r.wall_s),
                          "walls_s": [round(x.wall_s, 2) for x in runs],
                          "peak_tree_rss_mb": round(r.peak_tree_rss_mb, 1),
                          "ok": all(x.returncode == 0 for x in runs)}))
    return 0


def _median_run(runs: list[Run]) -> Run:
    """The run with the median wall (the lower middle one for an even count); its peak memory is
    replaced by the highest of all runs, so memory is never understated."""
    mid = sorted(runs, key=lambda r: r.wall_s)[(len(runs) - 1) // 2]
    return replace(mid, peak_rss_mb=max(r.peak_rss_mb for r in runs),
                   peak_tree_rss_mb=max(r.peak_tree_rss_mb for r in runs))


if __name__ == "__main__":
    sys.exit(main())
