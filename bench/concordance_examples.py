"""Examples of each GAS / bcftools csq disagreement class (see bench/concordance.py, docs/concordance.md).

Usage: python -m bench.concordance_examples [--workdir /tmp/bench] [--n 1000000] [--examples 3]

Reads what `python -m bench.concordance` left in the workdir (the synthetic VCF, bcftools's
output and GAS's transcripts.parquet) and prints, per disagreement class, a few variants with
our rows on protein-coding transcripts and bcftools's BCSQ entries for the same variant.
"""
from __future__ import annotations

import argparse
import gzip
import sys
from collections import defaultdict
from pathlib import Path

import pandas as pd

from bench.concordance import bcftools_calls, gas_calls

COLUMNS = ["transcript", "strand", "consequence", "exon", "intron", "cds_pos", "codons", "amino_acids",
           "hgvs_c", "hgvs_p"]


def bcsq_entries(vcf_gz: Path, keys: set[tuple[int, str, str]]) -> dict[tuple[int, str, str], str]:
    out = {}
    with gzip.open(vcf_gz, "rt") as f:
        for line in f:
            if line.startswith("#"):
                continue
            c = line.rstrip("\n").split("\t")
            k = (int(c[1]), c[3], c[4])
            if k in keys:
                out[k] = next((x[5:] for x in c[7].split(";") if x.startswith("BCSQ=")), "")
    return out


def main() -> int:
    from bench.models import coding_transcripts
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--workdir", default="/tmp/bench")
    p.add_argument("--examples", type=int, default=3)
    p.add_argument("--only", default=None, help="substring of a class name")
    args = p.parse_args()
    work = Path(args.workdir)
    coding = coding_transcripts("GRCh37")
    tx_parquet = work / "gas" / f"synth{args.n}.transcripts.parquet"
    gas = gas_calls(tx_parquet, coding)
    bcf = bcftools_calls(work / "bcftools.vcf.gz")
    classes: dict[str, list] = defaultdict(list)
    for k in sorted(set(gas) | set(bcf)):
        g, b = gas.get(k, "none"), bcf.get(k, "none")
        if g != b:
            classes[f"gas={g} bcftools={b}"].append(k)
    picked = {k for name, ks in classes.items() if not args.only or args.only in name
              for k in ks[:args.examples]}
    bcsq = bcsq_entries(work / "bcftools.vcf.gz", picked)
    df = pd.read_parquet(tx_parquet, columns=["pos", "ref", "alt", *COLUMNS])
    df = df[df["transcript"].isin(coding)]
    df = df[pd.Series(list(zip(df["pos"], df["ref"], df["alt"])), index=df.index).isin(picked)]
    rows = {k: g for k, g in df.groupby(["pos", "ref", "alt"])}
    pd.set_option("display.width", 250)
    pd.set_option("display.max_colwidth", 60)
    for name, ks in sorted(classes.items(), key=lambda kv: -len(kv[1])):
        if args.only and args.only not in name:
            continue
        print(f"=== {name}: {len(ks)}")
        for k in ks[:args.examples]:
            print(f"--- 20:{k[0]} {k[1]}>{k[2]}")
            print(f"  bcftools: {bcsq.get(k, '(no BCSQ)')}")
            if k in rows:
                print("  " + rows[k][COLUMNS].to_string(index=False).replace("\n", "\n  "))
            else:
                print("  gas: no rows on protein-coding transcripts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
