"""The request log of `llmops serve --request-log DIR`: what the served model was asked and what it
answered, as JSON lines that `llmops drift --requests DIR --since 7d` reads back.

One record per text: the time (UTC), the model (name/version), the text or only its sha256, and
the class probabilities. Files rotate by size and by UTC day (requests-<day>-<n>.jsonl), so old
days can be deleted whole. Each batch of records is one `os.write` to a file opened O_APPEND: a
reader in another process sees whole lines, and at most a last line still being written, which it
skips. Hand-written rather than Python's RotatingFileHandler, which renames the file a reader may
hold open (and buffers through a stream, so a reader can see half a record)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from llmops.errors import StageError

MAX_BYTES = 64 * 2**20  # a file's size before the next one starts
SINCE = re.compile(r"^(\d+)([mhdw])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class RequestLog:
    """Appends records to DIR/requests-<UTC day>-<n>.jsonl; safe to call from several threads."""

    def __init__(self, folder: Path, model: str, log_text: bool = True, max_bytes: int = MAX_BYTES) -> None:
        self.folder, self.model, self.log_text, self.max_bytes = Path(folder), model, log_text, max_bytes
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._path: Path | None = None

    def write(self, texts: list[str], probabilities: list[dict[str, float]], now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        stamp = now.isoformat(timespec="milliseconds")
        lines = "".join(
            json.dumps(self._record(text, probs, stamp), ensure_ascii=False) + "\n"
            for text, probs in zip(texts, probabilities, strict=True)
        ).encode()
        with self._lock:
            os.write(self._file(now, len(lines)), lines)

    def _record(self, text: str, probs: dict[str, float], stamp: str) -> dict:
        said = {"text": text} if self.log_text else {"text_sha256": hashlib.sha256(text.encode()).hexdigest()}
        return {
            "time": stamp,
            "model": self.model,
            **said,
            "probabilities": {k: round(float(v), 6) for k, v in probs.items()},
        }

    def _file(self, now: datetime, size: int) -> int:
        day = now.strftime("%Y%m%d")
        if self._fd is not None and self._path.name.startswith(f"requests-{day}-"):
            if os.fstat(self._fd).st_size + size <= self.max_bytes:
                return self._fd
        if self._fd is not None:
            os.close(self._fd)
        taken = [int(p.stem.rsplit("-", 1)[1]) for p in self.folder.glob(f"requests-{day}-*.jsonl")]
        self._path = self.folder / f"requests-{day}-{max(taken, default=-1) + 1:04d}.jsonl"
        self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def parse_since(text: str) -> timedelta:
    """ "30m", "24h", "7d" or "2w" as a timedelta."""
    found = SINCE.match(text.strip())
    if not found:
        raise StageError(f"--since {text!r}: expected a number and a unit, like 30m, 24h, 7d or 2w")
    return timedelta(**{UNITS[found.group(2)]: int(found.group(1))})


def read(folder: Path, since: timedelta, now: datetime | None = None) -> pd.DataFrame:
    """The records of the last `since`, oldest first: columns time, model, text (None where only
    its hash was logged), text_sha256 and prob_<label>. A line still being written is skipped."""
    folder, now = Path(folder), now or datetime.now(UTC)
    if not folder.is_dir():
        raise StageError(f"{folder}: no such folder of request logs (llmops serve --request-log {folder})")
    start = now - since
    rows = []
    for path in sorted(folder.glob("requests-*.jsonl")):
        if datetime.strptime(path.name.split("-")[1], "%Y%m%d").replace(tzinfo=UTC) < start - timedelta(days=1):
            continue  # the whole file is older than the window
        rows += [r for r in _records(path) if datetime.fromisoformat(r["time"]) >= start]
    if not rows:
        raise StageError(f"{folder}: no requests logged since {start.isoformat(timespec='seconds')} (--since)")
    table = pd.DataFrame(
        {
            "time": [r["time"] for r in rows],
            "model": [r["model"] for r in rows],
            "text": [r.get("text") for r in rows],
            "text_sha256": [r.get("text_sha256") or hashlib.sha256(r["text"].encode()).hexdigest() for r in rows],
        }
    )
    probs = pd.DataFrame([r["probabilities"] for r in rows]).add_prefix("prob_")
    return pd.concat([table, probs], axis=1).sort_values("time", kind="stable").reset_index(drop=True)


def _records(path: Path) -> list[dict]:
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]  # a last line without its newline is still being written
    out = []
    for number, line in enumerate(complete.decode().splitlines(), start=1):
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            raise StageError(f"{path}: line {number} is not a JSON record") from None
    return out
