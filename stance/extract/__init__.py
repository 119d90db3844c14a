"""Extraction: quotes, reported speech and readers' comments cut from article text, with speakers
and offsets (`quotes`), and stance tables per article and speaker (`score`)."""

__all__ = ["quotes", "score"]
