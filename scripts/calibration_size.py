"""How many labelled quotes of one's own `stance calibrate` needs before `needs_review` keeps its promise.

The shipped calibration is fitted on the validation split (authored statements the default gets
96% right), so on article quotes its review flag accepts almost everything and the accepted
quotes are far below the 90% the flag aims for (README, "Calibrated confidence"). The README's
advice is to refit the temperature and the threshold on labelled quotes of one's own kind with
`stance calibrate`. This script measures how well that works, and with how many quotes, by
simulating it on predictions the model made for quotes it never trained on:

- **seed quotes, new article**: the default recipe's seed cross-validation (docs/cv/
  cv_transformer.json: each of the 81 quotes predicted by the fold that held its article out;
  raw probabilities). For each article, a user labels ``n`` quotes drawn from the *other four*
  articles, refits, and applies the flag to the held-out article: calibration carried to an
  article it never saw, as a researcher would carry it to the next outlet.
- **seed quotes, articles mixed**: the same 81 predictions, ``n`` drawn from all five articles
  and the flag applied to the rest, so the labelled sample shares articles with the quotes it
  is applied to (the case of a user who labels a sample of the very batch they score).
- **dev positions, same source**: the default's calibrated probabilities on the 297 dev quotes
  (docs/model_selection/preds/mpnet-2ep-6k.json). A user labels ``n`` random dev quotes, refits
  and applies the flag to the rest. Refitting a temperature on calibrated probabilities gives
  the same result as on raw ones (two temperatures compose into one).

The refit is the package's own (`stance.evaluation.calibration.fit_held_out`, the function
`stance calibrate` calls): a temperature, then the lowest confidence whose accepted quotes in
the labelled sample reach 90% right. Temperature scaling never changes a label, so only the
flag and the confidence move. Each size is drawn ``DRAWS`` times; each row gives the median and
the 2.5-97.5 percentiles over draws of the share of quotes accepted (not flagged) and of the
accuracy of the accepted ones, pooled over the evaluated quotes of a draw. It trains nothing.
A second table asks what researchers publish: the label shares of an article, corrected by
`stance prevalence` with error rates. On each held-out seed article it compares raw counting,
the correction with the error rates shipped in the default model (its validation split:
``models/transformer/calibration.json``, so the default must be trained) and the correction
with error rates measured on ``n`` labelled quotes of the other four articles (what `stance
calibrate` records), using the package's own estimator
(`stance.evaluation.prevalence.estimate_group`). It reports the mean absolute error of the
shares against the article's true shares and how often their 95% intervals cover them, over
the 5 articles x 3 labels of each draw.

Usage (from the repository root)::

    python scripts/calibration_size.py > docs/model_selection/calibration_size.md
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stance.constants import DEFAULT_REVIEW_PRECISION, LABELS  # noqa: E402
from stance.evaluation.calibration import Calibrator, fit_held_out  # noqa: E402
from stance.evaluation.metrics import confusion_matrix, expected_calibration_error  # noqa: E402
from stance.evaluation.prevalence import estimate_group, model_confusion  # noqa: E402

CV_FILE = ROOT / "docs" / "cv" / "cv_transformer.json"
PREDS_FILE = ROOT / "docs" / "model_selection" / "preds" / "mpnet-2ep-6k.json"
DEV_FILE = ROOT / "data" / "dev_positions.jsonl"
DRAWS, SEED = 500, 0
SEED_SIZES: tuple[int | None, ...] = (10, 20, 40, None)  # None: every quote of the other articles
DEV_SIZES: tuple[int | None, ...] = (10, 20, 40, 80, 160)
DEFAULT_MODEL = ROOT / "models" / "transformer"
PREVALENCE_SIZES: tuple[int | None, ...] = (20, 40, None)
PREVALENCE_DRAWS, PREVALENCE_RESAMPLES = 200, 1000


def refit_flag(probs: np.ndarray, gold: list[str]) -> tuple[Calibrator, float | None]:
    """What `stance calibrate` fits on a labelled sample: a temperature and a review threshold."""
    record = fit_held_out(probs, gold, LABELS, "temperature", DEFAULT_REVIEW_PRECISION)
    calibrator = Calibrator.from_dict(record["calibrator"], len(LABELS), "refit")
    return calibrator, record["review"]["threshold"]


def new_article_draws(
    articles: list[str], n: int | None, rng: np.random.Generator
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One draw: for each article, (labelled sample from the other articles, that article)."""
    art = np.asarray(articles)
    for a in sorted(set(articles)):
        others, held = np.flatnonzero(art != a), np.flatnonzero(art == a)
        size = len(others) if n is None else min(n, len(others))
        yield rng.choice(others, size=size, replace=False), held


