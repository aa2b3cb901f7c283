"""GFF3 in and out: read Ensembl/GENCODE gene models, write bcftools-csq-ready GFF3.

Reading (docs/bundles.md has the full rule):
* transcripts are the rows that exon/CDS rows name as Parent; genes are the rows those
  transcripts name as Parent (a transcript without one is its own gene);
* ids: `transcript_id`/`gene_id` attributes when present, else ID without an Ensembl
  "transcript:"/"gene:" prefix; names from Name/gene_name; biotype from
  biotype/transcript_type/transcript_biotype, else the gene's biotype/gene_type;
* the CDS span is the union of CDS and stop_codon rows, so it includes the stop codon
  whether the file's CDS rows include it (Ensembl GFF3) or not (GENCODE GFF3/GTF);
* CDS_START_COMPLETE unless the transcript is tagged cds_start_NF, or its 5'-most CDS
  row has a non-zero phase, or the file has start_codon rows but none for it;
  CDS_END_COMPLETE unless tagged cds_end_NF, or the file has stop_codon rows but none for it.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pandas as pd

from .compressed import open_text
from .errors import BundleError
from .model import CDS_END_COMPLETE, CDS_START_COMPLETE, Bundle, canonical_contig

_COLS = ["seqid", "source", "type", "start", "end", "score", "strand", "phase", "attrs"]
_PART_TYPES = {"exon", "CDS", "start_codon", "stop_codon"}
_KEYS = ("ID", "Parent", "Name", "gene_id", "gene_name", "transcript_id", "biotype", "gene_type",
         "gene_biotype", "transcript_type", "transcript_biotype", "tag")


def _read_text(path: Path) -> str:
    try:
        with open_text(path) as f:
            text = f.read()
    except (OSError, UnicodeDecodeError, EOFError) as e:
        raise BundleError(f"cannot read GFF3 {path}: {e}") from e
    cut = text.find("\n##FASTA")
    return text if cut < 0 else text[:cut + 1]


def _table(path: Path) -> pd.DataFrame:
    text = _read_text(path)
    if not text.lstrip().startswith("##gff-version 3"):
        raise BundleError(f"{path} is not GFF3 (no '##gff-version 3' header)")
    body = re.sub(r"(?m)^(#.*|\s*)(\n|$)", "", text)
    try:
        df = pd.read_csv(io.StringIO(body), sep="\t", header=None, names=_COLS, dtype=str,
                         quoting=csv.QUOTE_NONE, keep_default_na=False, na_values=[])
    except (pd.errors.ParserError, ValueError) as e:
        raise BundleError(f"malformed GFF3 {path}: {e}") from e
    except pd.errors.EmptyDataError:
        df = pd.DataFrame(columns=_COLS)
    df["attrs"] = df["attrs"].fillna("")
    bad = (df[_COLS[:8]] == "").any(axis=1) | df[_COLS[:8]].isna().any(axis=1)
    if bad.any():
        row = body.splitlines()[int(np.flatnonzero(bad.to_numpy())[0])]
        raise BundleError(f"malformed GFF3 {path}: a row has fewer than 9 tab-separated columns "
                          f"(or an empty one): {row[:120]!r}")
    for c in ("start", "end"):
        v = pd.to_numeric(df[c], errors="coerce")
        if v.isna().any():
            i = int(np.flatnonzero(v.isna().to_numpy())[0])
            raise BundleError(f"malformed GFF3 {path}: non-numeric {c} {df[c].iat[i]!r} in row {i + 1} of the data")
        df[c] = v.astype(np.int64)
    if (df["start"] > df["end"]).any() or (df["start"] < 1).any():
        i = int(np.flatnonzero(((df["start"] > df["end"]) | (df["start"] < 1)).to_numpy())[0])
        raise BundleError(f"malformed GFF3 {path}: bad interval {df['start'].iat[i]}-{df['end'].iat[i]} "
                          f"in row {i + 1} of the data")
    return df


def _attr(attrs: pd.Series, key: str) -> pd.Series:
    v = attrs.str.extract(rf"(?:^|;)\s*{key}=([^;]*)", expand=False)
    has_pct = v.str.contains("%", regex=False, na=False)
    if has_pct.any():
        v[has_pct] = v[has_pct].map(unquote)
    return v


def _strip(ids: pd.Series, prefix: str) -> pd.Series:
    return ids.str.replace(rf"^{prefix}:", "", regex=True)


def read_gff3(path: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str], dict]:
    """(transcripts, exons, contig aliases, stats) in the builder's neutral layout."""
    df = _table(Path(path))
    part = df["type"].isin(_PART_TYPES).to_numpy()
    parts = df[part].copy()
    parts["parent"] = _attr(parts["attrs"], "Parent")
    if parts["parent"].isna().any():
        i = int(np.flatnonzero(parts["parent"].isna().to_numpy())[0])
        r = parts.iloc[i]
        raise BundleError(f"malformed GFF3 {path}: {r['type']} at {r['seqid']}:{r['start']} has no Parent")
    parts = parts.assign(parent=parts["parent"].str.split(",")).explode("parent")
    feats = df[~part].copy()
    for k in _KEYS:
        feats[k] = _attr(feats["attrs"], k)
    tx = feats[feats["ID"].isin(set(parts.loc[parts["type"].isin(["exon", "CDS"]), "parent"]))]
    if tx.empty:
        raise BundleError(f"GFF3 {path} has no transcripts (no exon or CDS rows with a Parent)")
    if tx["ID"].duplicated().any():
        raise BundleError(f"GFF3 {path}: transcript ID {tx['ID'][tx['ID'].duplicated()].iat[0]!r} is used twice")
    bad_strand = ~tx["strand"].isin(["+", "-"])
    if bad_strand.any():
        raise BundleError(f"GFF3 {path}: transcript {tx['ID'][bad_strand].iat[0]!r} has strand "
                          f"{tx['strand'][bad_strand].iat[0]!r}, expected + or -")
    genes = feats[feats["ID"].notna()].drop_duplicates("ID").set_index("ID")
    gparent = tx["Parent"].str.split(",").str[0]
    g = genes.reindex(gparent.fillna(""))
    g.index = tx.index
    has_gene = gparent.notna() & gparent.isin(genes.index)

    tx_id = tx["transcript_id"].fillna(_strip(tx["ID"], "transcript"))
    gene_id = g["gene_id"].where(has_gene).fillna(_strip(gparent.where(has_gene), "gene"))
    gene_id = gene_id.fillna(tx["gene_id"]).fillna(tx_id)
    gene_name = g["Name"].fillna(g["gene_name"]).where(has_gene).fillna(tx["gene_name"]).fillna(gene_id)
    biotype = (tx["biotype"].fillna(tx["transcript_type"]).fillna(tx["transcript_biotype"])
               .fillna(g["biotype"]).fillna(g["gene_type"]).fillna(g["gene_biotype"]).fillna(""))

    row_of = pd.Series(np.arange(len(tx)), index=tx["ID"].to_numpy())
    parts = parts[parts["parent"].isin(row_of.index)]
    parts["tx"] = row_of.reindex(parts["parent"].to_numpy()).to_numpy()
    exons = parts[parts["type"] == "exon"]
    cds = parts[parts["type"] == "CDS"]
    stops = parts[parts["type"] == "stop_codon"]
    starts = parts[parts["type"] == "start_codon"]
    # transcripts with CDS rows but no exon rows: their CDS rows stand in for exons
    no_exon = np.setdiff1d(cds["tx"].unique(), exons["tx"].unique())
    exons = pd.concat([exons, cds[cds["tx"].isin(no_exon)]])
    ex = exons[["tx", "start", "end"]].drop_duplicates().reset_index(drop=True)
    n = len(tx)
    strand = np.where(tx["strand"].to_numpy() == "+", 1, -1).astype(np.int8)

    span = pd.concat([cds, stops])[["tx", "start", "end"]].groupby("tx").agg({"start": "min", "end": "max"})
    cds_start = np.zeros(n, np.int64)
    cds_end = np.zeros(n, np.int64)
    cds_start[span.index.to_numpy()] = span["start"].to_numpy()
    cds_end[span.index.to_numpy()] = span["end"].to_numpy()
    coding = np.zeros(n, bool)
    coding[cds["tx"].unique()] = True
    cds_start[~coding] = 0
    cds_end[~coding] = 0

    tags = tx["tag"].fillna("").to_numpy()
    start_nf = np.array(["cds_start_NF" in t for t in tags], bool)
    end_nf = np.array(["cds_end_NF" in t for t in tags], bool)
    # phase of the 5'-most CDS row
    c = cds.assign(fwd=strand[cds["tx"].to_numpy()] > 0)
    c = c.assign(k=np.where(c["fwd"], c["start"], -c["end"])).sort_values(["tx", "k"]).drop_duplicates("tx")
    bad_phase = np.zeros(n, bool)
    bad_phase[c["tx"].to_numpy()] = ~c["phase"].isin(["0", "."]).to_numpy()
    start_ok = ~start_nf & ~bad_phase
    if len(starts):
        start_ok &= np.isin(np.arange(n), starts["tx"].unique())
    end_ok = ~end_nf
    if len(stops):
        end_ok &= np.isin(np.arange(n), stops["tx"].unique())
    flags = (np.where(coding & start_ok, CDS_START_COMPLETE, 0)
             | np.where(coding & end_ok, CDS_END_COMPLETE, 0)).astype(np.uint8)

    ex_lo = ex.groupby("tx")["start"].min().reindex(range(n)).to_numpy()
    ex_hi = ex.groupby("tx")["end"].max().reindex(range(n)).to_numpy()
    seqid = tx["seqid"].to_numpy(dtype=object)
    aliases = {s: canonical_contig(s) for s in pd.unique(seqid)}
    out = pd.DataFrame({
        "contig": np.array([aliases[s] for s in seqid], dtype=object),
        "start": np.fmin(tx["start"].to_numpy(np.int64), ex_lo).astype(np.int64),
        "end": np.fmax(tx["end"].to_numpy(np.int64), ex_hi).astype(np.int64),
        "strand": strand, "cds_start": cds_start, "cds_end": cds_end, "flags": flags,
        "tx_id": tx_id.to_numpy(dtype=object), "gene_id": gene_id.to_numpy(dtype=object),
        "gene_name": gene_name.to_numpy(dtype=object), "biotype": biotype.to_numpy(dtype=object),
    })
    if out["tx_id"].duplicated().any():
        dup = out["tx_id"][out["tx_id"].duplicated()].iat[0]
        raise BundleError(f"GFF3 {path}: transcript id {dup!r} is used twice")
    genome = ""
    m = re.search(r"(?m)^#!genome-build\s+(?:\S+\s+)?(GRCh3[78])", _read_head(Path(path)))
    if m:
        genome = m.group(1)
    stats = {"genes": int(out["gene_id"].nunique()), "transcripts": n, "exons": int(len(ex)),
             "coding_transcripts": int(coding.sum()),
             "cds_start_complete": int((flags & CDS_START_COMPLETE > 0).sum()),
             "cds_end_complete": int((flags & CDS_END_COMPLETE > 0).sum()), "genome": genome}
    return out, ex, aliases, stats


