"""The terminal labelling session behind ``stance label``.

Every answer is appended to the output file as one corpus record and flushed to disk
(``fsync``) before the next quote is shown, so a killed session loses nothing; starting again
with the same files resumes at the first quote not yet answered. A torn last line (a kill in
the middle of a write: not valid JSON) is dropped on resume, with a note; a whole last
record that only lacks its newline (a hand edit) is kept, and the newline added. Skipped ids
go to a side file ``<output>.skipped`` so that the output itself stays a valid corpus file
(``stance data check`` accepts it; ``stance data merge`` adds it to a corpus). Undo removes the
last answer of the session (rewriting the file atomically) and shows that quote again.

Example:
    >>> session = Session.open("batch.jsonl", "labelled.jsonl")     # doctest: +SKIP
    >>> run_session(session)                                        # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stance.constants import ARTICLES_DIR, LABELS, VOCABULARIES
from stance.errors import DataError

__all__ = ["SKIP", "UNDO", "QUIT", "SUGGEST_FIELDS", "Session", "context", "run_session"]

SKIP, UNDO, QUIT = "s", "u", "q"
# Fields `stance suggest` adds for the annotator; they are not part of a corpus record.
SUGGEST_FIELDS = frozenset({"rank", "guess", "scores", "uncertainty"})


@dataclass
class Session:
    """Where a labelling session stands: the quotes, the answers so far and how to save them.

    Attributes:
        items: the input quotes in order, each with an ``id``.
        output: the corpus file answers are appended to.
        labels: the label set; key ``1`` is the first label, and so on.
        defaults: ``role``/``reform``/``source`` for items that lack them.
        answered: ``{id: label}`` read from the output and given this session.
        skipped: ids skipped (read from the side file and this session).
        history: ``("label" | "skip", id)`` in the order given, for undo.
    """

    items: list[dict[str, Any]]
    output: Path
    labels: tuple[str, ...] = LABELS
    defaults: dict[str, Any] = field(default_factory=dict)
    answered: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    history: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def skip_file(self) -> Path:
        return self.output.with_name(self.output.name + ".skipped")

    @classmethod
    def open(cls, input: str | Path, output: str | Path, labels: Sequence[str] = LABELS,
             defaults: dict[str, Any] | None = None, text_column: str = "text") -> Session:  # fmt: skip
        """Read the quotes and whatever a previous session saved, ready to resume."""
        from stance.data.io import check_jsonl_output
        from stance.labelling.suggest import _read_pool

        check_jsonl_output(output, [input], "labelled output")
        path = Path(input)
        items = _read_pool(path, text_column, lambda line, r: _check_vocabularies(path, line, r))
        session = cls(items, Path(output), tuple(labels), dict(defaults or {}))
        session.defaults.setdefault("source", path.name)
        session._load_answers()
        if session.skip_file.exists():
            text = session.skip_file.read_text(encoding="utf-8")
            session.skipped = [s for s in text.splitlines() if s.strip()]
            session.history += [("skip", rid) for rid in session.skipped]
        session._order_history()
        return session

    def _order_history(self) -> None:
        """Put the saved answers and skips back in the order they were given.

        The two files do not record how labels and skips interleaved, but a session always
        shows the first quote not yet done, and undo takes back the last one: what is done is
        given in input order. Saved ids that are not in this input (labelled from another
        batch) count as older than all of it.
        """
        position = {item["id"]: n for n, item in enumerate(self.items)}
        # A stable sort keeps the file order among ids outside the input.
        self.history.sort(key=lambda entry: position.get(entry[1], -1))

    def _load_answers(self) -> None:
        if not self.output.exists():
            return
        raw = self._mend_last_line(self.output.read_bytes())
        for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise DataError(
                    self.output, "malformed JSON; fix or remove this line to resume", line=number
                ) from None
            self.answered[str(record.get("id"))] = str(record.get("label"))
            self.history.append(("label", str(record.get("id"))))

    def _mend_last_line(self, raw: bytes) -> bytes:
        """The output's bytes, ending in a newline: a last line without one is kept if it is a
        whole record (a hand edit; the newline is added) and cut off if not (a killed write)."""
        if not raw or raw.endswith(b"\n"):
            return raw
        cut = raw.rfind(b"\n") + 1
        _check_records(self.output, raw[:cut])  # never cut a line off a file that is not ours
        if _is_record(raw[cut:]):
            _append_line(self.output, "")  # so that the next answer starts a line of its own
            self.notes.append(f"{self.output}: added the missing newline after the last record")
            return raw + b"\n"
        # A kill mid-write leaves a partial last line; everything before it is whole.
        self.notes.append(f"{self.output}: dropped an incomplete last line (a killed write)")
        with self.output.open("r+b") as fh:
            fh.truncate(cut)
        return raw[:cut]

    def next_item(self) -> dict[str, Any] | None:
        """The first quote neither answered nor skipped (None when all are done)."""
        done = set(self.answered) | set(self.skipped)
        return next((it for it in self.items if it["id"] not in done), None)

    def progress(self) -> tuple[int, int]:
        """(quotes answered or skipped, all quotes)."""
        ids = {it["id"] for it in self.items}
        return len(ids & (set(self.answered) | set(self.skipped))), len(ids)

    def record(self, item: dict[str, Any], label: str) -> dict[str, Any]:
        """The corpus record of an answer: the corpus fields first, then the item's others."""
        base = {k: v for k, v in item.items() if k not in SUGGEST_FIELDS}
        out = {"id": item["id"], "text": item["text"], "label": label}
        for name in ("source", "speaker", "role", "reform"):
            value = base.get(name)
            out[name] = value if value not in (None, "") else self.defaults.get(name)
        return {**out, **{k: v for k, v in base.items() if k not in out}}

    def answer(self, item: dict[str, Any], label: str) -> dict[str, Any]:
        """Label ``item`` and append its record to the output, on disk before returning."""
        if label not in self.labels:
            raise ValueError(f"unknown label {label!r}; allowed: {', '.join(self.labels)}")
        record = self.record(item, label)
        _append_line(self.output, json.dumps(record, ensure_ascii=False))
        self.answered[item["id"]] = label
        self.history.append(("label", item["id"]))
        return record

    def skip(self, item: dict[str, Any]) -> None:
        _append_line(self.skip_file, item["id"])
        self.skipped.append(item["id"])
        self.history.append(("skip", item["id"]))

    def undo(self) -> str | None:
        """Take back the last answer or skip; return its id (None if there is nothing to undo)."""
        from stance.models.artifacts import atomic_file

        if not self.history:
            return None
        kind, rid = self.history.pop()
        if kind == "label":
            del self.answered[rid]
            lines = self.output.read_text(encoding="utf-8").splitlines(keepends=True)
            kept = [ln for ln in lines if ln.strip() and json.loads(ln).get("id") != rid]
            target, text = self.output, "".join(kept)
        else:
            self.skipped.remove(rid)
            target, text = self.skip_file, "".join(s + "\n" for s in self.skipped)
        with atomic_file(target) as fh:
            fh.write(text)
        return rid