def same_source_draws(
    total: int, n: int, rng: np.random.Generator
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One draw: (n random quotes, the rest)."""
    order = rng.permutation(total)
    yield order[:n], order[n:]


def simulate_draw(
    probs: np.ndarray, gold: list[str], parts: Iterator[tuple[np.ndarray, np.ndarray]]
) -> dict[str, float | None]:
    """Refit on each labelled sample, flag its evaluation quotes; pool the outcome of a draw."""
    y = np.array([LABELS.index(g) for g in gold])
    conf, right, accepted = [], [], []
    for fit_idx, eval_idx in parts:
        calibrator, threshold = refit_flag(probs[fit_idx], [gold[i] for i in fit_idx])
        cal = calibrator.apply(probs[eval_idx])
        c = cal.max(axis=1)
        conf.append(c)
        right.append(cal.argmax(axis=1) == y[eval_idx])
        accepted.append(c >= threshold if threshold is not None else np.zeros(c.size, bool))
    c, ok, acc = np.concatenate(conf), np.concatenate(right), np.concatenate(accepted)
    return {
        "coverage": float(acc.mean()),
        "precision": float(ok[acc].mean()) if acc.any() else None,
        "ece": expected_calibration_error(c, ok),
    }


def prevalence_draw(
    pred: list[str],
    gold: list[str],
    parts: Iterator[tuple[np.ndarray, np.ndarray]],
    confusion: np.ndarray | None,
    rng: np.random.Generator,
) -> dict[str, dict[str, float]]:
    """Shares of each evaluated part (an article) by raw counting and corrected with error
    rates: ``confusion`` if given (fixed, e.g. the shipped validation ones), else those of the
    part's labelled sample. Per method: mean absolute error, interval coverage and mean
    interval width over the parts' labels."""
    errors: dict[str, list[float]] = {"raw": [], "adjusted": []}
    covered: dict[str, list[bool]] = {"raw": [], "adjusted": []}
    widths: dict[str, list[float]] = {"raw": [], "adjusted": []}
    for fit_idx, held_idx in parts:
        cm = confusion
        if cm is None:
            cm = confusion_matrix([gold[i] for i in fit_idx], [pred[i] for i in fit_idx], LABELS)
        counts = np.array([sum(pred[i] == lb for i in held_idx) for lb in LABELS])
        truth = np.array([sum(gold[i] == lb for i in held_idx) for lb in LABELS]) / len(held_idx)
        est = estimate_group(counts, cm, n_resamples=PREVALENCE_RESAMPLES, rng=rng)
        for name in ("raw", "adjusted"):
            errors[name].extend(np.abs(est[name] - truth).tolist())
            # As `stance prevalence` prints them, to two decimals: a share of 0 observed gets a
            # lower bound of about 1e-5, which is 0.00 to a reader and must cover a true 0.
            ci = np.round(est[f"{name}_ci"], 2)
            covered[name].extend(((ci[:, 0] <= truth) & (truth <= ci[:, 1])).tolist())
            widths[name].extend((ci[:, 1] - ci[:, 0]).tolist())
    return {
        name: {
            "error": float(np.mean(errors[name])),
            "coverage": float(np.mean(covered[name])),
            "width": float(np.mean(widths[name])),
        }
        for name in errors
    }


def prevalence_row(name: str, n: str, outcomes: list[dict[str, float]]) -> str:
    spreads = [_spread([o[key] for o in outcomes]) for key in ("error", "coverage", "width")]
    return f"| {name} | {n} | {len(outcomes)} | {' | '.join(spreads)} |"


def _spread(values: list[float]) -> str:
    if not values:
        return "n/a"
    lo, mid, hi = np.percentile(values, [2.5, 50, 97.5])
    return f"{mid:.2f} [{lo:.2f}, {hi:.2f}]"


def summary_row(name: str, n: int | None, outcomes: list[dict]) -> str:
    """One Markdown row over the draws of one setting."""
    precisions = [o["precision"] for o in outcomes if o["precision"] is not None]
    none = sum(o["precision"] is None for o in outcomes) / len(outcomes)
    meets = sum(p >= DEFAULT_REVIEW_PRECISION for p in precisions) / len(outcomes)
    size = "all of the other articles'" if n is None else str(n)
    return (
        f"| {name} | {size} | {len(outcomes)} | {_spread([o['coverage'] for o in outcomes])} | "
        f"{_spread(precisions)} | {meets:.0%} | {none:.0%} | {_spread([o['ece'] for o in outcomes])} |"
    )


def _seed_quotes() -> tuple[np.ndarray, list[str], list[str]]:
    rows = json.loads(CV_FILE.read_text(encoding="utf-8"))["predictions"]
    probs = np.array([[r["raw_probabilities"][lb] for lb in LABELS] for r in rows])
    return probs, [r["gold"] for r in rows], [r["article"] for r in rows]


def _dev_quotes() -> tuple[np.ndarray, list[str]]:
    dev = json.loads(PREDS_FILE.read_text(encoding="utf-8"))["sets"]["dev"]
    gold_by_id = {}
    for line in DEV_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            gold_by_id[row["id"]] = row["label"]
    return np.asarray(dev["probs"]), [gold_by_id[i] for i in dev["ids"]]


def main() -> int:
    rng = np.random.default_rng(SEED)
    print("# How many labelled quotes `stance calibrate` needs\n")
    print("*Generated by `python scripts/calibration_size.py` from cached predictions of the "
          "default recipe (its docstring says how). Accepted = not flagged `needs_review`; "
          "target: 90% of accepted quotes right. Median [2.5, 97.5 percentiles] over draws.*\n")  # fmt: skip
    print("| quotes | labelled sample n | draws | share accepted | accuracy of accepted | "
          "draws reaching 90% | draws accepting none | ECE after refit |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    seed = _seed_quotes()
    probs, gold, articles = seed
    for n in SEED_SIZES:
        draws = 1 if n is None else DRAWS
        outcomes = [
            simulate_draw(probs, gold, new_article_draws(articles, n, rng)) for _ in range(draws)
        ]
        print(summary_row("seed quotes, new article (81)", n, outcomes))
    for n in SEED_SIZES[:-1]:
        outcomes = [
            simulate_draw(probs, gold, same_source_draws(len(gold), n, rng)) for _ in range(DRAWS)
        ]
        print(summary_row("seed quotes, articles mixed (81)", n, outcomes))
    probs, gold = _dev_quotes()
    for n in DEV_SIZES:
        outcomes = [
            simulate_draw(probs, gold, same_source_draws(len(gold), n, rng)) for _ in range(DRAWS)
        ]
        print(summary_row(f"dev positions, same source ({len(gold)})", n, outcomes))
    _print_prevalence(seed, rng)
    return 0


def _print_prevalence(
    seed: tuple[np.ndarray, list[str], list[str]], rng: np.random.Generator
) -> None:
    """The second table: shares of each held-out seed article, raw and corrected."""
    print("\n## Label shares of a new article (`stance prevalence`)\n")
    print("*Each draw estimates the support, oppose and conditional shares of each of the five "
          "seed articles from the labels predicted by the fold that held it out. Mean absolute "
          "error of the 15 shares, the share of their 95% intervals (as printed, to two decimals) "
          "that cover the truth, and the "
          "intervals' mean width; "
          "median [2.5, 97.5 percentiles] over draws.*\n")  # fmt: skip
    print("| shares | error rates from labelled quotes, n | draws | mean absolute error | "
          "intervals covering the truth | mean interval width |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|")
    probs, gold, articles = seed
    pred = [LABELS[j] for j in probs.argmax(axis=1)]
    shipped = np.asarray(model_confusion(DEFAULT_MODEL)[1])
    fixed = prevalence_draw(pred, gold, new_article_draws(articles, None, rng), shipped, rng)
    print(prevalence_row("raw counting", "none", [fixed["raw"]]))
    print(
        prevalence_row(
            "corrected, shipped error rates",
            f"validation ({int(shipped.sum())} authored)",
            [fixed["adjusted"]],
        )
    )
    for n in PREVALENCE_SIZES:
        draws = 1 if n is None else PREVALENCE_DRAWS
        outcomes = [
            prevalence_draw(pred, gold, new_article_draws(articles, n, rng), None, rng)["adjusted"]
            for _ in range(draws)
        ]
        size = "all of the other articles'" if n is None else f"{n}, other articles"
        print(prevalence_row("corrected, refitted error rates", size, outcomes))


if __name__ == "__main__":
    raise SystemExit(main())
