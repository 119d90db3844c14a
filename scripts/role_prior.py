"""How much of each evaluation set the speaker's role alone predicts, and whether models read past it.

Every quote in the splits, the dev set and the seed quotes carries its speaker's ``role``
(data/GUIDELINES.md section 5.2), and real speakers' positions follow their roles closely: NHS
England officials back their own programme, BMA leaders and readers' comments mostly oppose it.
A score on real quotes is therefore partly a score for knowing who tends to say what. This
script measures that part with a **role prior**: a text-blind predictor that gives every quote
the label distribution of its role among the training statements, add-one smoothed
(``P(label | role) = (count + 1) / (n_role + 3)``), with no setting to tune. It writes:

- ``docs/model_selection/preds/role-prior.json``: the prior's probabilities on every set of
  ``scripts/model_selection.py`` (trained on ``data/splits/train.jsonl``), so the model-selection
  table shows it as a row;
- ``docs/model_selection/role_prior.md``: the prior's macro-F1 on those sets and in seed
  leave-one-article-out cross-validation (each fold's prior counts only that fold's training
  statements, the folds of ``stance cv``), and, for cached models, their accuracy on
  **on-type** quotes (gold label = the prior's label) and **against-type** quotes (gold differs:
  a BMA leader who backs a network, an NHS England official who doubts a vanguard). A model that
  only learned who speaks does well on the first and fails the second; a reader of stance does
  well on both.

The role prior is a yardstick, not a candidate: the guidelines make a job title a non-cue
(section 3, "support"), and a model that used the role would push each group's predicted stance
towards the corpus's picture of that group, which is exactly what a researcher comparing groups
must not get back from the tool.

Usage (from the repository root)::

    python scripts/role_prior.py            # both files; then bash scripts/model_selection_table.sh
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from model_selection import CV_FILES, OUT, RESAMPLES, SETS, _read  # noqa: E402

from stance.constants import LABELS, ROLES  # noqa: E402
from stance.data.corpus import article_folds  # noqa: E402
from stance.evaluation.metrics import bootstrap_ci, macro_f1  # noqa: E402

TRAIN = "data/splits/train.jsonl"
CORPUS = "data/corpus.jsonl"
# Models whose cached predictions are read: the default, the baseline and MiniLM on the current
# corpus (docs/model_selection/preds/) and their seed cross-validations (docs/cv/), and the
# role-aware screen (scripts/target_aware.py --field role; not cross-validated), when cached.
MODELS = {**CV_FILES, "mpnet-2ep-6k-role": None}


def role_prior(rows: list[dict]) -> dict[str, list[float]]:
    """``{role: [P(label | role) for label in LABELS]}`` from labelled rows, add-one smoothed."""
    counts = {role: Counter() for role in ROLES}
    for row in rows:
        counts[row["role"]][row["label"]] += 1
    return {
        role: [(c[lb] + 1) / (sum(c.values()) + len(LABELS)) for lb in LABELS]
        for role, c in counts.items()
    }


def prior_label(prior: dict[str, list[float]], role: str) -> str:
    return LABELS[int(np.argmax(prior[role]))]


def write_preds(prior: dict[str, list[float]]) -> Path:
    """The prior as a cached candidate of scripts/model_selection.py."""
    out = {"name": "role-prior", "kind": "role prior", "backbone": "none (the speaker's role)",
           "backend": None, "train_seconds": None, "sets": {}}  # fmt: skip
    for set_name, (path, _) in SETS.items():
        rows = _read(path)
        out["sets"][set_name] = {
            "ids": [r["id"] for r in rows], "probs": [prior[r["role"]] for r in rows],
        }  # fmt: skip
    target = OUT / "preds" / "role-prior.json"
    target.write_text(json.dumps(out) + "\n", encoding="utf-8")
    return target


def seed_cv_prior() -> list[dict]:
    """Out-of-fold role-prior predictions over the seed quotes, folds as in ``stance cv``."""
    records = _read(CORPUS)
    rows = []
    for article, train_idx, _, test_idx in article_folds(records):
        prior = role_prior([records[i] for i in train_idx])
        for i in test_idx:
            r = records[i]
            rows.append({"id": r["id"], "article": article, "gold": r["label"],
                         "role": r["role"], "prior": prior_label(prior, r["role"])})  # fmt: skip
    return rows


# Fewer articles than this are too few to resample (two test articles give three possible
# resamples, and intervals that only show the spread between them): resample quotes instead.
MIN_CLUSTERS = 5


def _clusters(groups: list[str]) -> list[str] | None:
    return groups if len(set(groups)) >= MIN_CLUSTERS else None


def _f1_cell(gold: list[str], pred: list[str], groups: list[str]) -> str:
    ci = bootstrap_ci(gold, pred, LABELS, n_resamples=RESAMPLES, groups=_clusters(groups))
    return f"{macro_f1(gold, pred, LABELS):.3f} [{ci['macro_f1'][0]:.3f}, {ci['macro_f1'][1]:.3f}]"


def _accuracy_cell(gold: list[str], pred: list[str], groups: list[str]) -> str:
    """Accuracy with its bootstrap interval, or a dash for an empty subset."""
    if not gold:
        return "-"
    ci = bootstrap_ci(gold, pred, LABELS, n_resamples=RESAMPLES, groups=_clusters(groups))
    ci = ci["accuracy"]
    right = sum(a == b for a, b in zip(gold, pred))
    return f"{right}/{len(gold)} = {right / len(gold):.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def _split_by_type(items: list[tuple[str, str, str, str]]) -> list[str]:
    """Two accuracy cells (on-type, against-type) from (gold, predicted, prior, group) items."""
    cells = []
    for on_type in (True, False):
        part = [(g, p, grp) for g, p, pr, grp in items if (g == pr) == on_type]
        cells.append(
            _accuracy_cell([x[0] for x in part], [x[1] for x in part], [x[2] for x in part])
        )
    return cells


def _cached_preds(name: str, set_name: str) -> dict[str, str]:
    cand = json.loads((OUT / "preds" / f"{name}.json").read_text(encoding="utf-8"))["sets"][
        set_name
    ]
    return {i: LABELS[int(np.argmax(p))] for i, p in zip(cand["ids"], cand["probs"])}


def _cv_preds(file: str) -> dict[str, str]:
    result = json.loads((ROOT / "docs" / "cv" / file).read_text(encoding="utf-8"))
    return {p["id"]: p["predicted"] for p in result["predictions"]}


def _set_rows(prior: dict[str, list[float]]) -> list[str]:
    """Table rows for the model-selection sets: the prior's score, then each model's split."""
    lines = []
    for set_name, (path, group_col) in SETS.items():
        rows = _read(path)
        gold = [r["label"] for r in rows]
        priors = [prior_label(prior, r["role"]) for r in rows]
        groups = [r.get(group_col) or r["id"] for r in rows]
        against = sum(g != p for g, p in zip(gold, priors))
        lines.append(f"| {set_name} | {len(rows)} | {against} | {_f1_cell(gold, priors, groups)} |"
                     " role prior | - | - |")  # fmt: skip
        for name in MODELS:
            if not (OUT / "preds" / f"{name}.json").exists():
                continue
            preds = _cached_preds(name, set_name)
            items = [
                (g, preds[r["id"]], p, grp) for g, r, p, grp in zip(gold, rows, priors, groups)
            ]
            on, off = _split_by_type(items)
            lines.append(f"| | | | | {name} | {on} | {off} |")
    return lines


def _cv_rows(cv: list[dict]) -> list[str]:
    gold = [r["gold"] for r in cv]
    priors = [r["prior"] for r in cv]
    groups = [r["article"] for r in cv]
    against = sum(g != p for g, p in zip(gold, priors))
    lines = [
        f"| seed CV | {len(cv)} | {against} | {_f1_cell(gold, priors, groups)} | role prior | - | - |"
    ]
    for name, file in MODELS.items():
        if file is None:
            continue
        preds = _cv_preds(file)
        items = [(r["gold"], preds[r["id"]], r["prior"], r["article"]) for r in cv]
        on, off = _split_by_type(items)
        lines.append(f"| | | | | {name} (its `stance cv`) | {on} | {off} |")
    return lines


def report(prior: dict[str, list[float]], cv: list[dict]) -> str:
    head = (
        "# What the speaker's role alone predicts\n\n"
        "*Generated by `python scripts/role_prior.py` (its docstring says what the role prior "
        "is and why it is a yardstick, not a candidate). Intervals: 95% bootstrap, "
        f"{RESAMPLES} resamples, of whole speakers (dev), whole articles (seed CV, where a "
        f"cell's quotes span all five) or quotes (any cell spanning fewer than {MIN_CLUSTERS} "
        "articles, the test sets' two among them: too few to resample), so those intervals "
        "ignore that quotes of one article hang together and are too narrow if anything.*\n\n"
        '"against type": quotes whose gold label differs from their role\'s most frequent '
        "label among the training statements; on-type and against-type cells give each model's "
        "accuracy there.\n\n"
        "| set | n | against type | role prior macro-F1 [95% CI] | model | accuracy on type "
        "[95% CI] | accuracy against type [95% CI] |\n|---|---:|---:|---:|---|---:|---:|\n"
    )
    return head + "\n".join(_set_rows(prior) + _cv_rows(cv)) + "\n"


def main() -> int:
    prior = role_prior(_read(TRAIN))
    print(write_preds(prior))
    target = OUT / "role_prior.md"
    target.write_text(report(prior, seed_cv_prior()), encoding="utf-8")
    print(target.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
