"""Agreement of GAS with bcftools csq on the most severe *coding* consequence per variant.

Usage: python -m bench.concordance [--n 1000000]   (prints one JSON line)

The comparison: for each variant, the most severe term (VEP order) among the coding terms
(so.CODING) over its protein-coding transcripts (bcftools csq calls only `non_coding` on the
others), from each tool; 'none' when a tool has no coding term.
Agreement is reported over the variants where at least one tool has a coding term, so the
non-coding majority cannot inflate it. Disagreement classes are explained in docs/concordance.md.
"""
from __future__ import annotations

import gzip
import json
import sys
from collections import Counter
from pathlib import Path

import pandas as pd

from annotator.engine import so

BCFTOOLS_TO_SO = {
    "missense": "missense_variant", "synonymous": "synonymous_variant", "stop_gained": "stop_gained",
    "stop_lost": "stop_lost", "stop_retained": "stop_retained_variant", "start_lost": "start_lost",
    "start_retained": "start_retained_variant", "frameshift": "frameshift_variant",
    "inframe_deletion": "inframe_deletion", "inframe_insertion": "inframe_insertion",
    "inframe_altering": "protein_altering_variant", "splice_donor": "splice_donor_variant",
    "splice_acceptor": "splice_acceptor_variant", "splice_region": "splice_region_variant",
    "coding_sequence": "coding_sequence_variant", "intron": "intron_variant",
    "5_prime_utr": "5_prime_UTR_variant", "3_prime_utr": "3_prime_UTR_variant",
    "non_coding": "non_coding_transcript_exon_variant",
}
RANK = {name: i for i, name in enumerate(so.NAMES)}


def most_severe_coding(terms: set[str]) -> str:
    coding = [t for t in terms if t in so.CODING]
    return min(coding, key=RANK.__getitem__) if coding else "none"


def bcftools_calls(vcf_gz: Path) -> dict[tuple[int, str, str], str]:
    out: dict[tuple[int, str, str], str] = {}
    with gzip.open(vcf_gz, "rt") as f:
        for line in f:
            if line.startswith("#"):
                continue
            c = line.rstrip("\n").split("\t")
            terms: set[str] = set()
            for field in c[7].split(";"):
                if field.startswith("BCSQ="):
                    for entry in field[5:].split(","):
                        if entry[:1] in "@*":
                            continue
                        for t in entry.split("|")[0].split("&"):
                            if t in BCFTOOLS_TO_SO:
                                terms.add(BCFTOOLS_TO_SO[t])
            out[(int(c[1]), c[3], c[4])] = most_severe_coding(terms)
    return out


def gas_calls(transcripts_parquet: Path, coding_transcripts: set[str]) -> dict[tuple[int, str, str], str]:
    df = pd.read_parquet(transcripts_parquet, columns=["pos", "ref", "alt", "transcript", "consequence"])
    df = df[df["transcript"].isin(coding_transcripts)]
    out: dict[tuple[int, str, str], str] = {}
    for (pos, ref, alt), cons in df.groupby(["pos", "ref", "alt"], sort=False)["consequence"]:
        terms = set("&".join(cons.tolist()).split("&"))
        out[(int(pos), ref, alt)] = most_severe_coding(terms)
    return out


FS_STOP = {("frameshift_variant", "stop_gained"), ("stop_gained", "frameshift_variant")}


def compare(gas: dict, bcf: dict) -> dict:
    """`agreement` is the strict measure. `agreement_fs_stop_equal` also counts frameshift vs
    stop_gained as agreeing: the two tools define stop_gained on a frameshift differently by
    design (docs/concordance.md), it is reported separately and never replaces `agreement`."""
    keys = set(gas) | set(bcf)
    pairs = Counter((gas.get(k, "none"), bcf.get(k, "none")) for k in keys)
    coding = sum(c for (g, b), c in pairs.items() if g != "none" or b != "none")
    agree = sum(c for (g, b), c in pairs.items() if g == b and g != "none")
    fs_stop = sum(c for gb, c in pairs.items() if gb in FS_STOP)
    disagreements = {f"gas={g} bcftools={b}": c for (g, b), c in pairs.most_common() if g != b}
    return {"variants": len(keys), "coding_variants": coding, "agree": agree,
            "agreement": round(agree / coding, 5) if coding else None,
            "agreement_fs_stop_equal": round((agree + fs_stop) / coding, 5) if coding else None,
            "disagreements": dict(list(disagreements.items())[:25])}


def main() -> int:
    from bench.anchor import bcftools_csq, synthetic_vcf
    from bench.models import coding_transcripts, gas_annotate, prepare
    ready = prepare("concordance")
    if ready is None:
        return 1
    args, work, fasta, gff3 = ready
    vcf = synthetic_vcf(work / f"synth{args.n}.vcf.gz", fasta, args.n)
    bcf_out = work / "bcftools.vcf.gz"
    run = bcftools_csq(vcf, gff3, fasta, bcf_out)
    if run.returncode != 0:
        print(json.dumps({"bench": "concordance", "error": run.stderr}))
        return 1
    result = gas_annotate(vcf, work / "gas", fasta)
    stats = compare(gas_calls(result / f"synth{args.n}.transcripts.parquet", coding_transcripts("GRCh37")),
                    bcftools_calls(bcf_out))
    print(json.dumps({"bench": "concordance", "anchor": "bcftools csq -l", "model": "GRCh37 (GENCODE v19) whole genome",
                      "input": f"{args.n} synthetic chr20 variants", **stats}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
