"""Evaluation: metrics with bootstrap intervals (`metrics`), evaluate/compare/cross-validate
(`evaluate`), Markdown reports and plots (`report`) and the main job (`experiment`)."""

__all__ = ["evaluate", "experiment", "metrics", "report"]
