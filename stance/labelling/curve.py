"""Learning curves: does the model still improve with more labels?

For each seed, the training split is shuffled once per label and cut at each fraction, so the
subsets are nested (the 1/4 subset holds the 1/8 one) and keep the label mix; every label
keeps at least one example. Each subset trains a model through the kind's own trainer (the
config's validation file is kept for early stopping) and is scored on every evaluation file
with :mod:`stance.evaluation.metrics`. Results: a table of mean, standard deviation, minimum
and maximum over seeds of macro-F1 and accuracy per fraction and file (Markdown and JSON) and a
PNG of macro-F1 against the number of training examples.

Example:
    >>> curve = learning_curve("configs/baseline.yaml", seeds=(0, 1, 2))   # doctest: +SKIP
    >>> [(p["fraction"], p["n_train"], p["scores"]["test"]["macro_f1"]) for p in curve["points"]]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stance.config import TrainConfig, resolve_config
from stance.constants import AUTHORED_SOURCE
from stance.data.io import LabelledData
from stance.errors import DataError

__all__ = [
    "DEFAULT_FRACTIONS",
    "DEFAULT_SEEDS",
    "nested_subsets",
    "learning_curve",
    "curve_markdown",
    "write_curve",
]

DEFAULT_FRACTIONS = (0.125, 0.25, 0.5, 1.0)
DEFAULT_SEEDS = (0, 1, 2)


def nested_subsets(labels: Sequence[str], fractions: Sequence[float], seed: int) -> list[list[int]]:
    """Indices of each fraction's subset, stratified by label and nested (in file order)."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    orders = {label: rng.permutation(idx).tolist() for label, idx in sorted(by_label.items())}
    subsets = []
    for fraction in fractions:
        chosen = []
        for idx in orders.values():
            chosen += idx[: max(1, math.ceil(fraction * len(idx)))]
        subsets.append(sorted(chosen))
    return subsets


def _eval_data(paths: Sequence[str | Path], config: TrainConfig) -> dict[str, LabelledData]:
    from stance.data.io import load_labelled

    d = config.data
    out = {}
    for path in paths:
        name = Path(path).stem
        if name in out:  # two files called test.jsonl: use the full path as the name
            name = str(path)
        out[name] = load_labelled(path, d.labels, d.text_column, d.label_column)
    return out


def _scores(gold: Sequence[str], proba: np.ndarray, labels: list[str]) -> dict[str, float]:
    from stance.evaluation.metrics import accuracy, macro_f1

    pred = [labels[i] for i in proba.argmax(axis=1)]
    return {"macro_f1": macro_f1(gold, pred, labels), "accuracy": accuracy(gold, pred)}


def learning_curve(
    config: TrainConfig | str | Path = "configs/baseline.yaml",
    eval_files: Sequence[str | Path] | None = None,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    quiet: bool = True,
    progress: Callable[[dict[str, Any]], None] | None = None,
    overrides: dict[str, Any] | None = None,
    seed_cv: bool = False,
) -> dict[str, Any]:
    """Train on growing fractions of the training split and score each model.

    Args:
        config: the model (baseline by default; transformer configs work, slowly).
        eval_files: labelled files to score on; default the config's test file.
        fractions: of the training split, each in (0, 1].
        seeds: one nested series of subsets per seed (the trainer keeps the config's seed).
        seed_cv: also (first) score the seed leave-one-article-out cross-validation: only the
            authored statements are cut, and each evaluation file's score is the mean over the
            fold models (see :func:`_seed_cv_points`). Evaluation files must then share no text
            with the corpus (a :class:`DataError` otherwise): every corpus text trains or
            validates some fold model, so the test split cannot be an ``eval_files`` entry.
        progress: called with each point as it is done.
        overrides: dotted config keys to set (on a path or a config), e.g. ``{"baseline.C_grid": [30.0]}``.

    Returns:
        ``{"config", "kind", "train", "seed_cv", "overrides", "eval_files", "fractions",
        "seeds", "points": [{fraction, seed, n_train, scores: {file: {macro_f1, accuracy}},
        seconds}], "summary": [{fraction, n_train, file, macro_f1_mean, macro_f1_sd,
        macro_f1_min, macro_f1_max, accuracy_mean, accuracy_sd}], "seconds"}``. With
        ``seed_cv`` the first file is ``"seed_cv"`` (its scores add ``macro_f1_ci`` and
        ``accuracy_ci``, over articles) and each point adds ``folds`` (per-fold scores and
        probabilities on the files) and ``seed_cv_predictions`` (article, gold, predicted and
        probabilities of every held-out quote).
    """
    started = time.perf_counter()
    cfg = resolve_config(config, overrides)
    if not fractions or any(not 0 < f <= 1 for f in fractions):
        raise ValueError(f"fractions must lie in (0, 1], found {list(fractions)}")
    # Under seed_cv the test articles are folds already, so no file is scored by default.
    files = list(eval_files) if eval_files else ([] if seed_cv else [cfg.data.test])
    if any(f is None for f in files):
        raise ValueError("no evaluation file: give one (--eval) or set data.test in the config")
    evals = _eval_data(files, cfg)
    if seed_cv:
        train_name, eval_paths, points = _seed_cv_points(
            cfg, evals, fractions, seeds, quiet, progress
        )
    else:
        train_name, eval_paths, points = _split_points(
            cfg, evals, fractions, seeds, quiet, progress
        )
    return {
        "config": cfg.source, "kind": cfg.kind, "train": train_name, "seed_cv": seed_cv,
        "overrides": dict(overrides or {}), "eval_files": eval_paths,
        "fractions": list(fractions), "seeds": list(seeds), "points": points,
        "summary": _summary(points, list(fractions), list(eval_paths)),
        "seconds": round(time.perf_counter() - started, 3),
    }  # fmt: skip


