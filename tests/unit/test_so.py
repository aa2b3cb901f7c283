import numpy as np

from annotator.engine import so


def test_lowest_bit_is_most_severe_and_labels_follow_vep_order():
    mask = so.BIT["intron_variant"] | so.BIT["splice_region_variant"]
    assert so.label(mask) == "splice_region_variant&intron_variant"
    assert so.impact(mask) == "LOW"
    assert so.impact(so.BIT["missense_variant"] | so.BIT["intergenic_variant"]) == "MODERATE"
    assert so.impact(0) == ""


def test_most_severe_rank_vectorised():
    masks = np.array([so.BIT["stop_gained"] | so.BIT["intron_variant"], so.BIT["intergenic_variant"], 0],
                     dtype=np.uint64)
    ranks = so.most_severe_rank(masks)
    assert [so.NAMES[r] if r < so.NO_TERM else None for r in ranks] == ["stop_gained", "intergenic_variant", None]
    # the highest bit still round-trips exactly through the float log2
    top = np.array([1 << (len(so.NAMES) - 1)], dtype=np.uint64)
    assert so.most_severe_rank(top)[0] == len(so.NAMES) - 1
