"""Inference benchmark: stance.predict against transformers.pipeline, on one model and one text set.

Run from the repository root (the exact command for the README)::

    python bench/bench_predict.py --out bench/results.json

What it measures, all in one run on the same model and the same 1,000 quotes:

- throughput (quotes/s) of ``stance.predict`` with each method of :data:`METHODS` (torch at the
  default precision, torch in exact fp32, onnx, onnx-int8) and of
  ``transformers.pipeline("text-classification")`` with its default settings and with
  ``batch_size=64``, and the ratios;
- single-quote latency (median and p95 over repeated one-quote calls);
- peak memory: the max RSS of a fresh Python process that loads the model and predicts the
  1,000 quotes (one subprocess per method);
- start-up: ``python -c "import stance"`` and ``stance --help`` wall time (subprocesses,
  repeated, median), next to a bare ``python -c pass``;
- agreement of the default torch, onnx and onnx-int8 methods with the exact fp32 torch model on a
  held-out set
  (``data/splits/test.jsonl`` + ``validation.jsonl`` when present): the share of identical
  labels and the largest probability difference. int8 is acceptable only at >= 99% agreement.

Inputs: the model is ``--model``, else ``models/transformer`` when it is trained, else one is
trained for the benchmark into ``models/bench-transformer`` from ``configs/transformer.yaml``
(needs the data splits). The quotes are of real length: seed quotes, the development set and the
long authored quotes, drawn up to ``--n`` (see :func:`bench_texts`); a synthetic set of
quote-like sentences only when no data is present.

Output: a Markdown table on stdout (paste it into docs/benchmarks.md) and, with ``--out``, the
raw numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Each stance method: its load options. "torch" is the default (precision auto: bfloat16 where
# the CPU multiplies it natively); "torch, fp32" is the exact reference every other is checked
# against.
METHODS: dict[str, dict[str, str]] = {
    "torch": {"backend": "torch"},
    "torch, fp32": {"backend": "torch", "precision": "fp32"},
    "onnx": {"backend": "onnx"},
    "onnx-int8": {"backend": "onnx-int8"},
}
REFERENCE_METHOD = "torch, fp32"
TARGETS = {
    "throughput_vs_pipeline_default": 3.0,
    "throughput_vs_pipeline_batch64": 1.5,
    "latency_median_ms": 15.0,
    "peak_rss_mb": 600.0,
    "import_s": 0.3,
    "int8_agreement": 0.99,
}

# --- inputs ---------------------------------------------------------------------------------------


def _read_texts(path: Path) -> list[str]:
    from stance.data.io import iter_records

    return [
        r["text"]
        for _, r in iter_records(path)
        if isinstance(r.get("text"), str) and r["text"].strip()
    ]


def synthetic_quotes(n: int, seed: int = 0) -> list[str]:
    """Quote-like sentences of realistic, varied length (about 8 to 70 words)."""
    rng = random.Random(seed)
    subjects = ["The vanguard", "Our primary care network", "The federation", "This integrated care board",
                "The new care model", "The multispecialty community provider", "The super-partnership",
                "Neighbourhood health", "The accountable care organisation", "The PCN DES"]  # fmt: skip
    verbs = ["has transformed", "is destroying", "could rescue", "will only work for", "has done nothing for",
             "gave a real voice to", "is a distraction from", "might help", "undermines", "has improved"]  # fmt: skip
    objects = ["general practice", "patients in rural areas", "our practice list", "district nursing",
               "continuity of care", "the partnership model", "out-of-hours cover", "the local hospital"]  # fmt: skip
    tails = ["if the money follows the patient", "unless the funding is recurrent", "and everyone knows it",
             "but nobody asked the GPs", "as long as we keep our contracts", "in my experience",
             "according to the figures we have seen so far", "which is exactly what we warned about"]  # fmt: skip
    out = []
    for _ in range(n):
        parts = [f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)}"]
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3, 5])):
            parts.append(
                f"{rng.choice(tails)}, and {rng.choice(subjects).lower()} {rng.choice(verbs)} {rng.choice(objects)}"
            )
        out.append(", ".join(parts) + ".")
    return out


def _records(path: Path) -> list[dict]:
    from stance.data.io import iter_records

    return [
        r for _, r in iter_records(path) if isinstance(r.get("text"), str) and r["text"].strip()
    ]


def bench_texts(n: int, seed: int = 0) -> tuple[list[str], str]:
    """Quotes of real length: the seed quotes, the development set of real positions and the
    long multi-sentence authored quotes (``form: long_direct``), drawn with replacement to ``n``
    in fixed shares.

    The short authored one-liners are left out on purpose: timing on them flattered the
    package (a length-sorted batcher gains most on long, uneven texts, and so does padding).
    """
    pools = []
    corpus = ROOT / "data" / "corpus.jsonl"
    if corpus.is_file():
        rows = _records(corpus)
        pools.append(("seed quotes", [r["text"] for r in rows if r.get("source") != "authored"]))
        pools.append(
            ("long authored quotes", [r["text"] for r in rows if r.get("form") == "long_direct"])
        )
    dev = ROOT / "data" / "dev_positions.jsonl"
    if dev.is_file():
        pools.append(("dev set", [r["text"] for r in _records(dev)]))
    pools = [(name, pool) for name, pool in pools if pool]
    if not pools:
        return synthetic_quotes(n), f"synthetic quote-like sentences ({n})"
    # Shares: 40% seed quotes, 40% dev set, 20% long quotes, so the lengths follow real news
    # quotes (median about 35 words) with a realistic tail of long ones.
    weights = {"seed quotes": 0.4, "dev set": 0.4, "long authored quotes": 0.2}
    rng = random.Random(seed)
    names = [name for name, _ in pools]
    chosen = rng.choices(range(len(pools)), weights=[weights[x] for x in names], k=n)
    drawn = [rng.choice(pools[i][1]) for i in chosen]
    words = sorted(len(t.split()) for t in drawn)
    note = " + ".join(f"{name} ({len(pool)})" for name, pool in pools)
    return drawn, f"{n} drawn from {note}; words median {words[n // 2]}, p95 {words[int(n * 0.95)]}"


def heldout_texts(fallback: list[str]) -> tuple[list[str], str]:
    splits = ROOT / "data" / "splits"
    texts, names = [], []
    for name in ("test", "validation"):
        path = splits / f"{name}.jsonl"
        if path.is_file():
            texts += _read_texts(path)
            names.append(f"data/splits/{name}.jsonl")
    if texts:
        return texts, " + ".join(names) + f" ({len(texts)} quotes)"
    unique = list(dict.fromkeys(fallback))
    return unique, f"the benchmark quotes ({len(unique)} distinct; no held-out split found)"


def resolve_model(arg: str | None) -> tuple[Path, str]:
    if arg:
        return Path(arg), f"{arg} (given)"
    default = ROOT / "models" / "transformer"
    if (default / "metadata.json").is_file():
        return default, "models/transformer (the trained MiniLM)"
    target = ROOT / "models" / "bench-transformer"  # models/* is git-ignored
    if not (target / "metadata.json").is_file():
        from stance.models.training import train

        print(
            "no trained models/transformer: training one for the benchmark into models/bench-transformer ...",
            file=sys.stderr,
        )
        train(ROOT / "configs" / "transformer.yaml", output_dir=target, quiet=False)
    return (
        target,
        "models/bench-transformer (trained for the benchmark from configs/transformer.yaml)",
    )


# --- measurements ------------------------------------------------------------------------------------


def _timed(fn, repeats: int) -> float:
    """Median wall seconds of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def latency_ms(fn, texts: list[str], calls: int) -> dict[str, float]:
    for text in texts[:10]:  # warm-up
        fn(text)
    times = []
    for i in range(calls):
        text = texts[i % len(texts)]
        start = time.perf_counter()
        fn(text)
        times.append((time.perf_counter() - start) * 1000)
    return {"median": statistics.median(times), "p95": _percentile(times, 0.95)}


