"""An optional, faster runtime for transformer models: ONNX export + onnxruntime.

``stance.load(model_dir, backend="onnx")`` (CLI: ``--backend onnx``) runs a fine-tuned
transformer with onnxruntime instead of PyTorch. The first use exports the model to ONNX
(``torch.onnx.export`` with the TorchScript exporter, ``dynamo=False``: the dynamo exporter
needs ``onnxscript``) and caches the file; later loads never import torch or transformers,
which makes them faster to start and far lighter in memory. ``backend="onnx-int8"``
additionally quantises the weights to int8 (``onnxruntime.quantization.quantize_dynamic``):
faster again, at the price of small probability differences; use it only where its
predictions agree with the PyTorch model on held-out data (``bench/bench_predict.py``
reports the agreement).

Cache: ``<model_dir>/onnx/model.onnx`` (or ``model.int8.onnx``) with a manifest
``model.onnx.json`` recording the file's SHA-256 and the checksums of the weights, config and
tokenizer it was exported from. An export is written atomically (temporary file, then rename).
A cached file is used only if the manifest matches the model directory's ``metadata.json`` and
the file's own checksum; otherwise (retrained model, edited or truncated file) it is exported
again. When the model directory is read-only the cache goes to stance's cache directory
(:func:`stance.models.bundled.cache_dir`: ``$STANCE_CACHE``, else the platform's user cache
dir, where the bundled backbones live too) under ``onnx/<checksum>/``.

Safety: an ONNX file is a protobuf graph; onnxruntime runs it without executing code from the
file (no pickle), and no custom-operator libraries are registered. The file is checked against
its recorded SHA-256 before it is loaded.

Fidelity: each fp32 export is checked against the PyTorch model on a few probe texts before it
is cached (max probability difference recorded in the manifest; a difference above
:data:`MAX_EXPORT_DIFF` refuses the export), and the fast tokenizer used here (``tokenizers``,
reading ``tokenizer.json``) is checked to give the same token ids as the transformers
tokenizer the model was trained with.

Example:
    >>> clf = stance.load("models/transformer", backend="onnx")       # doctest: +SKIP
    >>> clf.predict("The PCN has given us a voice.").label             # doctest: +SKIP
    'support'
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

from stance.constants import DEFAULT_BATCH_SIZE
from stance.errors import ModelError, first_line
from stance.inference.predictor import (
    TokenBatcher,
    TokenPredictor,
    available_cpus,
    label_columns,
    softmax,
)
from stance.models.artifacts import atomic_file, file_sha256, verify_checksums

__all__ = [
    "execution_providers",
    "ONNX_DIR",
    "OPSET",
    "MAX_EXPORT_DIFF",
    "OnnxPredictor",
    "export_onnx",
    "onnx_cache_dir",
]

logger = logging.getLogger(__name__)

ONNX_DIR = "onnx"
OPSET = 17
# An fp32 export whose probabilities differ from PyTorch's by more than this is refused.
MAX_EXPORT_DIFF = 1e-3
MANIFEST_FORMAT = 3  # bumped whenever the export changes: older caches are re-exported
_TOKENIZER_FILE = "tokenizer.json"
_CONFIG_FILE = "config.json"
_INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
# On the CPU, fp32 sessions run fastest on small batches (measured on 2 cores, fused MiniLM:
# ~165 quotes/s at 8-16 texts per call, 131 at 64, 117 at 128; docs/benchmarks.md), so larger
# requested batches are run this many texts at a time. Results do not depend on it.
CPU_SESSION_BATCH = 16

# Probe texts for the export checks: short, long (cut at max_length), odd characters.
_PROBES = (
    "We back the new care models.",
    "Scrap it.",
    "Only if the money follows the patient, and the practices keep their lists - otherwise no.",
    "The integrated care board will decide whether the neighbourhood teams survive. " * 12,
    "Très bien 😀 — 混合 scripts ש and ﬁ ligatures\ttabs\nnewlines",
    "\u200b",
)


def _version(name: str) -> str | None:
    try:
        return importlib_metadata.version(name)
    except importlib_metadata.PackageNotFoundError:
        return None


def _file_name(quantize: bool) -> str:
    return "model.int8.onnx" if quantize else "model.onnx"


def _source_checksums(metadata: dict[str, Any]) -> dict[str, str]:
    """The recorded checksums an export depends on (weights, config, tokenizer files)."""
    return dict(sorted((metadata.get("checksums") or {}).items()))


def onnx_cache_dir(model_dir: str | Path, metadata: dict[str, Any]) -> Path:
    """Where the ONNX files of ``model_dir`` live: ``model_dir/onnx`` if it can be written,
    else ``onnx/<checksum>`` in stance's cache directory (``$STANCE_CACHE``, else the
    platform's user cache dir)."""
    model_dir = Path(model_dir)
    inside = model_dir / ONNX_DIR
    if (inside.is_dir() and os.access(inside, os.W_OK)) or os.access(model_dir, os.W_OK):
        return inside
    import hashlib

    key = hashlib.sha256(json.dumps(_source_checksums(metadata)).encode()).hexdigest()[:16]
    from stance.models.bundled import cache_dir

    return cache_dir() / ONNX_DIR / key


