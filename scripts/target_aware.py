"""Target-aware and speaker-aware input, as model-selection screens: each text is preceded by a
description of what it is about (``--field reform``) or of who says it (``--field role``).

Every statement in the corpus, the splits, the dev set and the seed quotes carries the reform it
is about (``reform``) and its speaker's role (``role``; data/GUIDELINES.md section 5). The
reform screen asks whether telling the model the target helps it read stance: the text becomes
``"<what the reform covers>: <text>"``, with the description taken from the guidelines' reform
table (one source for the wording; its first comma-separated part without parentheses, to keep
the prefix short), e.g. ``"primary care networks and the network contract DES: We were told
..."``. The role screen does the same with the guidelines' role table ("NHS England officials
and directors: ..."): guidelines rule 1 depends on who speaks (a requirement stated by the
model's own proposer is part of its design, not a condition), and the role screen measures
what the speaker adds, prior included (docs/model_selection/role_prior.md).

They are screens, not product features: users' quotes do not come with a reform or a role
from the guidelines' vocabulary, so an aware default would need one from the user or from a
second model. Only if one wins is that worth building.

Usage (from the repository root)::

    python scripts/target_aware.py write runs/target_aware                 # prefixed splits + a config
    stance train -c runs/target_aware/transformer-target-aware.yaml
    python scripts/model_selection.py predict mpnet-2ep-6k-bf16-target models/transformer-target-aware \
        --prefix-field reform
    python scripts/target_aware.py write runs/role_aware --field role      # the role screen
    stance train -c runs/role_aware/transformer-role-aware.yaml
    python scripts/model_selection.py predict mpnet-2ep-6k-role models/transformer-role-aware \
        --prefix-field role

The reform config is configs/transformer-bf16.yaml with the data paths moved to the prefixed
files, so that screen compares against `mpnet-2ep-6k-bf16` (same settings, seed, precision);
the role config is the default, configs/transformer.yaml (fp32), compared against
`mpnet-2ep-6k`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDELINES = ROOT / "data" / "GUIDELINES.md"
# Per field: the config the screen starts from, and the name of its model and config.
SCREENS = {
    "reform": (ROOT / "configs" / "transformer-bf16.yaml", "transformer-target-aware"),
    "role": (ROOT / "configs" / "transformer.yaml", "transformer-role-aware"),
}
DATA_KEYS = ("train", "validation", "test", "corpus")

# One row of the guidelines' reform table: | `code` | what it covers |
_ROW = re.compile(r"^\| `([a-z_]+)` \| (.+?) \|\s*$")


def descriptions(field: str = "reform", path: Path = GUIDELINES) -> dict[str, str]:
    """``{code: short description}`` of a field's vocabulary, from the guidelines' table of it
    (reforms: what each covers; roles: who)."""
    from stance.constants import VOCABULARIES

    if field not in VOCABULARIES:
        raise SystemExit(f"unknown field {field!r}; expected one of {', '.join(VOCABULARIES)}")
    codes = VOCABULARIES[field]
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if m and m.group(1) in codes:
            # Short: no quotes, no parenthetical, the first comma-separated part.
            covers = re.sub(r"\s*\([^)]*\)", "", m.group(2).replace('"', ""))
            found[m.group(1)] = covers.split(",")[0].strip()

    missing = sorted(set(codes) - set(found))
    if missing:
        raise SystemExit(f"{path}: no description for {field}(s) {', '.join(missing)}")
    return found


def reform_descriptions(path: Path = GUIDELINES) -> dict[str, str]:
    """``{reform code: what it covers}`` from the guidelines' reform table."""
    return descriptions("reform", path)


def with_prefix(text: str, value: str | None, descriptions: dict[str, str],
                where: str = "") -> str:  # fmt: skip
    """The text preceded by its value's description (unchanged when it has no value);
    ``where`` ("file:line: ") starts the error for a value the table lacks."""
    if not value:
        return text
    if value not in descriptions:
        raise SystemExit(f"{where}unknown value {value!r}; expected one of "
                         f"{', '.join(descriptions)} (data/GUIDELINES.md section 5)")  # fmt: skip
    return f"{descriptions[value]}: {text}"


with_target = with_prefix  # the reform screen's name for it


def _prefix_file(src: Path, dst: Path, field: str, descriptions: dict[str, str]) -> int:
    lines = src.read_text(encoding="utf-8").splitlines()
    rows = [(n, json.loads(x)) for n, x in enumerate(lines, start=1) if x.strip()]
    for n, row in rows:
        row["text"] = with_prefix(
            row["text"], row.get(field), descriptions, f"{src}:{n}: {field}: "
        )
    rows = [row for _, row in rows]
    dst.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return len(rows)


def write(out_dir: Path, field: str = "reform") -> Path:
    """Write the prefixed data files and a config training on them; return the config path."""
    import yaml

    base, name = SCREENS[field]
    table = descriptions(field)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load(base.read_text(encoding="utf-8"))
    for key in DATA_KEYS:
        src = ROOT / config["data"][key]
        dst = out_dir / src.name
        n = _prefix_file(src, dst, field, table)
        print(f"{src.relative_to(ROOT)} -> {dst} ({n} rows)", file=sys.stderr)
        config["data"][key] = str(dst)
    config["output_dir"] = f"models/{name}"
    path = out_dir / f"{name}.yaml"
    header = f"# {field}-aware screen written by scripts/target_aware.py from {base.name}\n"
    path.write_text(header + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="prefixed data files and a config")
    w.add_argument("out_dir", type=Path)
    w.add_argument("--field", choices=sorted(SCREENS), default="reform")
    args = parser.parse_args()
    print(write(args.out_dir, args.field))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
