"""Model cards: a ``README.md`` in every model directory, written from its ``metadata.json``.

One writer serves both model kinds. It reads only the generic parts of the metadata (kind,
labels, config, seed, data hashes, metrics, timings, library versions) and takes the
kind-specific prose (title, description, limitations, extra sections) as arguments, so a
researcher opening a model directory learns what the model is, what it was trained on, how
well it did and what it must not be used for, without running anything.

Example:
    >>> from stance.models.artifacts import read_metadata                        # doctest: +SKIP
    >>> meta = read_metadata("models/baseline")                           # doctest: +SKIP
    >>> write_model_card("models/baseline", meta, title="Stance baseline",
    ...                  description="TF-IDF + logistic regression.",
    ...                  limitations=["Reads words, not meaning."])       # doctest: +SKIP
    PosixPath('models/baseline/README.md')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from stance.constants import LABEL_DEFINITIONS, MODEL_CARD_FILE
from stance.models.artifacts import atomic_file
from stance.tables import markdown_table, shorten

__all__ = ["write_model_card", "render_model_card", "DEFAULT_INTENDED_USE", "COMMON_LIMITATIONS"]

DEFAULT_INTENDED_USE = (
    "A research aid for health-policy researchers: labelling the stance of quoted statements in "
    "UK health-policy news toward NHS England's new care models and the reorganisation of primary "
    "and community care (support, oppose, conditional), so that stance can be counted across many "
    "articles. Report aggregate figures with the model's measured error rates, check a sample of "
    "its labels by hand, and do not use it to judge individual speakers or organisations."
)

# Limits that hold for any model trained on this corpus, whatever its kind.
COMMON_LIMITATIONS: tuple[str, ...] = (
    "Trained on a small, hand-labelled corpus of quotes from UK health-policy news; accuracy on "
    "other outlets, periods, countries or topics is unknown and likely lower.",
    "It sees the quote only, not the article around it: irony, reported speech and a speaker "
    "quoting opponents can be misread.",
    "Scores are model probabilities, not calibrated certainties; a confident wrong answer is possible.",
    "Metrics below come from the training and validation splits; the held-out test score is "
    "reported by `stance evaluate`, and grouped cross-validation by `stance cv`.",
)


def write_model_card(
    model_dir: str | Path,
    metadata: Mapping[str, Any],
    title: str,
    description: str,
    limitations: Iterable[str] = (),
    intended_use: str = DEFAULT_INTENDED_USE,
    extra_sections: Mapping[str, str] | None = None,
) -> Path:
    """Write ``README.md`` (the model card) into ``model_dir`` from its metadata.

    The metadata keys read (all optional except ``kind`` and ``labels``): ``kind``, ``labels``,
    ``stance_version``, ``created_utc``, ``seed``, ``config`` (``config.data`` paths and the
    settings section of the kind), ``data_hashes`` (path -> sha256), ``data_counts``
    (split -> label -> count), ``train_seconds``, ``metrics`` (split -> ``{"n", "accuracy",
    "macro_f1", "per_label_f1": {label: f1}}``), ``versions`` (library -> version).
    Anything missing is left out of the card rather than guessed.

    Args:
        model_dir: the model directory (a temporary one inside ``atomic_directory`` is fine).
        metadata: the dict returned by :func:`stance.models.artifacts.write_metadata`.
        title: the card's heading, e.g. ``"Stance baseline: TF-IDF + logistic regression"``.
        description: a paragraph saying what the model is and how it works (Markdown).
        limitations: kind-specific limits, one sentence each; :data:`COMMON_LIMITATIONS` are
            appended after them.
        intended_use: the "Intended use" paragraph (default :data:`DEFAULT_INTENDED_USE`).
        extra_sections: heading -> Markdown body, inserted after the metrics (e.g. the
            cross-validation results of the baseline's C search).

    Returns:
        The path of the written ``README.md`` (written atomically).

    Example:
        >>> write_model_card(tmp_dir, meta, "Stance model", "Fine-tuned MiniLM.",
        ...                  ["Truncates quotes longer than 128 tokens."])   # doctest: +SKIP
    """
    text = render_model_card(
        metadata, title, description, limitations, intended_use, extra_sections
    )
    path = Path(model_dir) / MODEL_CARD_FILE
    with atomic_file(path) as fh:
        fh.write(text)
    return path


def render_model_card(
    metadata: Mapping[str, Any],
    title: str,
    description: str,
    limitations: Iterable[str] = (),
    intended_use: str = DEFAULT_INTENDED_USE,
    extra_sections: Mapping[str, str] | None = None,
) -> str:
    """The Markdown of :func:`write_model_card`, without writing it (same arguments)."""
    meta = dict(metadata)
    labels = list(meta.get("labels") or [])
    out: list[str] = [f"# {title}", "", description.strip(), ""]
    out += _model_section(meta, labels)
    out += _data_section(meta, labels)
    out += _metrics_section(meta, labels)
    for heading, body in (extra_sections or {}).items():
        out += [f"## {heading}", "", body.strip(), ""]
    out += _use_and_limits_section(intended_use, limitations)
    out += _how_to_use_section()
    out += _reproducibility_section(meta)
    return "\n".join(out).rstrip() + "\n"


def _model_section(meta: Mapping[str, Any], labels: list[str]) -> list[str]:
    """Card step: what the model is (kind, provenance, labels, the settings of its kind)."""
    config = meta.get("config") or {}
    kind = meta.get("kind", "?")
    out = ["## Model", ""]
    out.append(
        f"- Kind: `{kind}` (load with `stance.load(DIR)`; the kind is read from `metadata.json`)"
    )
    out.append(f"- Made by: stance {meta.get('stance_version', '?')}")
    if meta.get("created_utc"):
        out.append(f"- Trained: {meta['created_utc']}")
    if meta.get("seed") is not None:
        out.append(f"- Seed: {meta['seed']}")
    if meta.get("seeds"):  # an ensemble: one training seed per member
        seeds = ", ".join("–" if s is None else str(s) for s in meta["seeds"])
        out.append(f"- Seeds: {seeds} (one per member, in the members' order)")
    if meta.get("train_seconds") is not None:
        out.append(f"- Training time: {meta['train_seconds']:.1f} s")
    out += ["", "Labels (the column order of every probability output):", ""]
    for label in labels:
        definition = LABEL_DEFINITIONS.get(label)
        out.append(f"- `{label}`" + (f": {definition}" if definition else ""))
    out.append("")
    settings = config.get(kind)
    if isinstance(settings, Mapping) and settings:
        out += ["Settings (`config." + str(kind) + "`):", ""]
        out += [f"- `{k}`: `{shorten(v, 80)}`" for k, v in settings.items()]
        out.append("")
    return out


def _data_section(meta: Mapping[str, Any], labels: list[str]) -> list[str]:
    """Card step: the training data (split paths with hashes, grouping, label counts)."""
    data_cfg = (meta.get("config") or {}).get("data") or {}
    hashes = meta.get("data_hashes") or {}
    counts = meta.get("data_counts") or {}
    if not (data_cfg or hashes or counts):
        return []
    out = ["## Training data", ""]
    for split in ("train", "validation", "test"):
        path = data_cfg.get(split)
        if not path:
            continue
        digest = hashes.get(path)
        out.append(f"- {split}: `{path}`" + (f" (sha256 `{digest[:16]}…`)" if digest else ""))
    if data_cfg.get("group_column"):
        out.append(
            f"- Grouping column (kept together in cross-validation): `{data_cfg['group_column']}`"
        )
    out.append("")
    if counts:
        header = ["split", "n", *labels]
        rows = []
        for split, by_label in counts.items():
            if isinstance(by_label, Mapping):
                rows.append(
                    [
                        split,
                        str(sum(by_label.values())),
                        *(str(by_label.get(lb, 0)) for lb in labels),
                    ]
                )
        out += _table(header, rows)
        out.append("")
    return out


def _metrics_section(meta: Mapping[str, Any], labels: list[str]) -> list[str]:
    """Card step: the metrics table, one row per split (no section when there are none)."""
    metrics = meta.get("metrics") or {}
    rows = []
    for split, m in metrics.items():
        if not isinstance(m, Mapping):
            continue
        per_label = _per_label(m)
        # Transformer training splits are scored on a fixed sample (TRAIN_SCORE_SAMPLE).
        name = f"{split} (sample of {m['sampled_from']})" if m.get("sampled_from") else split
        rows.append(
            [
                name,
                str(m.get("n", "")),
                _num(m.get("accuracy")),
                _num(m.get("macro_f1")),
                *(_num(per_label.get(lb)) for lb in labels),
            ]
        )
    if not rows:
        return []
    out = ["## Metrics", ""]
    out += _table(["split", "n", "accuracy", "macro-F1", *(f"F1 {lb}" for lb in labels)], rows)
    out += [
        "",
        "Training-split scores show fit, not generalisation; judge the model by validation, "
        "test (`stance evaluate`) and grouped cross-validation (`stance cv`).",
        "",
    ]
    return out


def _use_and_limits_section(intended_use: str, limitations: Iterable[str]) -> list[str]:
    """Card step: intended use, then the kind's limitations followed by the common ones."""
    out = ["## Intended use", "", intended_use.strip(), ""]
    out += ["## Limitations", ""]
    out += [f"- {item.strip()}" for item in [*limitations, *COMMON_LIMITATIONS]]
    out.append("")
    return out


def _how_to_use_section() -> list[str]:
    """Card step: how to load and run the model (Python and the command line)."""
    return [
        "## How to use",
        "",
        "```python",
        "import stance",
        'clf = stance.load("MODEL_DIR")',
        'clf.predict("Federations gave us a real voice.")  # Prediction(label=..., scores=..., confidence=...)',
        "```",
        "",
        "```",
        'stance predict --model MODEL_DIR "Federations gave us a real voice."',
        "```",
        "",
        "Loading checks the SHA-256 of every weight file recorded in `metadata.json` and refuses a "
        "modified model.",
        "",
    ]


def _reproducibility_section(meta: Mapping[str, Any]) -> list[str]:
    """Card step: library versions (no section when none were recorded)."""
    versions = meta.get("versions") or {}
    if not versions:
        return []
    out = ["## Reproducibility", ""]
    out.append(
        "`metadata.json` records the full config, the seed and the data hashes. Library versions:"
    )
    out.append("")
    out += _table(
        ["library", "version"], [[k, str(v)] for k, v in versions.items() if v is not None]
    )
    out.append("")
    return out


def _per_label(m: Mapping[str, Any]) -> dict[str, float]:
    # Accept the spellings a trainer might use; values may be floats or {"f1": x} dicts.
    for key in ("per_label_f1", "f1_per_label", "per_label"):
        value = m.get(key)
        if isinstance(value, Mapping):
            return {k: (v.get("f1") if isinstance(v, Mapping) else v) for k, v in value.items()}
    return {}


def _num(value: Any) -> str:
    return (
        f"{value:.3f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "–"
    )


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return markdown_table(header, rows, align="l" * len(header)).splitlines()