def _read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest as a dict; None when missing, unreadable or not a JSON object (a damaged
    cache is exported again)."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _cached_file(cache: Path, metadata: dict[str, Any], quantize: bool) -> Path | None:
    """The cached ONNX file if it is current and intact, else None (and say why in the log)."""
    path = cache / _file_name(quantize)
    manifest = _read_manifest(path.with_name(path.name + ".json"))
    if not path.is_file() or manifest is None:
        return None
    if manifest.get("format") != MANIFEST_FORMAT or manifest.get("source") != _source_checksums(
        metadata
    ):
        logger.info("%s: exported from another version of the model; exporting again", path)
        return None
    if file_sha256(path) != manifest.get("sha256"):
        logger.warning("%s: checksum mismatch (modified or truncated); exporting again", path)
        return None
    return path


def export_onnx(
    model_dir: str | Path,
    metadata: dict[str, Any] | None = None,
    *,
    quantize: bool = False,
    cache_dir: str | Path | None = None,
    force: bool = False,
) -> Path:
    """Export a transformer model directory to ONNX (once) and return the cached file.

    Args:
        model_dir: a transformer model directory written by ``stance train``.
        metadata: its parsed ``metadata.json`` (read if not given).
        quantize: also quantise the weights to int8 (the fp32 export is made first).
        cache_dir: where to cache (default: :func:`onnx_cache_dir`).
        force: export even if a current cached file exists.

    Returns:
        The path of the ``.onnx`` file.

    Raises:
        ModelError: the directory is incomplete or corrupt, the export fails, or the exported
            model disagrees with PyTorch (the message says which).

    Example:
        >>> export_onnx("models/transformer")          # doctest: +SKIP
        PosixPath('models/transformer/onnx/model.onnx')
    """
    from stance.models.artifacts import read_metadata

    model_dir = Path(model_dir)
    if metadata is None:
        metadata = read_metadata(model_dir)
    cache = Path(cache_dir) if cache_dir is not None else onnx_cache_dir(model_dir, metadata)
    if not force:
        found = _cached_file(cache, metadata, quantize)
        if found is not None:
            return found
    if quantize:
        fp32 = export_onnx(model_dir, metadata, cache_dir=cache, force=False)
        return _quantize(fp32, cache / _file_name(True), metadata)
    return _export_fp32(model_dir, metadata, cache / _file_name(False))


def _write_manifest(path: Path, metadata: dict[str, Any], **fields: Any) -> None:
    manifest = {
        "format": MANIFEST_FORMAT,
        "file": path.name,
        "sha256": file_sha256(path),
        "source": _source_checksums(metadata),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "versions": {n: _version(n) for n in ("torch", "transformers", "onnxruntime", "onnx")},
        **fields,
    }
    with atomic_file(path.with_name(path.name + ".json")) as fh:
        fh.write(json.dumps(manifest, indent=2) + "\n")


