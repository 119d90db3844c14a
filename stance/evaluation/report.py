"""Markdown reports and figures for evaluation, comparison, cross-validation and the main job.

Reports are written from the dicts that :mod:`stance.evaluation.evaluate` returns (never by
re-running a model), so a report always shows exactly the numbers ``--json`` prints.
Figures use matplotlib's Agg canvas directly (no pyplot, no global backend switch, works
without a display).

Files written (names relative to the report directory):

- :func:`write_evaluation_report`: ``report.md``, ``confusion_matrix.png``, ``reliability.png``;
- :func:`write_comparison_report`: ``report.md``, ``comparison.png`` and, per model,
  ``<name>_confusion_matrix.png`` and ``<name>_reliability.png``;
- :func:`write_cv_report`: like an evaluation report, plus the per-fold table;
- :func:`write_experiment_report`: the main job's report (comparison + optional CV).

Example:
    >>> from stance.evaluation.evaluate import evaluate                                     # doctest: +SKIP
    >>> write_evaluation_report(evaluate("models/baseline", "test.jsonl"), "out")   # doctest: +SKIP
    {'markdown': PosixPath('out/report.md'), ...}
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stance.models.artifacts import atomic_file, ensure_directory
from stance.tables import markdown_table as _table
from stance.tables import terminal_table as _terminal_table

__all__ = [
    "plot_confusion_matrix",
    "plot_reliability",
    "plot_coverage",
    "plot_comparison",
    "evaluation_markdown",
    "comparison_markdown",
    "cv_markdown",
    "comparison_text",
    "experiment_text",
    "evaluation_sets_markdown",
    "evaluation_text",
    "cv_text",
    "write_evaluation_report",
    "write_comparison_report",
    "write_cv_report",
    "write_experiment_report",
]

# Misclassified quotes listed in a Markdown report (most confident first); the JSON keeps more.
REPORT_MISCLASSIFIED = 40
_DPI = 130


# --- formatting helpers ----------------------------------------------------------------------


def _f(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _with_ci(value: float, ci: Sequence[float]) -> str:
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def _ci_unit(result: dict[str, Any]) -> str:
    """What the main interval resampled: whole articles (cluster bootstrap) or single quotes."""
    if result.get("ci_unit") == "group":
        return f"articles ({result['n_groups']})"
    return "quotes"


def _quote_ci(result: dict[str, Any], key: str) -> str:
    """The quote-level interval, shown beside the main one when that resampled articles."""
    ci = result.get(f"{key}_ci_quotes")
    if result.get("ci_unit") != "group" or not ci:
        return "-"
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "model"


def _write_text(path: Path, text: str) -> Path:
    with atomic_file(path) as fh:
        fh.write(text)
    return path


# --- figures -------------------------------------------------------------------------------------


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_confusion_matrix(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: str | Path,
                          title: str = "Confusion matrix") -> Path:  # fmt: skip
    """A confusion-matrix heat map: counts and row percentages (share of each true label).

    Rows are true labels, columns predicted; the colour is the row share, so a small class
    is as visible as a large one.
    """
    import numpy as np

    cm = np.asarray(matrix, dtype=float)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    k = len(labels)
    fig = _figure(1.6 + 1.3 * k, 1.2 + 1.1 * k)
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), labels=list(labels))
    ax.set_yticks(range(k), labels=list(labels))
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    ax.set_title(title)
    for i in range(k):
        for j in range(k):
            colour = "white" if share[i, j] > 0.55 else "black"
            ax.text(
                j,
                i,
                f"{int(cm[i, j])}\n{share[i, j]:.0%}",
                ha="center",
                va="center",
                color=colour,
                fontsize=10,
            )
    fig.colorbar(image, ax=ax, label="Share of the true label's quotes", shrink=0.85)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def plot_reliability(reliability: Sequence[dict[str, Any]], ece: float | None, path: str | Path,
                     title: str = "Reliability diagram") -> Path:  # fmt: skip
    """Accuracy per confidence bin against the diagonal of perfect calibration, with bin counts."""
    fig = _figure(5.6, 4.6)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    for row in reliability:
        low, high = row["bin"]
        if not row["count"]:
            continue
        ax.bar(low, row["accuracy"], width=high - low, align="edge", color="#4c72b0", edgecolor="white",
               alpha=0.85, label="accuracy in bin" if "accuracy in bin" not in _legend_labels(ax) else None)  # fmt: skip
        ax.plot([low, high], [row["mean_confidence"]] * 2, color="#dd8452", linewidth=2,
                label="mean confidence" if "mean confidence" not in _legend_labels(ax) else None)  # fmt: skip
        # Bin counts sit at the foot of each bar (white on the bar, black where it is too short).
        tall = row["accuracy"] > 0.06
        ax.text((low + high) / 2, 0.012, f"n={row['count']}", ha="center", va="bottom", fontsize=7,
                color="white" if tall else "black")  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("Confidence (probability of the predicted label)")
    ax.set_ylabel("Accuracy (share predicted correctly)")
    ax.set_title(f"{title}\nECE = {_f(ece)}")
    ax.legend(loc="upper left", fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def plot_coverage(
    coverage: dict[str, Any], path: str | Path, title: str = "Coverage and accuracy"
) -> Path:
    """Accuracy on the accepted quotes against the share accepted, one point per confidence
    threshold; the model's review threshold is marked."""
    rows = [r for r in coverage["curve"] if r["accepted"]]
    fig = _figure(5.6, 4.6)
    ax = fig.add_subplot()
    ax.plot(
        [r["coverage"] for r in rows], [r["accuracy"] for r in rows], marker="o", color="#4c72b0"
    )
    for r in rows:
        ax.annotate(f"≥{r['threshold']:.2f}", (r["coverage"], r["accuracy"]), fontsize=7,
                    textcoords="offset points", xytext=(4, 4))  # fmt: skip
    chosen = [r for r in rows if r["threshold"] == coverage.get("review_threshold")]
    if chosen:
        ax.scatter([chosen[0]["coverage"]], [chosen[0]["accuracy"]], s=90, color="#dd8452", zorder=3,
                   label=f"review threshold {coverage['review_threshold']:.3f}")  # fmt: skip
        ax.legend(loc="lower left", fontsize=8)
    if coverage.get("target_precision") is not None:
        ax.axhline(coverage["target_precision"], linestyle="--", color="grey")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("Coverage (share of quotes accepted: confidence >= threshold)")
    ax.set_ylabel("Accuracy on the accepted quotes")
    ax.set_title(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def _coverage_rows(result: dict[str, Any]) -> list[list[str]]:
    threshold = result["coverage"].get("review_threshold")
    # The review threshold is fitted (0.5998...): four decimals keep it apart from a round row.
    return [[f"{r['threshold']:.4f} (review threshold)" if r["threshold"] == threshold else f"{r['threshold']:.3f}",
             r["accepted"], _f(r["coverage"]), _f(r["accuracy"])]
            for r in result["coverage"]["curve"]]  # fmt: skip


def _calibration_section(result: dict[str, Any], images: dict[str, str], h: str) -> list[str]:
    """ECE before and after calibration, and the coverage-accuracy table (issue 16)."""
    cal, cov = result["calibration"], result["coverage"]
    parts = [
        f"{h} Calibration before and after\n\nECE before calibration (raw model output): "
        f"**{_f(cal['ece_raw'])}**; after ({cal['method'] or 'no calibrator'}): **{_f(cal['ece'])}**. "
        f"Raw accuracy {_f(cal['accuracy_raw'])}, macro-F1 {_f(cal['macro_f1_raw'])}."
    ]
    if "reliability_raw" in images:
        parts.append(f"![Reliability diagram before calibration]({images['reliability_raw']})")
    target = cov.get("target_precision")
    parts.append(
        f"{h} Coverage and accuracy\n\nQuotes accepted (calibrated confidence >= threshold) and "
        f"the accuracy on them. Review threshold {_f(cov['review_threshold'])} (chosen on the "
        f"validation split for precision {_f(target)}): {cov['accepted']} accepted, "
        f"{cov['needs_review']} need review, accuracy on the accepted {_f(cov['accuracy_accepted'])}.\n\n"
        + _table(["threshold", "accepted", "coverage", "accuracy"], _coverage_rows(result))
    )
    if "coverage" in images:
        parts.append(f"![Coverage and accuracy]({images['coverage']})")
    return parts


def _legend_labels(ax: Any) -> list[str]:
    return ax.get_legend_handles_labels()[1]


def plot_comparison(comparison: dict[str, Any], path: str | Path, title: str | None = None) -> Path:
    """Macro-F1 and accuracy of each model (and the majority reference) with 95% intervals."""
    rows = [(m["name"], m) for m in comparison["models"]]
    rows.append((f"majority ({comparison['majority']['label']})", comparison["majority"]))
    fig = _figure(8.5, 1.4 + 0.55 * len(rows))
    axes = fig.subplots(1, 2, sharey=True)
    names = [name for name, _ in rows]
    for ax, key, label in ((axes[0], "macro_f1", "Macro-F1"), (axes[1], "accuracy", "Accuracy")):
        for y, (_, row) in enumerate(rows):
            low, high = row[f"{key}_ci"]
            colour = "grey" if y == len(rows) - 1 else "#4c72b0"
            ax.errorbar(
                row[key],
                y,
                xerr=[[row[key] - low], [high - row[key]]],
                fmt="o",
                color=colour,
                capsize=4,
            )
            ax.text(row[key], y + 0.18, f"{row[key]:.2f}", ha="center", fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_xlabel(f"{label} (dot) with 95% bootstrap interval")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(range(len(rows)), labels=names)
    axes[0].set_ylim(-0.6, len(rows) - 0.4)
    axes[0].invert_yaxis()
    fig.suptitle(title or f"Models on {Path(comparison['data']).name} (n = {comparison['n']})")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


# --- Markdown sections ---------------------------------------------------------------------------


def _headline(result: dict[str, Any]) -> str:
    return _table(
        ["n", "accuracy [95% CI]", "macro-F1 [95% CI]", "CI resamples", "macro-F1 CI over quotes", "ECE"],
        [[result["n"], _with_ci(result["accuracy"], result["accuracy_ci"]),
          _with_ci(result["macro_f1"], result["macro_f1_ci"]), _ci_unit(result),
          _quote_ci(result, "macro_f1"), _f(result.get("ece"))]],
        align="rrrlrr",
    )  # fmt: skip


def _per_label(result: dict[str, Any]) -> str:
    rows = [[label, _f(s["precision"]), _f(s["recall"]), _f(s["f1"]), s["support"]]
            for label, s in result["per_label"].items()]  # fmt: skip
    return _table(["label", "precision", "recall", "F1", "support"], rows)


def _confusion(result: dict[str, Any]) -> str:
    cm = result["confusion_matrix"]
    header = ["true \\ predicted", *cm["labels"], "total"]
    rows = [[label, *row, sum(row)] for label, row in zip(cm["labels"], cm["matrix"])]
    return _table(header, rows)


def _reliability(result: dict[str, Any]) -> str:
    rows = [[f"({low:.1f}, {high:.1f}]", r["count"], _f(r["mean_confidence"]), _f(r["accuracy"]),
             _f(None if r["count"] == 0 else r["accuracy"] - r["mean_confidence"])]  # fmt: skip
            for r in result["reliability"] if r["count"] for low, high in [r["bin"]]]  # fmt: skip
    table = _table(
        ["confidence bin", "count", "mean confidence", "accuracy", "accuracy - confidence"], rows
    )
    return table + "\n\nEmpty bins are left out; a negative gap means over-confidence."


def _misclassified(result: dict[str, Any], limit: int = REPORT_MISCLASSIFIED) -> str:
    cm = result["confusion_matrix"]["matrix"]
    wrong = sum(map(sum, cm)) - sum(cm[i][i] for i in range(len(cm)))
    items = result.get("misclassified") or []
    if not wrong:
        return "None: every quote was classified correctly."
    shown = items[:limit]
    intro = f"{wrong} quote(s) misclassified; " + (
        f"the {len(shown)} most confident mistakes:"
        if len(shown) < wrong
        else "all of them, most confident first:"
    )
    rows = [
        [r.get("line", ""), r["text"], r["true"], r["predicted"], _f(r["confidence"], 2)]
        for r in shown
    ]
    return (
        intro
        + "\n\n"
        + _table(["line", "text", "true", "predicted", "confidence"], rows, align="llllr")
    )


def _by_rows(result: dict[str, Any], intervals: bool) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the breakdown by a column: accuracy, then per label the gold and
    predicted shares and their gap (with its interval when ``intervals``)."""
    by = result["by"]
    labels = result["labels"]
    header = [by["column"], "n", "accuracy [95% CI, resampling]" if intervals else "accuracy"]
    header += [
        f"{label}: gold -> predicted (gap{' [95% CI]' if intervals else ''})" for label in labels
    ]
    rows = []
    for r in by["rows"]:
        unit = f"{r['n_groups']} articles" if r.get("ci_unit") == "group" else "quotes"
        acc = (
            f"{_with_ci(r['accuracy'], r['accuracy_ci'])}, {unit}"
            if intervals
            else _f(r["accuracy"])
        )
        cells = [str(r["group"]) + (" (small)" if r["small"] else ""), r["n"], acc]
        for label in labels:
            x = r["shares"][label]
            gap = f"{x['gap']:+.2f}" + (
                f" [{x['gap_ci'][0]:+.2f}, {x['gap_ci'][1]:+.2f}]" if intervals else ""
            )
            cells.append(f"{x['gold']:.2f} -> {x['predicted']:.2f} ({gap})")
        rows.append(cells)
    return header, rows


_BY_NOTE = (
    "gap = predicted share - gold share of the label within the group: positive means the model "
    "over-counts it there. (small): fewer quotes than the prevalence table's minimum; do not "
    "quote its point estimates alone."
)
# Only the report shows intervals, so only it says how each row's were drawn.
_BY_INTERVALS = (
    " Each row's intervals resample whole articles when the group spans two or more (the "
    "number is given; with two or three they are rough), else its quotes."
)


def _by_section(result: dict[str, Any], h: str) -> str:
    header, rows = _by_rows(result, intervals=True)
    return f"{h} By {result['by']['column']}\n\n{_table(header, rows)}\n\n{_BY_NOTE}{_BY_INTERVALS}"


def _settings_line(result: dict[str, Any]) -> str:
    s = result.get("settings") or {}
    unit = (
        f"whole articles (cluster bootstrap over `{s['group_column']}`: quotes of one article are "
        "not independent, so this is the interval to quote; the quote-level one is shown beside "
        "it, and with only a few articles even the article-level interval is a rough guide)"
        if s.get("group_column") else "quotes"
    )  # fmt: skip
    return (
        f"Intervals: 95% percentile bootstrap over {unit} ({s.get('n_resamples', '?')} resamples, "
        f"seed {s.get('seed', '?')}). Macro-F1 averages the F1 of every label of the label set "
        "(a label with no support and no predictions counts as 0). ECE: expected calibration error "
        f"over {s.get('calibration_bins', 10)} equal-width bins of the predicted label's probability."
    )


def _majority_line(majority: dict[str, Any]) -> str:
    return (
        f"Majority-class reference: always `{majority['label']}` ({majority['source']}): "
        f"accuracy {_with_ci(majority['accuracy'], majority['accuracy_ci'])}, "
        f"macro-F1 {_with_ci(majority['macro_f1'], majority['macro_f1_ci'])}."
    )


def _model_sections(result: dict[str, Any], images: dict[str, str], level: int = 2) -> str:
    h = "#" * level
    parts = [
        _headline(result),
        f"{h} Per label\n\n{_per_label(result)}",
        f"{h} Confusion matrix\n\nRows are true labels, columns predictions.\n\n{_confusion(result)}",
    ]
    if "confusion" in images:
        parts.append(f"![Confusion matrix]({images['confusion']})")
    if result.get("reliability"):
        parts.append(
            f"{h} Calibration\n\nExpected calibration error (ECE): **{_f(result['ece'])}** "
            "(0 = confidence matches accuracy).\n\n" + _reliability(result)
        )
        if "reliability" in images:
            parts.append(f"![Reliability diagram]({images['reliability']})")
    if result.get("calibration"):
        parts += _calibration_section(result, images, h)
    if result.get("by"):
        parts.append(_by_section(result, h))
    parts.append(f"{h} Misclassified quotes\n\n{_misclassified(result)}")
    return "\n\n".join(parts)


def evaluation_markdown(result: dict[str, Any], images: dict[str, str] | None = None,
                        title: str | None = None) -> str:  # fmt: skip
    """The Markdown report of one :func:`stance.evaluation.evaluate.evaluate` result.

    Args:
        result: the evaluation dict.
        images: relative paths of ``{"confusion": ..., "reliability": ...}`` to embed.
        title: the top heading (default: names the model and the data).
    """
    title = (
        title or f"Evaluation of {result.get('model') or result.get('kind')} on {result['data']}"
    )
    head = [f"# {title}", ""]
    head.append(f"- model: `{result.get('model')}` ({result.get('kind')})")
    head.append(
        f"- data: `{result['data']}` (sha256 `{str(result.get('data_sha256', ''))[:16]}...`), {result['n']} quotes"
    )
    head.append(f"- labels: {', '.join(result['labels'])}")
    body = [
        "\n".join(head),
        _model_sections(result, images or {}),
    ]
    if result.get("majority"):
        body.insert(1, _majority_line(result["majority"]))
    body.append(_settings_line(result))
    return "\n\n".join(body) + "\n"


def _comparison_table(comparison: dict[str, Any]) -> str:
    rows = [[m["name"], m["kind"], m["n"], _with_ci(m["accuracy"], m["accuracy_ci"]),
             _with_ci(m["macro_f1"], m["macro_f1_ci"]), _quote_ci(m, "macro_f1"), _f(m.get("ece"))]
            for m in comparison["models"]]  # fmt: skip
    maj = comparison["majority"]
    rows.append([f"majority: always {maj['label']}", "reference", maj["n"],
                 _with_ci(maj["accuracy"], maj["accuracy_ci"]), _with_ci(maj["macro_f1"], maj["macro_f1_ci"]),
                 _quote_ci(maj, "macro_f1"), "n/a"])  # fmt: skip
    unit = _ci_unit(comparison["models"][0])
    return _table(
        ["model", "kind", "n", f"accuracy [95% CI, {unit}]", f"macro-F1 [95% CI, {unit}]",
         "macro-F1 CI over quotes", "ECE"], rows, align="llrrrrr",
    )  # fmt: skip


def _pairs_table(comparison: dict[str, Any]) -> str:
    rows = []
    for pair in comparison["pairs"]:
        f1, mc = pair["macro_f1"], pair["mcnemar"]
        quotes = pair.get("macro_f1_quotes") if f1.get("unit") == "group" else None
        rows.append([
            f"{pair['a']} - {pair['b']}", f"{f1['difference']:+.3f}", f"[{f1['ci'][0]:+.3f}, {f1['ci'][1]:+.3f}]",
            _p(f1["p_value"]),
            f"[{quotes['ci'][0]:+.3f}, {quotes['ci'][1]:+.3f}], p = {_p(quotes['p_value'])}" if quotes else "-",
            f"{pair['accuracy_a'] - pair['accuracy_b']:+.3f}",
            f"{mc['a_right_b_wrong']} / {mc['a_wrong_b_right']}",
            f"{_p(mc['p_value'])} ({'exact' if mc['method'] == 'exact' else 'chi-square'})",
        ])  # fmt: skip
    return _table(
        ["A - B", "macro-F1 difference", "95% CI", "p (paired bootstrap)", "over quotes: 95% CI, p",
         "accuracy difference",
         "McNemar: only A right / only B right", "McNemar p"], rows, align="lrrrrrrr",
    )  # fmt: skip


_PAIRS_NOTE = (
    "The paired bootstrap resamples the same quotes (where the data names articles: the same "
    "whole articles; the quote-level test is beside it) for both models, so the interval is for "
    "the difference itself; p is two-sided (2 x the smaller share of resampled differences on "
    "either side of 0, add-one corrected). McNemar's test looks only at quotes exactly one model "
    "gets right and treats quotes as independent: exact binomial below 25 such quotes, else "
    "chi-square with continuity correction max(0, |b - c| - 1)^2 / (b + c). "
    "With a few hundred quotes only large differences are detectable: an interval that spans 0 "
    "means the data cannot tell the models apart, not that they are equal."
)


def comparison_markdown(comparison: dict[str, Any], images: dict[str, Any] | None = None,
                        title: str | None = None, level: int = 1) -> str:  # fmt: skip
    """The Markdown report of a :func:`stance.evaluation.evaluate.compare` result.

    Args:
        comparison: the comparison dict.
        images: ``{"comparison": path, "models": {name: {"confusion": path, "reliability": path}}}``.
        title: the top heading.
        level: heading level of the title (sections go one deeper).
    """
    images = images or {}
    h, hh = "#" * level, "#" * (level + 1)
    parts = [
        f"{h} {title or 'Model comparison'}",
        f"Data: `{comparison['data']}` (sha256 `{str(comparison.get('data_sha256', ''))[:16]}...`), "
        f"{comparison['n']} quotes; labels {', '.join(comparison['labels'])}.",
        _comparison_table(comparison),
        f"Reference row: {comparison['majority']['source']}.",
    ]
    if images.get("comparison"):
        parts.append(f"![Macro-F1 and accuracy with 95% intervals]({images['comparison']})")
    if comparison["pairs"]:
        parts += [f"{hh} Paired tests", _pairs_table(comparison), _PAIRS_NOTE]
    for m in comparison["models"]:
        model_images = (images.get("models") or {}).get(m["name"], {})
        parts.append(f"{hh} {m['name']} ({m['kind']})\n\nModel directory: `{m['model']}`.")
        parts.append(_model_sections(m, model_images, level=level + 2))
    parts.append(_settings_line(comparison))
    return "\n\n".join(parts) + "\n"


def _folds_table(cv: dict[str, Any]) -> str:
    labels = cv["labels"]
    rows = [[f["article"], f["n_train"], f["n_validation"], f["n_test"],
             " / ".join(str(f["label_counts"].get(label, 0)) for label in labels),
             _f(f["accuracy"]), _f(f["macro_f1"]), f"{f['train_seconds']:.1f}"]
            for f in cv["folds"]]  # fmt: skip
    return _table(
        ["held-out article", "train", "validation", "test", f"test {' / '.join(labels)}", "accuracy",
         "macro-F1", "train s"], rows,
    )  # fmt: skip


def cv_markdown(cv: dict[str, Any], images: dict[str, str] | None = None, title: str | None = None,
                level: int = 1) -> str:  # fmt: skip
    """The Markdown report of a :func:`stance.evaluation.evaluate.cross_validate` result."""
    h, hh = "#" * level, "#" * (level + 1)
    folds_note = (
        f"all {cv['n_articles']} articles" if cv["n_folds"] == cv["n_articles"]
        else f"the first {cv['n_folds']} of {cv['n_articles']} articles (a quick run)"
    )  # fmt: skip
    parts = [
        f"{h} {title or 'Leave-one-article-out cross-validation: ' + cv['kind']}",
        f"Config `{cv.get('config')}`, corpus `{cv['corpus']}` (sha256 `{str(cv.get('corpus_sha256', ''))[:16]}...`). "
        f"Each fold trains on everything except one article's seed quotes and predicts that article; "
        f"folds: {folds_note}. The out-of-fold predictions are pooled and scored below.",
        f"{hh} Pooled out-of-fold scores\n\n" + _model_sections(cv, images or {}, level=level + 2),
        _majority_line(cv["majority"]),
        f"{hh} Per fold\n\nMacro-F1 per fold averages over all labels, so an article without some "
        "label scores low however good the model is; quote the pooled numbers.\n\n"
        + _folds_table(cv),
        _settings_line(cv)
        + " Quotes from one article are not independent, so with few articles the real uncertainty "
        "is wider than these intervals.",
    ]
    return "\n\n".join(parts) + "\n"


def comparison_text(comparison: dict[str, Any]) -> str:
    """A plain-text table of a comparison for the terminal (models, reference, paired tests)."""
    unit = _ci_unit(comparison["models"][0])
    lines = [f"{comparison['data']}: {comparison['n']} quotes (95% intervals resample {unit})", ""]
    width = max(len(m["name"]) for m in comparison["models"]) + 2
    width = max(width, len(f"majority ({comparison['majority']['label']})") + 2)
    lines.append(f"{'model':<{width}}{'accuracy [95% CI]':>28}{'macro-F1 [95% CI]':>28}{'ECE':>8}")
    for m in comparison["models"]:
        lines.append(f"{m['name']:<{width}}{_with_ci(m['accuracy'], m['accuracy_ci']):>28}"
                     f"{_with_ci(m['macro_f1'], m['macro_f1_ci']):>28}{_f(m.get('ece')):>8}")  # fmt: skip
    maj = comparison["majority"]
    lines.append(f"{'majority (' + maj['label'] + ')':<{width}}{_with_ci(maj['accuracy'], maj['accuracy_ci']):>28}"
                 f"{_with_ci(maj['macro_f1'], maj['macro_f1_ci']):>28}{'n/a':>8}")  # fmt: skip
    lines.append(f"  reference: {maj['source']}")
    ran = [f"{m['name']} {m['precision']}" for m in comparison["models"] if m.get("precision")]
    if ran:  # bf16 and fp32 runs of one model differ slightly: say which was scored
        lines.append(f"  transformer precision: {', '.join(ran)}")
    for pair in comparison["pairs"]:
        f1, mc = pair["macro_f1"], pair["mcnemar"]
        lines.append("")
        lines.append(
            f"{pair['a']} - {pair['b']}: macro-F1 difference {f1['difference']:+.3f} "
            f"[{f1['ci'][0]:+.3f}, {f1['ci'][1]:+.3f}], paired bootstrap p = {_p(f1['p_value'])}"
        )
        if f1.get("unit") == "group" and pair.get("macro_f1_quotes"):
            q = pair["macro_f1_quotes"]
            lines.append(f"  over quotes instead of articles: [{q['ci'][0]:+.3f}, {q['ci'][1]:+.3f}], "
                         f"p = {_p(q['p_value'])}")  # fmt: skip
        lines.append(
            f"  McNemar ({mc['method']}): only {pair['a']} right {mc['a_right_b_wrong']}, only {pair['b']} "
            f"right {mc['a_wrong_b_right']}, p = {_p(mc['p_value'])}"
        )
    return "\n".join(lines)


def _set_rows(experiment: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of every model (and the majority reference) on every evaluation set."""
    sets = [("test", experiment["comparison"])] + [
        (e.get("set") or Path(e["data"]).stem, e) for e in experiment.get("extra") or []
    ]
    header = ["model"] + [f"{name} (n = {c['n']}) macro-F1 [95% CI, {_ci_unit(c['models'][0])}]"
                          for name, c in sets]  # fmt: skip
    rows = [[m["name"]] + [_with_ci(c["models"][i]["macro_f1"], c["models"][i]["macro_f1_ci"])
                           for _, c in sets]
            for i, m in enumerate(experiment["comparison"]["models"])]  # fmt: skip
    rows.append(["majority reference"] + [_with_ci(c["majority"]["macro_f1"], c["majority"]["macro_f1_ci"])
                                          for _, c in sets])  # fmt: skip
    return header, rows


def evaluation_sets_markdown(experiment: dict[str, Any]) -> str:
    """The main job's models side by side on the test split and every extra evaluation file."""
    header, rows = _set_rows(experiment)
    return _table(header, rows)


def experiment_text(experiment: dict[str, Any]) -> str:
    """What ``stance experiment`` prints: the test comparison, every set side by side, CV, timings."""
    parts = [comparison_text(experiment["comparison"])]
    for extra in experiment.get("extra") or []:
        parts.append(comparison_text(extra))
    if experiment.get("extra"):
        header, rows = _set_rows(experiment)
        parts.append("\n".join(["macro-F1 on every evaluation set, side by side:",
                                *_terminal_table(header, rows)]))  # fmt: skip
    for item in experiment.get("cv") or []:
        parts.append(
            f"CV {item['name']} ({item['n_folds']} folds, pooled n = {item['n']}): accuracy "
            f"{_with_ci(item['accuracy'], item['accuracy_ci'])}, macro-F1 "
            f"{_with_ci(item['macro_f1'], item['macro_f1_ci'])} (intervals over {_ci_unit(item)})"
        )
    for t in experiment.get("training") or []:
        val = (t.get("validation") or {}).get("macro_f1")
        if val is not None:
            use = t.get("validation_use") or "not a held-out score"
            parts.append(f"{t['name']}: validation macro-F1 {val:.3f} ({use})")
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in experiment["timings"].items())
    parts.append(f"timings: {timings}")
    if experiment.get("report_dir"):
        parts.append(f"report: {experiment['report_dir']}/report.md"
                     + (f" (copied to {experiment['docs_dir']})" if experiment.get("docs_dir") else ""))  # fmt: skip
    return "\n\n".join(parts)


def evaluation_text(result: dict[str, Any]) -> str:
    """A plain-text summary of an evaluation (or pooled CV) result for the terminal."""
    lines = [
        f"n = {result['n']}",
        f"accuracy  {_with_ci(result['accuracy'], result['accuracy_ci'])}",
        f"macro-F1  {_with_ci(result['macro_f1'], result['macro_f1_ci'])}   (95% bootstrap intervals "
        f"over {_ci_unit(result)})",
    ]
    if result.get("ci_unit") == "group":
        lines.append(f"          over quotes instead: accuracy {_quote_ci(result, 'accuracy')}, "
                     f"macro-F1 {_quote_ci(result, 'macro_f1')}")  # fmt: skip
    if result.get("ece") is not None:
        lines.append(f"ECE       {_f(result['ece'])}")
    if result.get("calibration"):
        lines.append(f"ECE before calibration {_f(result['calibration']['ece_raw'])}, after "
                     f"{_f(result['calibration']['ece'])}")  # fmt: skip
    if result.get("majority"):
        maj = result["majority"]
        lines.append(
            f"majority reference (always {maj['label']}): accuracy {maj['accuracy']:.3f}, "
            f"macro-F1 {maj['macro_f1']:.3f}  [{maj['source']}]"
        )
    lines += ["", *_terminal_table(
        ["label", "precision", "recall", "F1", "support"],
        [[label, _f(s["precision"]), _f(s["recall"]), _f(s["f1"]), s["support"]] for label, s in result["per_label"].items()],
    )]  # fmt: skip
    cm = result["confusion_matrix"]
    lines += ["", "confusion matrix (rows = true, columns = predicted)", *_terminal_table(
        ["", *cm["labels"]], [[label, *row] for label, row in zip(cm["labels"], cm["matrix"])]
    )]  # fmt: skip
    if result.get("reliability"):
        lines += ["", "reliability", *_terminal_table(
            ["confidence bin", "count", "mean confidence", "accuracy"],
            [[f"({r['bin'][0]:.1f}, {r['bin'][1]:.1f}]", r["count"], _f(r["mean_confidence"]), _f(r["accuracy"])]
             for r in result["reliability"] if r["count"]],
        )]  # fmt: skip
    if result.get("coverage"):
        cov = result["coverage"]
        lines += ["", f"coverage and accuracy (review threshold {_f(cov['review_threshold'])}: "
                  f"{cov['needs_review']} of {result['n']} need review)",
                  *_terminal_table(["threshold", "accepted", "coverage", "accuracy"], _coverage_rows(result))]  # fmt: skip
    if result.get("by"):
        header, rows = _by_rows(result, intervals=False)
        lines += ["", f"by {result['by']['column']} (--json or --report for the intervals)",
                  *_terminal_table(header, rows), _BY_NOTE]  # fmt: skip
    return "\n".join(lines)


def cv_text(cv: dict[str, Any]) -> str:
    """A plain-text summary of a cross-validation result: pooled scores, then one line per fold."""
    labels = cv["labels"]
    lines = [
        f"leave-one-article-out CV of {cv['kind']} ({cv['n_folds']} of {cv['n_articles']} folds), pooled out-of-fold:",
        evaluation_text(cv),
        "",
        "per fold (macro-F1 over all labels; noisy when an article lacks a label)",
        *_terminal_table(
            ["article", "n", " / ".join(labels), "accuracy", "macro-F1", "train s"],
            [[f["article"], f["n_test"], " / ".join(str(f["label_counts"][x]) for x in labels), _f(f["accuracy"]),
              _f(f["macro_f1"]), f"{f['train_seconds']:.1f}"] for f in cv["folds"]],
        ),
    ]  # fmt: skip
    return "\n".join(lines)


# --- writers ------------------------------------------------------------------------------------


def _model_figures(result: dict[str, Any], out: Path, prefix: str, title: str) -> dict[str, Path]:
    files = {
        "confusion": plot_confusion_matrix(
            result["confusion_matrix"]["matrix"], result["confusion_matrix"]["labels"],
            out / f"{prefix}confusion_matrix.png", title=f"Confusion matrix: {title}",
        ),
    }  # fmt: skip
    if result.get("reliability"):
        files["reliability"] = plot_reliability(
            result["reliability"],
            result.get("ece"),
            out / f"{prefix}reliability.png",
            title=f"Reliability: {title}",
        )
    if result.get("calibration"):
        files["reliability_raw"] = plot_reliability(
            result["calibration"]["reliability_raw"], result["calibration"]["ece_raw"],
            out / f"{prefix}reliability_raw.png", title=f"Reliability before calibration: {title}",
        )  # fmt: skip
        files["coverage"] = plot_coverage(
            result["coverage"],
            out / f"{prefix}coverage.png",
            title=f"Coverage and accuracy: {title}",
        )
    return files


def write_evaluation_report(result: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.md``, ``confusion_matrix.png`` and ``reliability.png`` into ``out_dir``.

    Returns:
        ``{"markdown": path, "confusion": path, "reliability": path}``.
    """
    out = Path(out_dir)
    ensure_directory(out)  # a file in the way: one clear error, not a traceback
    name = Path(result["model"]).name if result.get("model") else result.get("kind", "model")
    title = f"{name} on {Path(result['data']).name} (n = {result['n']})"
    figures = _model_figures(result, out, "", title)
    md = evaluation_markdown(result, images={k: p.name for k, p in figures.items()})
    return {"markdown": _write_text(out / "report.md", md), **figures}


def _comparison_figures(
    comparison: dict[str, Any], out: Path
) -> tuple[dict[str, Path], dict[str, Any]]:
    files: dict[str, Path] = {"comparison": plot_comparison(comparison, out / "comparison.png")}
    images: dict[str, Any] = {"comparison": "comparison.png", "models": {}}
    for m in comparison["models"]:
        title = f"{m['name']} on {Path(comparison['data']).name} (n = {m['n']})"
        figures = _model_figures(m, out, f"{_slug(m['name'])}_", title)
        images["models"][m["name"]] = {k: p.name for k, p in figures.items()}
        files.update({f"{m['name']}_{k}": p for k, p in figures.items()})
    return files, images


def write_comparison_report(comparison: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.md``, ``comparison.png`` and each model's two PNGs into ``out_dir``."""
    out = Path(out_dir)
    ensure_directory(out)  # a file in the way: one clear error, not a traceback
    files, images = _comparison_figures(comparison, out)
    md = comparison_markdown(comparison, images)
    return {"markdown": _write_text(out / "report.md", md), **files}


def write_cv_report(cv: dict[str, Any], out_dir: str | Path, prefix: str = "") -> dict[str, Path]:
    """Write ``report.md`` (or ``<prefix>cv.md``), a confusion matrix and a reliability PNG."""
    out = Path(out_dir)
    ensure_directory(out)  # a file in the way: one clear error, not a traceback
    title = f"{cv['kind']}, leave-one-article-out (n = {cv['n']})"
    figures = _model_figures(cv, out, f"{prefix}cv_", title)
    md = cv_markdown(cv, images={k: p.name for k, p in figures.items()})
    name = f"{prefix}cv.md" if prefix else "report.md"
    return {"markdown": _write_text(out / name, md), **figures}


def _machine_note(machine: dict[str, Any] | None) -> str:
    if not machine:
        return ""
    note = f" Machine: {machine.get('cpus')} usable CPU core(s)"
    start, end = machine.get("load_average_1_5_15min"), machine.get("load_average_at_end")
    # Facts only: a load average near the core count before the run means other processes
    # competed for the CPU; the value at the end includes this run's own load.
    if start:
        note += f"; load average {start[0]:.2f} (1 min) at the start"
    if end:
        note += f" and {end[2]:.2f} (15 min, this run included) at the end"
    return note + "."


def _training_section(experiment: dict[str, Any]) -> str:
    rows = [[t["name"], t["kind"], t["config"], t["model_dir"], f"{t['train_seconds']:.1f}",
             _f((t.get("validation") or {}).get("macro_f1"))]
            for t in experiment.get("training", [])]  # fmt: skip
    timings = experiment.get("timings", {})
    return "\n\n".join([
        "## Training\n\n" + _table(["model", "kind", "config", "saved to", "train s",
                                     "validation macro-F1 (not a test result)"], rows, align="lllllr"),
        "The validation split chose the transformer's best epoch (model selection), so its score "
        "there is optimistic; the baseline's C was chosen by grouped cross-validation on the "
        "training split only, and validation fitted each model's calibration. Neither is a test "
        "result: quote the test split and the extra sets.",
        "Timings (seconds): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()) + "."
        + _machine_note(experiment.get("machine")),
    ])  # fmt: skip


def _extra_sections(experiment: dict[str, Any]) -> list[str]:
    """Every model on every evaluation set side by side, then each extra set's table and tests."""
    extra = experiment.get("extra") or []
    if not extra:
        return []
    parts = ["## Every evaluation set\n\n" + evaluation_sets_markdown(experiment)]
    for e in extra:
        parts += [f"### {e.get('set') or Path(e['data']).name}\n\nData: `{e['data']}`, {e['n']} quotes.",
                  _comparison_table(e)]  # fmt: skip
        if e["pairs"]:
            parts.append(_pairs_table(e))
    return parts


def write_experiment_report(experiment: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write the main job's report: the test comparison, every extra set, training, optional CV.

    Args:
        experiment: the dict :func:`stance.evaluation.experiment.run_experiment` builds (``comparison``,
            ``extra``, ``training``, ``timings``, ``created_utc``, ``versions`` and optionally ``cv``).
        out_dir: the report directory.

    Returns:
        The files written, by name (``markdown`` is ``report.md``).
    """
    out = Path(out_dir)
    ensure_directory(out)  # a file in the way: one clear error, not a traceback
    comparison = experiment["comparison"]
    files, images = _comparison_figures(comparison, out)
    parts = [
        "# Stance models: held-out evaluation",
        f"Generated {experiment.get('created_utc', '')} by `stance experiment` (stance "
        f"{experiment.get('stance_version', '?')}). Both models were trained on the training split "
        "of their configs and scored on the held-out test split (whole seed articles no model saw "
        "in training) and on every extra evaluation file below.",
        "## Summary: test split\n\n" + _comparison_table(comparison),
        f"Reference row: {comparison['majority']['source']}.",
        "![Macro-F1 and accuracy with 95% intervals](comparison.png)",
    ]
    if comparison["pairs"]:
        parts += ["## Paired tests", _pairs_table(comparison), _PAIRS_NOTE]
    parts += _extra_sections(experiment)
    parts.append(_training_section(experiment))
    for m in comparison["models"]:
        parts.append(
            f"## {m['name']} ({m['kind']}) on the test split\n\nModel directory: `{m['model']}`."
        )
        parts.append(_model_sections(m, images["models"][m["name"]], level=3))
    for cv in experiment.get("cv") or []:
        cv_files = _model_figures(cv, out, f"{_slug(cv['name'])}_cv_",
                                  f"{cv['name']}, leave-one-article-out (n = {cv['n']})")  # fmt: skip
        files.update({f"{cv['name']}_cv_{k}": p for k, p in cv_files.items()})
        parts.append(cv_markdown(cv, images={k: p.name for k, p in cv_files.items()},
                                 title=f"Cross-validation: {cv['name']}", level=2))  # fmt: skip
    parts.append("## Method\n\n" + _settings_line(comparison))
    versions = experiment.get("versions") or {}
    if versions:
        parts.append(
            "Library versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if v) + "."
        )
    md = "\n\n".join(parts) + "\n"
    return {"markdown": _write_text(out / "report.md", md), **files}
