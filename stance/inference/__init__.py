"""Inference: the `Predictor` interface and `predict`/`load` (`predictor`), and the ONNX Runtime
backend (`onnx`)."""

__all__ = ["onnx", "predictor"]