def _export_fp32(model_dir: Path, metadata: dict[str, Any], target: Path) -> Path:
    """Export the model to an fp32 ONNX file at ``target``, checked against PyTorch."""
    tokenizer, model = _load_for_export(model_dir, metadata)
    inputs = [n for n in _INPUT_NAMES if n in tokenizer.model_input_names or n == "input_ids"]
    wrapper, args, axes = _export_arguments(model, tokenizer, inputs)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        _trace_to_onnx(wrapper, args, axes, inputs, tmp / "model.onnx")
        model.eval()  # exporting may flip the wrapper (and so the model) back to train mode
        chosen, fused, diff, agree = _checked_graph(
            tmp / "model.onnx", model_dir, model, tokenizer, metadata
        )
        with atomic_file(target, "wb") as fh, chosen.open("rb") as src:
            while chunk := src.read(1 << 20):
                fh.write(chunk)
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    _write_manifest(
        target, metadata, quantized=False, opset=OPSET, inputs=list(inputs),
        fused=fused,
        check={"probe_texts": len(_PROBES), "max_prob_diff": diff, "label_agreement": agree},
    )  # fmt: skip
    return target


def _load_for_export(model_dir: Path, metadata: dict[str, Any]) -> tuple[Any, Any]:
    """Export step 1: verify the weights, then load the tokenizer and the model in eval mode."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    verify_checksums(model_dir, metadata)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            model_dir, local_files_only=True, trust_remote_code=False
        )
        # Eager attention traces into plain ONNX ops; the numbers are the same as sdpa's.
        model = AutoModelForSequenceClassification.from_pretrained(
            model_dir,
            local_files_only=True,
            trust_remote_code=False,
            use_safetensors=True,
            attn_implementation="eager",
        )
    except (OSError, ValueError, KeyError) as exc:
        first = first_line(exc)
        raise ModelError(
            f"{model_dir}: cannot load the transformer model for ONNX export ({first})"
        ) from None
    model.eval()
    return tokenizer, model


def _export_arguments(
    model: Any, tokenizer: Any, inputs: list[str]
) -> tuple[Any, tuple[Any, ...], dict[str, dict[int, str]]]:
    """Export step 2: the module to trace, example input tensors and the dynamic axes."""
    import torch

    class _Logits(torch.nn.Module):
        # The exporter wants positional tensors in and one tensor out.
        def __init__(self, inner: torch.nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.inner(**dict(zip(inputs, tensors))).logits

    wrapper = _Logits(model).eval()
    example = tokenizer(["a short example", "and a second, longer example text"], padding=True)
    args = tuple(torch.tensor(example[name], dtype=torch.long) for name in inputs)
    axes = {name: {0: "batch", 1: "sequence"} for name in inputs}
    axes["logits"] = {0: "batch"}
    return wrapper, args, axes


def _trace_to_onnx(
    wrapper: Any,
    args: tuple[Any, ...],
    axes: dict[str, dict[int, str]],
    inputs: list[str],
    path: Path,
) -> None:
    """Export step 3: trace the wrapper into a plain ONNX graph at ``path``."""
    import warnings

    import torch

    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # The TorchScript exporter's deprecation and tracer notes are expected here.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            args,
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=list(inputs),
            output_names=["logits"],
            dynamic_axes=axes,
            do_constant_folding=True,
            external_data=False,
        )


def _checked_graph(
    plain: Path, model_dir: Path, model: Any, tokenizer: Any, metadata: dict[str, Any]
) -> tuple[Path, bool, float, float]:
    """Export step 4: the fused graph if it matches PyTorch, else the plain one if that does."""
    # Returns (graph file, fused?, max probability difference, label agreement) for the
    # manifest; a graph that still differs too much is refused rather than cached.
    chosen = plain
    fused = _fuse(chosen, model.config)
    if fused is not None:
        diff, agree = _compare_with_torch(fused, model_dir, model, tokenizer, metadata)
        if diff <= MAX_EXPORT_DIFF:
            chosen = fused
        else:
            logger.info("fused ONNX graph differs from PyTorch by %.2g; using the plain one", diff)
            fused = None
    if fused is None:
        diff, agree = _compare_with_torch(chosen, model_dir, model, tokenizer, metadata)
    if diff > MAX_EXPORT_DIFF:
        raise ModelError(
            f"{model_dir}: the ONNX export disagrees with PyTorch (max probability difference "
            f"{diff:.2g} > {MAX_EXPORT_DIFF:g}); use backend='torch'"
        )
    return chosen, fused is not None, diff, agree


# Encoders whose graph onnxruntime's transformer optimizer can fuse (as model_type "bert").
_FUSABLE = frozenset({"bert", "roberta", "xlm-roberta", "distilbert", "electra", "camembert"})


def _fuse(path: Path, config: Any) -> Path | None:
    """The graph with onnxruntime's transformer fusions (one Attention op per layer, fused
    embeddings, skip-layer-norms and bias-GELU), or None if the architecture is not one it
    knows or the optimizer fails. Typically much faster on CPU; checked against PyTorch."""
    if getattr(config, "model_type", None) not in _FUSABLE:
        return None
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        with _quiet_root_logger():
            optimized = optimize_model(
                str(path),
                model_type="bert",
                num_heads=int(config.num_attention_heads),
                hidden_size=int(config.hidden_size),
                opt_level=1,
                use_gpu=False,
            )
            out = path.with_name("model.fused.onnx")
            optimized.save_model_to_file(str(out))
    except Exception as exc:  # an optional speed-up: any failure means the plain graph
        logger.info("onnxruntime transformer fusion unavailable (%s); using the plain graph", exc)
        return None
    return out


def _torch_probs(model: Any, tokenizer: Any, texts: Sequence[str], max_length: int) -> np.ndarray:
    import torch

    batch = tokenizer(
        list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
    )
    with torch.inference_mode():
        logits = model(**batch).logits.float()
    return torch.softmax(logits, dim=-1).numpy().astype(np.float64)


def _compare_with_torch(
    path: Path, model_dir: Path, model: Any, tokenizer: Any, metadata: dict[str, Any]
) -> tuple[float, float]:
    """(max probability difference, label agreement) of ONNX vs PyTorch on the probe texts.

    Also checks that our tokenization (``tokenizers`` on tokenizer.json) gives the ids the
    transformers tokenizer gives.
    """
    runner = OnnxPredictor.from_files(path, model_dir, metadata, device="cpu")
    max_length = runner.max_length
    expected = tokenizer(list(_PROBES), truncation=True, max_length=max_length)["input_ids"]
    ours = [e.ids for e in runner.batcher.encode(list(_PROBES))[0]]
    if ours != [list(ids) for ids in expected]:
        raise ModelError(
            f"{path.parent}: the fast tokenizer (tokenizer.json) does not reproduce the model's "
            "tokenizer; the ONNX backend cannot be used for this model - use backend='torch'"
        )
    a = _torch_probs(model, tokenizer, _PROBES, max_length)
    b = runner.predict_proba_counted(list(_PROBES))[0]
    # Columns: both in the model's own id order here (runner maps to metadata order).
    b = b[:, np.argsort(runner._columns)]
    return float(np.abs(a - b).max()), float(np.mean(a.argmax(1) == b.argmax(1)))


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _quantize(fp32: Path, target: Path, metadata: dict[str, Any]) -> Path:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = Path(tempfile.mkdtemp(prefix=".quantize-", dir=target.parent))
    try:
        # Per-channel weight scales: on our models they keep int8 labels far closer to fp32's
        # than one scale per tensor (e.g. 97.5% vs 90.4% agreement on a weak model).
        with _quiet_root_logger():  # quantize_dynamic logs advice to the root logger
            quantize_dynamic(
                str(fp32),
                str(tmp / target.name),
                weight_type=QuantType.QInt8,
                per_channel=True,
                # Shape inference cannot type the outputs of fused (com.microsoft) ops; they
                # are float32 (onnx.TensorProto.FLOAT == 1).
                extra_options={"DefaultTensorType": 1},
            )
        with atomic_file(target, "wb") as fh, (tmp / target.name).open("rb") as src:
            while chunk := src.read(1 << 20):
                fh.write(chunk)
    finally:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    _write_manifest(
        target, metadata, quantized=True, opset=OPSET, quantized_from=fp32.name,
        quantization={"method": "dynamic", "weight_type": "QInt8", "per_channel": True},
    )  # fmt: skip
    return target


def execution_providers(device: str | None, available: Sequence[str]) -> list[Any]:
    """The onnxruntime providers for ``device`` ("auto"/None, "cpu", "cuda", "cuda:N").

    ``cuda:N`` passes ``device_id`` N to the CUDA provider (without it onnxruntime runs on GPU
    0 whatever was asked); the CPU provider follows as the fallback for unsupported operators.

    Raises:
        ModelError: the device is malformed or onnxruntime has no provider for it.
    """
    if device in (None, "auto"):
        device = "cuda" if "CUDAExecutionProvider" in available else "cpu"
    if device == "cpu":
        return ["CPUExecutionProvider"]
    kind, colon, index = str(device).partition(":")
    if (
        kind == "cuda"
        and "CUDAExecutionProvider" in available
        and (not colon or (index.isascii() and index.isdigit()))
    ):
        cuda = (
            ("CUDAExecutionProvider", {"device_id": int(index)})
            if index
            else "CUDAExecutionProvider"
        )
        return [cuda, "CPUExecutionProvider"]
    raise ModelError(
        f"device {device!r} is not available to onnxruntime (providers: {', '.join(available)}); "
        "expected cpu, cuda or cuda:N; use device='cpu' or backend='torch'"
    )


class OnnxPredictor(TokenPredictor):
    """A transformer model run by onnxruntime (see the module docstring).

    Usually obtained through ``stance.load(model_dir, backend="onnx")`` or
    ``backend="onnx-int8"``. Tokenization uses the ``tokenizers`` library on the model's
    ``tokenizer.json``; neither torch nor transformers is imported once the export is cached.

    Attributes:
        session: the ``onnxruntime.InferenceSession``.
        onnx_path: the ONNX file it runs.
        quantized: whether the weights are int8.
        max_length: inputs are cut at this many tokens (the training value).
        session_batch: the most texts per session call (:data:`CPU_SESSION_BATCH` on the CPU,
            no limit on a GPU); a larger ``batch_size`` is run in pieces of this size.
    """

    kind = "transformer"

    def __init__(
        self,
        session: Any,
        tokenizer: Any,
        labels: Sequence[str],
        label2id: dict[str, int],
        max_length: int,
        pad_id: int,
        onnx_path: Path,
        quantized: bool = False,
        model_dir: str | Path | None = None,
        metadata: dict | None = None,
    ):
        super().__init__(labels, model_dir, metadata)
        self.session = session
        self.max_length = int(max_length)
        self.onnx_path = Path(onnx_path)
        self.quantized = quantized
        on_cpu = session.get_providers()[:1] == ["CPUExecutionProvider"]
        self.session_batch = CPU_SESSION_BATCH if on_cpu else None
        inputs = [i.name for i in session.get_inputs()]
        self.batcher = TokenBatcher(tokenizer, self.max_length, pad_id, inputs)
        self._columns = label_columns(label2id, self.labels, Path(model_dir or ".") / _CONFIG_FILE)

    @classmethod
    def from_dir(
        cls,
        model_dir: Path,
        metadata: dict[str, Any],
        device: str | None = None,
        quantize: bool = False,
        cache_dir: str | Path | None = None,
        **options: Any,
    ) -> OnnxPredictor:
        """Load ``model_dir`` for onnxruntime, exporting it first if no current export is cached.

        Args:
            model_dir: a transformer model directory.
            metadata: its parsed ``metadata.json``.
            device: ``"cpu"``, ``"cuda"`` (needs onnxruntime-gpu), or None/``"auto"`` (a GPU
                if onnxruntime has one, else the CPU).
            quantize: run the int8-quantised export.
            cache_dir: where exports are cached (default: :func:`onnx_cache_dir`).

        Raises:
            ModelError: a missing or corrupt file (named), onnxruntime not installed, or an
                unavailable device.
            TypeError: an unknown option.
        """
        if options:
            raise TypeError(
                f"unknown option(s) {', '.join(sorted(options))} for the onnx backend "
                "(allowed: device, backend, cache_dir)"
            )
        model_dir = Path(model_dir)
        for name in (_CONFIG_FILE, _TOKENIZER_FILE):
            if not (model_dir / name).is_file():
                raise ModelError(
                    f"{model_dir / name}: missing; the onnx backend needs {_CONFIG_FILE} and "
                    f"{_TOKENIZER_FILE} (a fast tokenizer) - restore the model, or use backend='torch'"
                )
        verify_checksums(model_dir, metadata)
        cache = Path(cache_dir) if cache_dir is not None else onnx_cache_dir(model_dir, metadata)
        path = _cached_file(cache, metadata, quantize) or export_onnx(
            model_dir, metadata, quantize=quantize, cache_dir=cache
        )
        return cls.from_files(path, model_dir, metadata, device=device, quantized=quantize)

    @classmethod
    def from_files(
        cls,
        onnx_path: Path,
        model_dir: Path,
        metadata: dict[str, Any],
        device: str | None = None,
        quantized: bool = False,
    ) -> OnnxPredictor:
        """Build the predictor from an ONNX file and the model directory's tokenizer/config
        (no checks of the cache; :meth:`from_dir` does those)."""
        try:
            import onnxruntime as ort
        except ImportError:
            raise ModelError(
                "the onnx backend needs onnxruntime: `pip install stance[onnx]` "
                "(or `pip install onnxruntime`), or use backend='torch'"
            ) from None
        from tokenizers import Tokenizer

        config = json.loads((model_dir / _CONFIG_FILE).read_text(encoding="utf-8"))
        label2id = {str(k): int(v) for k, v in (config.get("label2id") or {}).items()}
        tokenizer = Tokenizer.from_file(str(model_dir / _TOKENIZER_FILE))
        tok_config_path = model_dir / "tokenizer_config.json"
        tok_config = (
            json.loads(tok_config_path.read_text(encoding="utf-8"))
            if tok_config_path.is_file()
            else {}
        )
        max_length = metadata.get("max_length") or min(
            int(tok_config.get("model_max_length") or 512),
            int(config.get("max_position_embeddings") or 512),
        )
        pad_token = tok_config.get("pad_token")
        pad_id = tokenizer.token_to_id(pad_token) if isinstance(pad_token, str) else None
        if pad_id is None:
            pad_id = int(config.get("pad_token_id") or 0)

        chosen = execution_providers(device, ort.get_available_providers())
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # One thread per usable core for the matrix work, none competing across operators.
        options.intra_op_num_threads = available_cpus()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only; ORT's info notes are not for users
        try:
            session = ort.InferenceSession(str(onnx_path), options, providers=chosen)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"{onnx_path}: onnxruntime cannot load it ({exc})") from None
        return cls(
            session,
            tokenizer,
            metadata["labels"],
            label2id,
            int(max_length),
            pad_id,
            onnx_path,
            quantized=quantized,
            model_dir=model_dir,
            metadata=metadata,
        )

    def predict_proba_counted(
        self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE
    ) -> tuple[np.ndarray, int]:
        """``(probabilities, number of texts cut at max_length)``, without warning."""
        out = np.zeros((len(texts), len(self.labels)), dtype=np.float64)
        if not len(texts):
            return out, 0
        if self.session_batch is not None:
            batch_size = min(int(batch_size), self.session_batch)
        encodings, cut = self.batcher.encode(texts)
        for idx, feed in self.batcher.batches(encodings, batch_size):
            logits = self.session.run(["logits"], feed)[0]
            out[idx] = softmax(logits)[:, self._columns]
        return out, cut

    def __repr__(self) -> str:
        return (
            f"OnnxPredictor(model_dir={str(self.model_dir)!r}, onnx={self.onnx_path.name!r}, "
            f"labels={self.labels})"
        )