def _split_points(cfg: TrainConfig, evals: dict[str, LabelledData], fractions: Sequence[float],
                  seeds: Sequence[int], quiet: bool,
                  progress: Callable | None) -> tuple[str, dict[str, str], list[dict]]:  # fmt: skip
    """Points of the plain curve: subsets of the training split, scored on the evaluation files."""
    from stance.labelling.folds import train_and_predict
    from stance.models.training import prepare_data

    data = prepare_data(cfg)
    labels = list(cfg.data.labels)
    points = []
    for seed in seeds:
        for fraction, idx in zip(fractions, nested_subsets(data.train.labels, fractions, seed)):
            t0 = time.perf_counter()
            probas = train_and_predict(
                cfg, data.train.subset(idx), data.validation, [e.texts for e in evals.values()],
                quiet,
            )  # fmt: skip
            point = {
                "fraction": fraction, "seed": seed, "n_train": len(idx),
                "scores": {name: _scores(e.labels, p, labels)
                           for (name, e), p in zip(evals.items(), probas)},
                "seconds": round(time.perf_counter() - t0, 3),
            }  # fmt: skip
            points.append(point)
            if progress is not None:
                progress(point)
    return str(cfg.data.train), {name: e.path for name, e in evals.items()}, points


def _seed_cv_points(cfg: TrainConfig, evals: dict[str, LabelledData], fractions: Sequence[float],
                    seeds: Sequence[int], quiet: bool,
                    progress: Callable | None) -> tuple[str, dict[str, str], list[dict]]:  # fmt: skip
    """Points of the curve on the seed cross-validation (``stance cv``'s folds).

    Only the authored statements are cut: every fold trains on the fraction's authored subset
    (the same subset in every fold) plus the other articles' seed quotes, exactly as ``stance
    cv`` does at fraction 1. The held-out articles' predictions are pooled into one seed-CV
    score; each evaluation file is scored by every fold's model and the scores are averaged
    (``folds`` keeps them one by one), because no single model of the curve saw all the data.
    So an evaluation file must hold no corpus text (:func:`_refuse_corpus_texts`).
    """
    from stance.data.corpus import article_folds, is_real_quote
    from stance.evaluation.evaluate import _read_corpus

    records, data = _read_corpus(cfg)
    _refuse_corpus_texts(evals, data)
    folds = article_folds(records, group_column=cfg.data.group_column, path=cfg.data.corpus,
                          lines=data.lines)  # fmt: skip
    if len(folds) < 2:
        raise DataError(cfg.data.corpus, "the seed cross-validation needs at least two "
                        f"articles, found {len(folds)} (column {cfg.data.group_column!r})")  # fmt: skip
    # The authored pool: training statements common to every fold (not validation, not seeds).
    pool = [i for i in folds[0][1] if not is_real_quote(records[i])]
    if not pool:
        raise DataError(cfg.data.corpus, "no authored statements to cut: expected records "
                        f"with 'source' == {AUTHORED_SOURCE!r}")  # fmt: skip
    points = []
    for seed in seeds:
        subsets = nested_subsets([data.labels[i] for i in pool], fractions, seed)
        for fraction, chosen in zip(fractions, subsets):
            t0 = time.perf_counter()
            authored = [pool[j] for j in chosen]
            point = _seed_cv_point(cfg, data, folds, authored, evals, quiet)
            point = {"fraction": fraction, "seed": seed, "n_train": len(authored), **point,
                     "seconds": round(time.perf_counter() - t0, 3)}  # fmt: skip
            points.append(point)
            if progress is not None:
                progress(point)
    eval_paths = {"seed_cv": f"leave-one-article-out over {cfg.data.corpus}"}
    eval_paths.update({name: e.path for name, e in evals.items()})
    return f"authored statements of {cfg.data.corpus}", eval_paths, points


