"""Find a text file's encoding, and say precisely where bytes break the one configured."""

from __future__ import annotations

import codecs
from pathlib import Path

from llmops.data.errors import DataSourceError

BOMS = [
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
]
CHUNK = 1 << 20
WESTERN = ("cp1252", "latin_1", "iso8859_15")


def first_invalid(path: Path, encoding: str) -> tuple[int, int] | None:
    """(byte offset, line number) of the first byte that does not decode, streaming; None if all decode."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset, line = 0, 1
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as e:
                return offset + e.start, line + block[: e.start].count(b"\n")
            offset += len(block)
            line += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return offset, line
    return None


def is_latin1(encoding: str | None) -> bool:
    """True for every name of Latin-1 (latin-1, latin1, iso-8859-1, l1, ...). A source the user
    says is Latin-1 may hold UTF-8 read as Latin-1, which `cleaning.repair_latin1` undoes; a
    detected Latin-1 is taken as genuine (the repair would turn its "é" into a space)."""
    try:
        return codecs.lookup(str(encoding)).name == "iso8859-1"
    except LookupError:  # "auto", None, or no such codec (reading the file says so)
        return False


def bom_encoding(path: Path) -> str | None:
    """The encoding the file's byte-order mark names, or None without one."""
    with open(path, "rb") as f:
        head = f.read(4)
    return next((enc for b, enc in sorted(BOMS, key=lambda x: -len(x[0])) if head.startswith(b)), None)


def resolve(path: Path, configured: str | None) -> tuple[str, str]:
    """(encoding to read with, how it was chosen). `auto`: a BOM, else UTF-8, else detected."""
    bom = bom_encoding(path)
    if configured and configured.lower() not in ("auto", ""):
        enc = configured
        if enc.lower().replace("_", "-") in ("utf-8", "utf8") and bom == "utf-8-sig":
            enc = "utf-8-sig"  # a UTF-8 BOM is still UTF-8: strip it rather than leak it into the header
        bad = first_invalid(path, enc)
        if bad:
            hint = f" (it starts with a {bom} byte-order mark)" if bom and bom != enc else ""
            raise DataSourceError(
                f"{path}: not valid {enc} at byte {bad[0]} (line {bad[1]}){hint}; "
                "set data.labeled.encoding=auto to detect it, or name the right encoding"
            )
        return enc, "configured"
    if bom:
        return bom, "byte-order mark"
    if first_invalid(path, "utf-8") is None:
        return "utf-8", "valid UTF-8"
    from charset_normalizer import from_path

    matches = list(from_path(str(path)))
    if not matches:
        raise DataSourceError(f"{path}: no text encoding fits these bytes (binary file?)")
    # Short legacy files fit several code pages; Western European is by far the likeliest for our data.
    names = [m.encoding for m in matches]
    best = next((m for pref in WESTERN for m in matches if m.encoding == pref), matches[0])
    if len(names) > 1:
        return best.encoding, f"detected (candidates: {', '.join(names[:4])})"
    return best.encoding, "detected"


def check_not_binary(path: Path, encoding: str) -> None:
    """NUL characters never occur in text: a binary file, or a wrong encoding that a BOM would have fixed."""
    line = 1
    with open(path, encoding=encoding, errors="replace", newline="") as f:
        for block in iter(lambda: f.read(CHUNK), ""):
            at = block.find("\x00")
            if at >= 0:
                line += block[:at].count("\n")
                raise DataSourceError(f"{path}: NUL byte at line {line}: binary data, not {encoding} text")
            line += block.count("\n")