def _check_records(path: Path, raw: bytes) -> None:
    """Every line is a JSON object (what a session writes), or a DataError naming the first
    that is not: the output is someone else's file, which must not be changed."""
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if line.strip() and not _is_record(line):
            raise DataError(path, "not a record of a labelling session (expected one JSON object "
                            "per line); choose another --output, or fix this line", line=number)  # fmt: skip


def _is_record(line: bytes) -> bool:
    """Whether ``line`` is one whole JSON object (a torn write never is: it lacks the end)."""
    try:
        return isinstance(json.loads(line.decode("utf-8")), dict)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False


def _append_line(path: Path, line: str) -> None:
    """Append one line with a single write, then flush it to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def context(item: dict[str, Any], articles_dir: str | Path = ARTICLES_DIR,
            width: int = 240) -> tuple[str, str] | None:  # fmt: skip
    """Up to ``width`` characters of the article before and after the quote, when the item
    has ``source``, ``start`` and ``end`` and the article is found (as given or in
    ``articles_dir``)."""
    source, start, end = item.get("source"), item.get("start"), item.get("end")
    if not (isinstance(source, str) and isinstance(start, int) and isinstance(end, int)):
        return None
    for path in (Path(source), Path(articles_dir) / source):
        if path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")
            if text[start:end] != item["text"]:
                return None  # offsets of another version of the article
            before = text[max(0, start - width) : start]
            after = text[end : end + width]
            # Whole words only: cut at the first/last space of the window.
            before = before[before.find(" ") + 1 :] if start > width else before
            after = after[: after.rfind(" ")] if len(text) - end > width else after
            return " ".join(before.split()), " ".join(after.split())
    return None


def _show(console: Any, session: Session, item: dict[str, Any], articles_dir: Path) -> None:
    from rich.panel import Panel
    from rich.text import Text

    done, total = session.progress()
    body = Text()
    around = context(item, articles_dir)
    if around and around[0]:
        body.append("… " + around[0] + "\n\n", style="dim")
    body.append(item["text"], style="bold")
    if around and around[1]:
        body.append("\n\n" + around[1] + " …", style="dim")
    who = item.get("speaker") or "speaker unknown"
    meta = f"{who} · {item.get('source') or session.defaults.get('source')}"
    if item.get("guess"):
        scores = ", ".join(f"{k} {v:.2f}" for k, v in (item.get("scores") or {}).items())
        meta += f" · model: {item['guess']} ({scores})"
    console.print(Panel(body, title=f"{done + 1}/{total}  {item['id']}", subtitle=meta))


def _check_vocabularies(path: Path, line: int, record: dict[str, Any]) -> None:
    """A role or reform carried by the input is written into every answer: refuse one outside
    the guidelines' vocabularies before any labelling, not at `data merge` after it."""
    from stance.data.corpus import vocabulary_problem

    for name in VOCABULARIES:
        problem = vocabulary_problem(name, record.get(name))
        if problem:
            raise DataError(path, f"{problem}; fix the input or drop the column and give "
                            f"--{name}", line=line)  # fmt: skip


