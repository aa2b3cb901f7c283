from annotator.engine.summary import Summary


def test_summary_merge_adds_counts_and_unions_genes():
    a, b = Summary(records=2, transitions=1), Summary(records=3, transversions=4)
    a.consequences["missense_variant"] = 1
    b.consequences["missense_variant"] = 2
    a.genes |= {"TP53"}
    b.genes |= {"BRCA1", "TP53"}
    a.merge(b)
    assert (a.records, a.transitions, a.transversions) == (5, 1, 4)
    assert a.consequences["missense_variant"] == 3 and a.genes == {"TP53", "BRCA1"}