def _refuse_corpus_texts(evals: dict[str, LabelledData], corpus: LabelledData) -> None:
    """Refuse an evaluation file that shares a text with the corpus (same text up to case and
    spacing): under seed CV every fold model but one trains on each seed quote, and the others'
    early stopping and calibration see the validation statements, so such a file would be
    scored by models that saw its quotes (the test split, the guideline-blind test file...).
    """
    from stance.data.corpus import _normalise  # the duplicate check's notion of "same text"

    seen = {_normalise(t) for t in corpus.texts}
    for e in evals.values():
        lines = [ln for t, ln in zip(e.texts, e.lines) if _normalise(t) in seen]
        if lines:
            raise DataError(e.path, f"expected quotes the seed cross-validation never trains on, "
                            f"found {len(lines)} of {len(e)} texts also in the corpus "
                            f"{corpus.path} (the first here); drop this --eval file (seed_cv "
                            "already scores each article held out) or pass quotes not in the "
                            "corpus, such as the dev set", line=lines[0])  # fmt: skip


def _seed_cv_point(cfg: TrainConfig, data: LabelledData, folds: list[tuple], authored: list[int],
                   evals: dict[str, LabelledData], quiet: bool) -> dict[str, Any]:  # fmt: skip
    """Train one model per fold on ``authored`` plus the other articles; pooled and mean scores."""
    from stance.data.corpus import is_real_quote
    from stance.evaluation.metrics import bootstrap_ci
    from stance.labelling.folds import train_and_predict

    labels = list(cfg.data.labels)
    held_gold: list[str] = []
    held_pred: list[np.ndarray] = []
    held_article: list[str] = []
    per_fold = []
    for article, train_idx, val_idx, test_idx in folds:
        # The other articles' seed quotes are always kept whole: only authored data is cut.
        seeds_in_train = [i for i in train_idx if is_real_quote(data.records[i])]
        train = data.subset(sorted(authored + seeds_in_train))
        test = data.subset(test_idx)
        probas = train_and_predict(cfg, train, data.subset(val_idx) if val_idx else None,
                                   [test.texts] + [e.texts for e in evals.values()], quiet)  # fmt: skip
        held_gold += test.labels
        held_pred.append(probas[0])
        held_article += [article] * len(test)
        # Probabilities are kept (4 decimals) so that ensembles can be scored afterwards.
        per_fold.append({"article": article, "n_train": len(train),
                         "scores": {name: _scores(e.labels, p, labels)
                                    for (name, e), p in zip(evals.items(), probas[1:])},
                         "probabilities": {name: np.round(p, 4).tolist()
                                           for name, p in zip(evals, probas[1:])}})  # fmt: skip
    held_proba = np.concatenate(held_pred)
    predicted = [labels[i] for i in held_proba.argmax(axis=1)]
    scores = {"seed_cv": _scores(held_gold, held_proba, labels)}
    # Quotes of one article are not independent: the interval resamples whole articles.
    ci = bootstrap_ci(held_gold, predicted, labels, groups=held_article)
    scores["seed_cv"].update(macro_f1_ci=ci["macro_f1"], accuracy_ci=ci["accuracy"])
    for name in evals:
        scores[name] = {metric: float(np.mean([f["scores"][name][metric] for f in per_fold]))
                        for metric in ("macro_f1", "accuracy")}  # fmt: skip
    held_out = {"article": held_article, "gold": held_gold, "predicted": predicted,
                "probabilities": np.round(held_proba, 4).tolist()}  # fmt: skip
    return {"scores": scores, "folds": per_fold, "seed_cv_predictions": held_out}