def _read_head(path: Path, n: int = 64 * 1024) -> str:
    with open_text(path) as f:
        return f.read(n)


# ---------------------------------------------------------------- writing

def _cds_segments(b: Bundle, sel: np.ndarray) -> pd.DataFrame:
    """CDS pieces (exon ∩ CDS span) of the selected coding transcripts, with GFF3 phases."""
    coding = sel[b.tx_cds_start[sel] > 0]
    n_ex = b.tx_exon_off[coding + 1] - b.tx_exon_off[coding]
    tx = np.repeat(coding, n_ex)
    idx = np.concatenate([np.arange(b.tx_exon_off[t], b.tx_exon_off[t + 1]) for t in coding]) \
        if len(coding) else np.zeros(0, np.int64)
    s = np.maximum(b.ex_start[idx], b.tx_cds_start[tx])
    e = np.minimum(b.ex_end[idx], b.tx_cds_end[tx])
    keep = s <= e
    seg = pd.DataFrame({"tx": tx[keep], "start": s[keep], "end": e[keep]})
    fwd = b.tx_strand[seg["tx"].to_numpy()] > 0
    seg["k"] = np.where(fwd, seg["start"], -seg["end"])
    seg = seg.sort_values(["tx", "k"], kind="stable")
    length = (seg["end"] - seg["start"] + 1).to_numpy()
    before = seg.assign(n=length).groupby("tx")["n"].cumsum().to_numpy() - length
    # a 5'-incomplete CDS with an annotated stop starts mid-codon: its frame is fixed from the
    # 3' end (the same padding as TranscriptIndex.cds_pad), so the first phase is len % 3
    t = seg["tx"].to_numpy()
    total = seg.assign(n=length).groupby("tx")["n"].transform("sum").to_numpy()
    fl = b.tx_flags[t]
    pad = np.where(((fl & CDS_START_COMPLETE) == 0) & ((fl & CDS_END_COMPLETE) != 0), (3 - total % 3) % 3, 0)
    seg["phase"] = ((3 - (before + pad) % 3) % 3).astype(str)
    return seg


