"""Target-aware input, as a model-selection screen: each text is preceded by what it is about.

Every statement in the corpus, the splits, the dev set and the seed quotes carries the reform it
is about (``reform``, data/GUIDELINES.md section 5). This screen asks whether telling the model
the target helps it read stance: the text becomes ``"<what the reform covers>: <text>"``, with
the description taken from the guidelines' reform table (one source for the wording; its first
comma-separated part without parentheses, to keep the prefix short), e.g. ``"primary care networks and the network
contract DES: We were told ..."``.

It is a screen, not a product feature: users' quotes do not come with a reform, so a
target-aware default would need one from the user or from a second model. Only if it wins is
that worth building.

Usage (from the repository root)::

    python scripts/target_aware.py write runs/target_aware     # prefixed splits + a config
    stance train -c runs/target_aware/transformer-target-aware.yaml
    python scripts/model_selection.py predict mpnet-2ep-6k-bf16-target models/transformer-target-aware \
        --target-prefix

The config is configs/transformer-bf16.yaml with the data paths moved to the prefixed files, so
the screen compares against `mpnet-2ep-6k-bf16` (same settings, same seed, same precision).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDELINES = ROOT / "data" / "GUIDELINES.md"
BASE_CONFIG = ROOT / "configs" / "transformer-bf16.yaml"
DATA_KEYS = ("train", "validation", "test", "corpus")

# One row of the guidelines' reform table: | `code` | what it covers |
_ROW = re.compile(r"^\| `([a-z_]+)` \| (.+?) \|\s*$")


def reform_descriptions(path: Path = GUIDELINES) -> dict[str, str]:
    """``{reform code: what it covers}`` from the guidelines' reform table."""
    from stance.constants import REFORMS

    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line)
        if m and m.group(1) in REFORMS:
            # Short: no quotes, no parenthetical, the first comma-separated part.
            covers = re.sub(r"\s*\([^)]*\)", "", m.group(2).replace('"', ""))
            found[m.group(1)] = covers.split(",")[0].strip()

    missing = sorted(set(REFORMS) - set(found))
    if missing:
        raise SystemExit(f"{path}: no description for reform(s) {', '.join(missing)}")
    return found


def with_target(text: str, reform: str | None, descriptions: dict[str, str]) -> str:
    """The text preceded by its target's description (unchanged when it has no reform)."""
    if not reform:
        return text
    if reform not in descriptions:
        raise SystemExit(f"unknown reform {reform!r}; expected one of {', '.join(descriptions)}")
    return f"{descriptions[reform]}: {text}"


def _prefix_file(src: Path, dst: Path, descriptions: dict[str, str]) -> int:
    rows = [json.loads(x) for x in src.read_text(encoding="utf-8").splitlines() if x.strip()]
    for row in rows:
        row["text"] = with_target(row["text"], row.get("reform"), descriptions)
    dst.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return len(rows)


def write(out_dir: Path) -> Path:
    """Write the prefixed data files and a config training on them; return the config path."""
    import yaml

    descriptions = reform_descriptions()
    out_dir.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load(BASE_CONFIG.read_text(encoding="utf-8"))
    for key in DATA_KEYS:
        src = ROOT / config["data"][key]
        dst = out_dir / src.name
        n = _prefix_file(src, dst, descriptions)
        print(f"{src.relative_to(ROOT)} -> {dst} ({n} rows)", file=sys.stderr)
        config["data"][key] = str(dst)
    config["output_dir"] = "models/transformer-target-aware"
    path = out_dir / "transformer-target-aware.yaml"
    header = f"# Target-aware screen written by scripts/target_aware.py from {BASE_CONFIG.name}\n"
    path.write_text(header + yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="prefixed data files and a config")
    w.add_argument("out_dir", type=Path)
    args = parser.parse_args()
    print(write(args.out_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
