"""Data: reading and writing labelled files (`io`) and the bundled corpus and its splits (`corpus`).

Light on purpose: importing this package imports no numerical library.
"""

__all__ = ["corpus", "io"]