def _utr_segments(b: Bundle, sel: np.ndarray) -> pd.DataFrame:
    """UTR pieces (exon parts outside the CDS span) of the selected coding transcripts."""
    coding = sel[b.tx_cds_start[sel] > 0]
    n_ex = b.tx_exon_off[coding + 1] - b.tx_exon_off[coding]
    tx = np.repeat(coding, n_ex)
    idx = np.concatenate([np.arange(b.tx_exon_off[t], b.tx_exon_off[t + 1]) for t in coding]) \
        if len(coding) else np.zeros(0, np.int64)
    es, ee, cs, ce = b.ex_start[idx], b.ex_end[idx], b.tx_cds_start[tx], b.tx_cds_end[tx]
    fwd = b.tx_strand[tx] > 0
    left = es < cs
    right = ee > ce
    parts = [
        pd.DataFrame({"tx": tx[left], "start": es[left], "end": np.minimum(ee, cs - 1)[left],
                      "type": np.where(fwd[left], "five_prime_UTR", "three_prime_UTR")}),
        pd.DataFrame({"tx": tx[right], "start": np.maximum(es, ce + 1)[right], "end": ee[right],
                      "type": np.where(fwd[right], "three_prime_UTR", "five_prime_UTR")}),
    ]
    return pd.concat(parts, ignore_index=True)