def run_session(
    session: Session,
    ask: Callable[[str], str] | None = None,
    console: Any = None,
    articles_dir: str | Path = ARTICLES_DIR,
) -> dict[str, Any]:
    """Show quotes one by one and record the answers until all are done or the user quits.

    Keys: ``1``..``k`` for the labels in order, ``s`` skip, ``u`` undo, ``q`` quit. End of
    input or Ctrl-C also quits (everything answered is already saved).

    Returns:
        ``{"output", "answered", "skipped", "remaining", "labelled_now"}``.
    """
    import typer
    from rich.console import Console

    console = console or Console(highlight=False)
    ask = ask or (lambda text: typer.prompt(text, default="", show_default=False))
    keys = {str(i): label for i, label in enumerate(session.labels, start=1)}
    menu = "  ".join(f"[{k}] {v}" for k, v in keys.items()) + "  [s]kip [u]ndo [q]uit"
    for note in session.notes:
        console.print(f"note: {note}")
    labelled_now = 0
    while (item := session.next_item()) is not None:
        _show(console, session, item, Path(articles_dir))
        try:
            key = ask(menu).strip().lower()
        except (typer.Abort, EOFError, KeyboardInterrupt):
            console.print("\nstopped; every answer so far is saved")
            break
        if key in keys:
            session.answer(item, keys[key])
            labelled_now += 1
        elif key == SKIP:
            session.skip(item)
        elif key == UNDO:
            rid = session.undo()
            console.print(f"undid {rid}" if rid else "nothing to undo")
        elif key == QUIT:
            break
        else:
            console.print(f"unknown key {key!r}; use one of: {menu}")
    done, total = session.progress()
    return {
        "output": str(session.output),
        "answered": len(session.answered),
        "skipped": len(session.skipped),
        "remaining": total - done,
        "labelled_now": labelled_now,
    }
