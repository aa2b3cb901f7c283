"""A tiny genome with one designed coding gene, built as a real GFF3 bundle + FASTA.

GENE1 (+ strand) on contig 1: exon1 101-200, exon2 301-400; CDS 151-200 and 301-313 (stop
codon 311-313 included). CDS = ATG AAA*15 TG|G GAA GAA GAA TAA  -> M K*15 W E E E *.
"""
from __future__ import annotations

import random
from pathlib import Path


CONTIG_LEN = 12_000
CDS1 = "ATG" + "AAA" * 15 + "TG"          # 151-200 (50 bases)
CDS2 = "G" + "GAA" * 3 + "TAA"            # 301-313 (13 bases)

GFF3 = """##gff-version 3
1\ttest\tgene\t101\t400\t.\t+\t.\tID=gene:G1;Name=GENE1;biotype=protein_coding
1\ttest\tmRNA\t101\t400\t.\t+\t.\tID=transcript:T1;Parent=gene:G1;biotype=protein_coding
1\ttest\texon\t101\t200\t.\t+\t.\tParent=transcript:T1
1\ttest\texon\t301\t400\t.\t+\t.\tParent=transcript:T1
1\ttest\tCDS\t151\t200\t.\t+\t0\tID=CDS:P1;Parent=transcript:T1
1\ttest\tCDS\t301\t313\t.\t+\t1\tID=CDS:P1;Parent=transcript:T1
"""


def tiny_sequence() -> str:
    rnd = random.Random(7)
    seq = [rnd.choice("ACGT") for _ in range(CONTIG_LEN)]
    seq[150:200] = CDS1
    seq[300:313] = CDS2
    seq[200:202] = "GT"   # canonical donor
    seq[298:300] = "AG"   # canonical acceptor
    return "".join(seq)


def write_vcf(path: Path, records: list[str], samples: bool = False) -> Path:
    cols = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO" + ("\tFORMAT\tS1" if samples else "")
    path.write_text("##fileformat=VCFv4.2\n##contig=<ID=1>\n" + cols + "\n" + "".join(r + "\n" for r in records))
    return path
