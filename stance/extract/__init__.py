"""Extraction: from a news article to the units whose stance we classify, one module per step.

- ``quotes``: the entry points (``extract_quotes``, ``extract_file``, ``read_article``);
- ``unit``: the ``Quote`` record;
- ``wrap``: line breaks of every kind made line feeds, hard-wrapped paragraphs joined;
- ``zones`` (body, readers' comments, page furniture), ``marks`` (quote-mark pairing),
  ``sentences``, ``names`` and ``speakers`` (who speaks), ``attribution`` (quote or reported
  sentence -> speaker reference), ``segment`` (one stance per unit), ``vocab`` (the word lists);
- ``evaluate``: the figures against hand-cut gold units;
- ``score``: stance tables per article and per speaker.

Nothing is imported here, so ``import stance.extract`` stays light.
"""

__all__ = [
    "attribution", "evaluate", "marks", "names", "quotes", "score", "segment", "sentences",
    "speakers", "unit", "vocab", "wrap", "zones",
]  # fmt: skip