def _summary(points: list[dict[str, Any]], fractions: list[float], files: list[str]) -> list[dict]:
    rows = []
    for name in files:
        for fraction in fractions:
            at = [p for p in points if p["fraction"] == fraction]
            f1 = np.array([p["scores"][name]["macro_f1"] for p in at])
            acc = np.array([p["scores"][name]["accuracy"] for p in at])
            rows.append({
                "file": name, "fraction": fraction,
                "n_train": int(round(np.mean([p["n_train"] for p in at]))),
                "macro_f1_mean": float(f1.mean()), "macro_f1_sd": float(f1.std(ddof=1)) if len(f1) > 1 else 0.0,
                "macro_f1_min": float(f1.min()), "macro_f1_max": float(f1.max()),
                "accuracy_mean": float(acc.mean()), "accuracy_sd": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
            })  # fmt: skip
    return rows


def curve_markdown(curve: dict[str, Any]) -> str:
    """The summary table as Markdown, one table per evaluation file."""
    out = [f"# Learning curve ({curve['kind']}, {curve['config']})", "",
           f"Training data: {curve['train']}; seeds {', '.join(map(str, curve['seeds']))} "
           "(nested stratified subsets per seed). Mean ± sample SD over seeds [min, max].", ""]  # fmt: skip
    if curve.get("overrides"):
        settings = ", ".join(f"{k} = {v}" for k, v in curve["overrides"].items())
        out += [f"Config overrides for every point: {settings}.", ""]
    if curve.get("seed_cv"):
        out += ["seed_cv: leave-one-article-out over the seed quotes; each fold trains on the "
                "authored subset plus the other articles' seed quotes, and the held-out "
                "predictions are pooled. Other files: mean over the fold models' scores.", ""]  # fmt: skip
    for name, path in curve["eval_files"].items():
        out += [f"## {name} ({path})", "",
                "| fraction | training examples | macro-F1 mean ± SD [min, max] | accuracy mean ± SD |",
                "|---:|---:|---:|---:|"]  # fmt: skip
        for r in (r for r in curve["summary"] if r["file"] == name):
            out.append(
                f"| {r['fraction']:g} | {r['n_train']} | {r['macro_f1_mean']:.3f} ± "
                f"{r['macro_f1_sd']:.3f} [{r['macro_f1_min']:.3f}, {r['macro_f1_max']:.3f}] | "
                f"{r['accuracy_mean']:.3f} ± {r['accuracy_sd']:.3f} |"
            )
        out.append("")
    return "\n".join(out)


def _plot(curve: dict[str, Any], path: Path) -> Path:
    from stance.evaluation.report import _figure  # the reports' figure settings

    fig = _figure(6.0, 4.0)
    ax = fig.add_subplot()
    for name in curve["eval_files"]:
        rows = [r for r in curve["summary"] if r["file"] == name]
        x = [r["n_train"] for r in rows]
        ax.errorbar(x, [r["macro_f1_mean"] for r in rows], yerr=[r["macro_f1_sd"] for r in rows],
                    marker="o", capsize=3, label=name)  # fmt: skip
        for p in (p for p in curve["points"] if name in p["scores"]):
            ax.plot(p["n_train"], p["scores"][name]["macro_f1"], ".", color="grey", alpha=0.5)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("training examples (log scale)")
    ax.set_ylabel("macro-F1")
    ax.set_title(f"Learning curve: {curve['kind']}")
    ax.legend()
    fig.savefig(path)
    return path


def write_curve(curve: dict[str, Any], out_dir: str | Path) -> dict[str, str]:
    """Write ``learning_curve.md``, ``learning_curve.json`` and ``learning_curve.png``."""
    from stance.models.artifacts import atomic_file, ensure_directory

    out = ensure_directory(out_dir)
    paths = {"markdown": out / "learning_curve.md", "json": out / "learning_curve.json",
             "png": out / "learning_curve.png"}  # fmt: skip
    with atomic_file(paths["markdown"]) as fh:
        fh.write(curve_markdown(curve) + "\n")
    with atomic_file(paths["json"]) as fh:
        # Compact: with --seed-cv it holds every fold model's probabilities (the table is the
        # human-readable part).
        json.dump(curve, fh, separators=(",", ":"), allow_nan=False)
        fh.write("\n")
    _plot(curve, paths["png"])
    return {k: str(v) for k, v in paths.items()}
