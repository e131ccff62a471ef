"""Known data files: where they live in a data folder, their checksums, mirrors.

The DoRF and EMoR files are distributed by Columbia CAVE behind a web form, so the
download URLs point at byte-identical copies in public repositories, pinned to a
commit; the sha256 below is checked on every download.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DataFile:
    name: str  # file name
    sha256: str
    size: int
    subdirs: tuple  # folders under a data root where the file may sit
    urls: tuple = field(default_factory=tuple)
    description: str = ""


_SINGLEHDR = "https://raw.githubusercontent.com/alex04072000/SingleHDR/ce89648bc95ba1615b5eb9d8a1c4456a7872a92c/training_code/"
_VIGNETTE = "https://raw.githubusercontent.com/AlbertHuyb/VignetteRemoval/c01892f7b0f70f065da7b982b11e7223628deab2/data/"

FILES = {
    "dorfCurves.txt": DataFile(
        "dorfCurves.txt",
        "6dfe71f44c84c3fce9dafa96ce2ebd08854580aeaa3b695cf4ce3ea904ddbf3d",
        6595757,
        ("dorf", "", "DoRF"),
        (_SINGLEHDR + "dorfCurves.txt",),
        "DoRF, Database of Response Functions (Grossberg & Nayar, Columbia CAVE): 201 curves",
    ),
    "dorfCurves.zip": DataFile(
        "dorfCurves.zip",
        "d030d1ee3cd3243b412dd817b7479873f3680aaea33baaa9c127752880eacd63",
        1734345,
        ("dorf", "", "DoRF"),
        (_VIGNETTE + "dorfCurves.zip",),
        "DoRF as originally distributed (zip holding dorfCurves.txt)",
    ),
    "emor.txt": DataFile(
        "emor.txt",
        "7cb62d511e936a4d597f2323d3c914b334fd2e0757a05c944f12f7d164d5cc78",
        439060,
        ("singlehdr_emor", "emor", ""),
        (_SINGLEHDR + "emor.txt",),
        "EMoR basis (Grossberg & Nayar): mean curve f0 and 25 components h",
    ),
    "invemor.txt": DataFile(
        "invemor.txt",
        "86dd5444b1d6bbfbabb02c39519909226a77774543a82a69a6f2b962914d82ee",
        439181,
        ("singlehdr_emor", "emor", ""),
        (_SINGLEHDR + "invemor.txt",),
        "inverse EMoR basis: mean inverse curve g0 and 25 components hinv",
    ),
}
