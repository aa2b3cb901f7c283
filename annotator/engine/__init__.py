"""The GAS annotation engine: stands alone (imports nothing from `gas`).

Pipeline: vcf (read + normalise, chunked) -> bundle (transcript model, interval index)
-> consequence (SO terms per allele x transcript, codons/HGVS with a FASTA) -> writers.
"""