def write_gff3(bundle: Bundle, path: Path, contigs: list[str] | None = None) -> None:
    """Ensembl-style GFF3 of a bundle (genes, transcripts, exons, CDS with phases, UTRs), the form
    `bcftools csq -g` reads; `contigs` restricts it to some contigs (any spelling)."""
    b = bundle
    if contigs is None:
        sel = np.arange(b.n_transcripts)
    else:
        ids = [b.contig_id(c) for c in contigs]
        sel = np.flatnonzero(np.isin(b.tx_contig, [i for i in ids if i >= 0]))
    cname = np.asarray(b.contigs, dtype=object)
    strand = np.where(b.tx_strand[sel] > 0, "+", "-").astype(object)
    coding = b.tx_cds_start[sel] > 0

    txf = pd.DataFrame({"tx": sel, "contig": b.tx_contig[sel], "gene_id": b.gene_id[sel],
                        "start": b.tx_start[sel], "end": b.tx_end[sel], "strand": strand,
                        "coding": coding, "biotype": b.biotype[sel], "gene_name": b.gene_name[sel]})
    gk = ["contig", "gene_id"]
    genes = txf.groupby(gk, sort=False).agg(start=("start", "min"), end=("end", "max"), strand=("strand", "first"),
                                            coding=("coding", "any"), biotype=("biotype", "first"),
                                            gene_name=("gene_name", "first")).reset_index()
    pc = txf[txf["biotype"] == "protein_coding"].groupby(gk, sort=False).size().rename("pc").reset_index()
    genes = genes.merge(pc, on=gk, how="left")
    genes.loc[genes["pc"].notna(), "biotype"] = "protein_coding"  # a gene with any protein-coding transcript
    genes["g"] = np.arange(len(genes))
    genes = genes.sort_values(["contig", "start", "end", "g"])
    genes["order"] = np.arange(len(genes))
    txf = txf.merge(genes[gk + ["order"]], on=gk, how="left")

    def frame(contig, start, end, strand, ftype, phase, attrs, order, sub, rank) -> pd.DataFrame:
        return pd.DataFrame({"seqid": cname[np.asarray(contig)], "source": "GAS", "type": ftype,
                             "start": start, "end": end, "score": ".", "strand": strand, "phase": phase,
                             "attrs": attrs, "_o": order, "_s": sub, "_r": rank})

    gid = genes["gene_id"].astype(str)
    grow = frame(genes["contig"], genes["start"], genes["end"], genes["strand"], "gene", ".",
                 "ID=gene:" + gid + ";Name=" + genes["gene_name"].astype(str) + ";biotype="
                 + genes["biotype"].astype(str) + ";gene_id=" + gid,
                 genes["order"], -1, 0)
    tids = pd.Series(b.tx_id[txf["tx"]]).astype(str)
    fl = b.tx_flags[txf["tx"].to_numpy()]
    nf = np.where(~txf["coding"], "", np.where(fl & CDS_START_COMPLETE, "", "cds_start_NF")
                  + np.where(fl & CDS_END_COMPLETE, "", ",cds_end_NF"))
    nf = pd.Series(nf).str.strip(",")
    tags = np.where(nf == "", "", ";tag=" + nf)
    tx_sub = np.arange(len(txf))
    trow = frame(txf["contig"], txf["start"], txf["end"], txf["strand"],
                 np.where(txf["coding"], "mRNA", "transcript"), ".",
                 ("ID=transcript:" + tids + ";Parent=gene:" + txf["gene_id"].astype(str) + ";biotype="
                  + txf["biotype"].astype(str) + ";transcript_id=" + tids + tags).to_numpy(),
                 txf["order"], tx_sub, 0)
    sub_of = pd.Series(tx_sub, index=txf["tx"].to_numpy())
    order_of = pd.Series(txf["order"].to_numpy(), index=txf["tx"].to_numpy())
    tid_of = pd.Series(tids.to_numpy(), index=txf["tx"].to_numpy())
    strand_of = pd.Series(strand, index=sel)
    contig_of = pd.Series(b.tx_contig[sel], index=sel)

    n_ex = b.tx_exon_off[sel + 1] - b.tx_exon_off[sel]
    ex_tx = np.repeat(sel, n_ex)
    ex_idx = np.concatenate([np.arange(b.tx_exon_off[t], b.tx_exon_off[t + 1]) for t in sel]) \
        if len(sel) else np.zeros(0, np.int64)
    erow = frame(contig_of[ex_tx].to_numpy(), b.ex_start[ex_idx], b.ex_end[ex_idx], strand_of[ex_tx].to_numpy(),
                 "exon", ".", ("Parent=transcript:" + tid_of[ex_tx]).to_numpy(),
                 order_of[ex_tx].to_numpy(), sub_of[ex_tx].to_numpy(), 1)
    seg = _cds_segments(b, sel)
    st = seg["tx"].to_numpy()
    crow = frame(contig_of[st].to_numpy(), seg["start"].to_numpy(), seg["end"].to_numpy(), strand_of[st].to_numpy(),
                 "CDS", seg["phase"].to_numpy(), ("Parent=transcript:" + tid_of[st]).to_numpy(),
                 order_of[st].to_numpy(), sub_of[st].to_numpy(), 2)
    utr = _utr_segments(b, sel)
    ut = utr["tx"].to_numpy()
    urow = frame(contig_of[ut].to_numpy(), utr["start"].to_numpy(), utr["end"].to_numpy(), strand_of[ut].to_numpy(),
                 utr["type"].to_numpy(), ".", ("Parent=transcript:" + tid_of[ut]).to_numpy(),
                 order_of[ut].to_numpy(), sub_of[ut].to_numpy(), 3)
    rows = pd.concat([grow, trow, erow, crow, urow], ignore_index=True)
    rows = rows.sort_values(["_o", "_s", "_r", "start"], kind="stable").drop(columns=["_o", "_s", "_r"])
    with open(path, "w") as f:
        f.write("##gff-version 3\n")
        if b.genome:
            f.write(f"#!genome-build {b.genome}\n")
        rows.to_csv(f, sep="\t", header=False, index=False, quoting=csv.QUOTE_NONE)