# Peak RSS is read from /proc/self/status (VmHWM): unlike getrusage's ru_maxrss, which Linux
# carries over an exec from the forked parent, it belongs to this process image alone.
_RSS_SCRIPT = """
import json, sys, warnings
warnings.simplefilter("ignore")
texts = json.load(open(sys.argv[1]))
if sys.argv[3] == "pipeline":
    from transformers import pipeline
    clf = pipeline("text-classification", model=sys.argv[2], device=-1)
    clf(texts, batch_size=64)
else:
    import stance
    stance.predict(texts, model=sys.argv[2], device="cpu", **json.loads(sys.argv[3]))
status = open("/proc/self/status").read()
print(next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")))
"""


def peak_rss_mb(model: Path, texts_file: Path, method: str) -> float:
    """Peak RSS of one fresh process; ``method`` is a key of METHODS or ``"pipeline"``."""
    arg = "pipeline" if method == "pipeline" else json.dumps(METHODS[method])
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(texts_file), str(model), arg],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return int(out.stdout.strip().splitlines()[-1]) / 1024  # VmHWM is in kB


def command_seconds(cmd: list[str], repeats: int) -> float:
    subprocess.run(cmd, capture_output=True, check=True, cwd=ROOT)  # warm the file cache
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _relative(path: Path) -> str:
    """``path`` relative to the repository when inside it (results carry no home directories)."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def machine() -> dict[str, str | int]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import onnxruntime
    import torch
    import transformers

    from stance.inference.predictor import available_cpus

    return {
        "cpu": cpu, "cores_usable": available_cpus(), "os_cpu_count": os.cpu_count() or 0,
        "load_average_at_start": round(os.getloadavg()[0], 2),
        "python": platform.python_version(), "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "transformers": transformers.__version__,
        "onnxruntime": onnxruntime.__version__,
    }  # fmt: skip


def _chosen_methods(names: str | None) -> dict[str, dict[str, str]]:
    """The methods of ``--methods`` (comma-separated keys of METHODS; default all), always with
    the exact reference that agreement is measured against."""
    if not names:
        return dict(METHODS)
    chosen = {n.strip() for n in names.split(",")} | {REFERENCE_METHOD}
    unknown = sorted(chosen - set(METHODS))
    if unknown:
        raise SystemExit(f"--methods: unknown {unknown}; choose from {', '.join(METHODS)}")
    return {name: options for name, options in METHODS.items() if name in chosen}


def _other_models(dirs: list[str], texts: list[str], args: argparse.Namespace,
                  throughput: dict[str, float]) -> dict[str, tuple[Path, object]]:  # fmt: skip
    """Time other stance models (``--also``: an ensemble, a runner-up) as ``stance.predict``
    runs them by default, on the same quotes; add their rows to ``throughput``."""
    import stance
    from stance.evaluation.evaluate import display_names

    out = {}
    # Unique row names: two models in folders of the same name must not overwrite each other.
    for d, short in zip(dirs, display_names(dirs, ["model"] * len(dirs))):
        path = Path(d)
        clf = stance.load(path, device="cpu")
        name = f"stance (torch), {short}"
        clf.predict(texts[:64])  # warm-up
        seconds = _timed(lambda clf=clf: stance.predict(texts, model=clf), args.repeats)
        throughput[name] = len(texts) / seconds
        print(f"{name}: {len(texts) / seconds:.1f} quotes/s", file=sys.stderr)
        out[name] = (path, clf)
    return out


# --- main ---------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict:
    import numpy as np
    from transformers import pipeline
    from transformers.utils import logging as hf_logging

    import stance

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    warnings.simplefilter("ignore")

    if os.getloadavg()[0] > 0.5:
        print(
            f"warning: load average {os.getloadavg()[0]:.2f}: other processes are using the CPU, "
            "so the timings will be low and noisy; run on a quiet machine",
            file=sys.stderr,
        )
    model, model_note = resolve_model(args.model)
    texts, texts_note = bench_texts(args.n)
    heldout, heldout_note = heldout_texts(texts)
    meta = json.loads((model / "metadata.json").read_text())
    results: dict = {
        "machine": machine(), "model": model_note, "model_dir": _relative(model),
        "backbone": (meta.get("backbone") or {}).get("name"), "max_length": meta.get("max_length"),
        "texts": texts_note, "n": len(texts), "heldout": heldout_note,
        "command": "python bench/bench_predict.py " + " ".join(sys.argv[1:]),
    }  # fmt: skip
    print(f"model: {model_note}; quotes: {texts_note}", file=sys.stderr)

    # Throughput.
    throughput: dict[str, float] = {}
    predictors = {}
    methods = _chosen_methods(args.methods)
    results["methods"] = list(methods)
    for method, options in methods.items():
        clf = stance.load(model, device="cpu", **options)  # exports ONNX on first use
        predictors[method] = clf
        clf.predict(texts[:64])  # warm-up
        seconds = _timed(lambda clf=clf: stance.predict(texts, model=clf), args.repeats)
        throughput[f"stance ({method})"] = len(texts) / seconds
        print(f"stance {method}: {len(texts) / seconds:.1f} quotes/s", file=sys.stderr)
    results["torch_precision"] = predictors["torch"].precision
    others = _other_models(args.also or [], texts, args, throughput)
    results["other_models"] = {name: _relative(path) for name, (path, _) in others.items()}
    pipe = pipeline("text-classification", model=str(model), device=-1)
    pipe(texts[:8])
    for label, kwargs in (
        ("pipeline (default)", {}),
        ("pipeline (batch_size=64)", {"batch_size": 64}),
    ):
        seconds = _timed(lambda kwargs=kwargs: pipe(texts, **kwargs), args.pipeline_repeats)
        throughput[label] = len(texts) / seconds
        print(f"{label}: {len(texts) / seconds:.1f} quotes/s", file=sys.stderr)
    results["throughput"] = throughput

    # Single-quote latency.
    latency = {
        f"stance ({b})": latency_ms(
            lambda t, clf=predictors[b]: stance.predict(t, model=clf), texts, args.calls
        )
        for b in methods
    }
    latency["pipeline (default)"] = latency_ms(pipe, texts, args.calls)
    for name, (_, clf) in others.items():
        latency[name] = latency_ms(
            lambda t, clf=clf: stance.predict(t, model=clf), texts, args.calls
        )
    results["latency_ms"] = latency

    # Agreement with the exact fp32 torch model on held-out quotes.
    reference = predictors[REFERENCE_METHOD].predict_proba(heldout)
    agreement = {}
    for method in (m for m in methods if m != REFERENCE_METHOD):
        probs = predictors[method].predict_proba(heldout)
        agreement[method] = {
            "label_agreement": float(np.mean(probs.argmax(1) == reference.argmax(1))),
            "max_prob_diff": float(np.abs(probs - reference).max()),
            "n": len(heldout),
        }
    results["agreement_with_torch"] = agreement

    # Peak memory, fresh processes.
    with tempfile.TemporaryDirectory() as tmp:
        texts_file = Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(texts))
        results["peak_rss_mb"] = (
            {f"stance ({b})": peak_rss_mb(model, texts_file, b) for b in methods}
            | {"pipeline (batch_size=64)": peak_rss_mb(model, texts_file, "pipeline")}
            | {name: peak_rss_mb(path, texts_file, "torch") for name, (path, _) in others.items()}
        )

    # Start-up.
    stance_cmd = shutil.which("stance")
    help_cmd = (
        [stance_cmd, "--help"] if stance_cmd else [sys.executable, "-m", "stance.cli", "--help"]
    )
    results["startup_s"] = {
        "python -c pass": command_seconds([sys.executable, "-c", "pass"], args.startup_repeats),
        "python -c 'import stance'": command_seconds(
            [sys.executable, "-c", "import stance"], args.startup_repeats
        ),
        "stance --help": command_seconds(help_cmd, args.startup_repeats),
    }
    results["load_average_at_end"] = round(os.getloadavg()[0], 2)
    return results


def markdown(r: dict) -> str:
    t, lat, rss, up, agr = (
        r["throughput"],
        r["latency_ms"],
        r["peak_rss_mb"],
        r["startup_s"],
        r["agreement_with_torch"],
    )
    default, b64 = t["pipeline (default)"], t["pipeline (batch_size=64)"]
    m = r["machine"]
    lines = [
        f"Machine: {m['cpu']}, {m['cores_usable']} usable cores; Python {m['python']}, torch {m['torch']} "
        f"({m['torch_threads']} threads), transformers {m['transformers']}, onnxruntime {m['onnxruntime']}.",
        f"Load average (1 min) at start / end: {m['load_average_at_start']} / {r['load_average_at_end']}.",
        f"Model: {r['model']} (backbone {r['backbone']}, max_length {r['max_length']}). Quotes: {r['texts']}.",
        f"Command: `{r['command'].strip()}`",
        "",
        "| method | quotes/s | vs pipeline default | vs pipeline batch 64 | latency median (ms) | latency p95 (ms) | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, qps in t.items():
        la = lat.get(name) or {}
        mem = rss.get(name)
        la_cells = f"{la['median']:.1f} | {la['p95']:.1f}" if la else "– | –"
        mem_cell = f"{mem:.0f}" if mem is not None else "–"
        lines.append(
            f"| {name} | {qps:.0f} | {qps / default:.2f}x | {qps / b64:.2f}x | {la_cells} | {mem_cell} |"
        )
    lines += [
        "",
        "| start-up (median wall time) | seconds |",
        "|---|---:|",
        *[f"| `{k}` | {v:.3f} |" for k, v in up.items()],
        "",
        f"Agreement with the exact fp32 torch model on {r['heldout']}"
        f" (the `torch` row runs in {r.get('torch_precision', 'fp32')}):",
        "",
        "| method | same label | max probability difference |",
        "|---|---:|---:|",
        *[
            f"| {k} | {v['label_agreement']:.1%} | {v['max_prob_diff']:.2g} |"
            for k, v in agr.items()
        ],
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", help="transformer model directory (default: models/transformer, else train one)"
    )
    parser.add_argument("--n", type=int, default=1000, help="number of quotes (default 1000)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs per stance method (median)"
    )
    parser.add_argument(
        "--pipeline-repeats", type=int, default=1, help="timed runs per pipeline setting"
    )
    parser.add_argument("--calls", type=int, default=300, help="single-quote calls for latency")
    parser.add_argument(
        "--startup-repeats", type=int, default=10, help="runs of each start-up command"
    )
    parser.add_argument(
        "--methods",
        help="comma-separated stance methods to time (default all: " + ", ".join(METHODS)
        + f"); {REFERENCE_METHOD!r} is always included",
    )  # fmt: skip
    parser.add_argument(
        "--also", action="append", metavar="DIR",
        help="another model directory to time the same way (repeatable; e.g. an ensemble)",
    )  # fmt: skip
    parser.add_argument("--out", help="also write the raw numbers to this JSON file")
    args = parser.parse_args()
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    results = run(args)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))


if __name__ == "__main__":
    main()
