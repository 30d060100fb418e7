"""Generate dicomscrub's committed PS3.15 Table E.1-1 profile table.

Reads the standard's table as extracted to JSON (``../shared/dicom-standard/``) and writes
``src/dicomscrub/header/data/profile_table.json``: one row per attribute with a parsed
tag pattern (value + mask, so ``xx`` wildcards match repeating groups), the basic profile
action and the option columns. Run from the repository root::

    python tools/gen_profile_table.py [SOURCE_JSON]
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

SOURCE = Path("../shared/dicom-standard/confidentiality_profile_attributes.json")
TARGET = Path("src/dicomscrub/header/data/profile_table.json")
EDITION = "PS3.15 2024 (Table E.1-1 as extracted on 2024-04-18)"
OPTION_COLUMNS = {
    "rtnSafePrivOpt": "retain_safe_private",
    "rtnUIDsOpt": "retain_uids",
    "rtnDevIdOpt": "retain_device_identity",
    "rtnInstIdOpt": "retain_institution_identity",
    "rtnPatCharsOpt": "retain_patient_characteristics",
    "rtnLongFullDatesOpt": "retain_long_full_dates",
    "rtnLongModifDatesOpt": "retain_long_modified_dates",
    "cleanDescOpt": "clean_descriptors",
    "cleanStructContOpt": "clean_structured_content",
    "cleanGraphOpt": "clean_graphics",
}
TAG_RE = re.compile(r"^\(([0-9A-Fa-fxX]{4}),([0-9A-Fa-fxX]{4})\)$")


#: The table's one row for every private attribute, matched by the odd group number instead.
PRIVATE_ROW = "(GGGG,EEEE) WHERE GGGG IS ODD"


def parse_tag(text: str) -> tuple[int, int]:
    """Turn ``(60xx,4000)`` into (value, mask) over the 32-bit tag; ``x`` digits are free.

    The private-attributes row becomes value 0x00010000 / mask 0x00010000: odd groups.
    """
    if text.strip().upper() == PRIVATE_ROW:
        return 0x00010000, 0x00010000
    match = TAG_RE.match(text.strip())
    if match is None:
        raise ValueError(f"unparsable tag pattern {text!r}")
    digits = match.group(1) + match.group(2)
    value = int("".join("0" if c in "xX" else c for c in digits), 16)
    mask = int("".join("0" if c in "xX" else "F" for c in digits), 16)
    return value, mask


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else SOURCE
    rows = json.loads(source.read_text(encoding="utf-8"))
    out = []
    for row in rows:
        value, mask = parse_tag(row["tag"])
        out.append(
            {
                "tag": "private" if row["tag"] == PRIVATE_ROW else row["tag"].replace("X", "x"),
                "value": value,
                "mask": mask,
                "name": row["name"],
                "basic": row["basicProfile"],
                "options": {name: row[col] for col, name in OPTION_COLUMNS.items() if row.get(col)},
            }
        )
    # Exact tags before wildcard rows so the first match is the most specific.
    out.sort(key=lambda r: (-bin(r["mask"]).count("1"), r["value"]))
    table = {"edition": EDITION, "source": source.name, "rows": out}
    TARGET.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(out)} rows to {TARGET}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
