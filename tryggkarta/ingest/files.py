"""Opening uploaded files safely: sizes, gzip, zip directories, text encodings.

Every check here is a file-level refusal: it raises :class:`~tryggkarta.errors.BadInput` with
one English sentence and a stable ``details["code"]`` the web layer can translate.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import re
import zipfile
from pathlib import Path, PurePosixPath

from tryggkarta.errors import BadInput

#: Largest uncompressed size we accept from a gzip or zip file (bytes).
MAX_UNCOMPRESSED = 2 * 1024**3
#: Largest compression ratio of a zip member / a gzip stream (zip bombs reach 1000:1).
MAX_RATIO = 200
#: Members below this size are never treated as bombs whatever their ratio.
RATIO_FLOOR = 1024 * 1024
#: Most rows a file read whole (not streamed) may hold: checked on the file's metadata
#: (parquet row groups, GDAL feature count, XLSX dimensions, JSON arrays, CSV lines) before
#: it is read. A 39 KB GeoParquet of 3,000,000 rows took 4 GB of memory read whole.
MAX_ROWS = 1_000_000
#: Most columns a file may have (a header of 10^6 columns is not a table anybody meant).
MAX_COLUMNS = 1000
#: Most cells (rows × columns) a file read whole may hold.
MAX_CELLS = 30_000_000
#: Largest uncompressed table data a file read whole may hold (parquet pages, XLSX sheet XML).
MAX_TABLE_BYTES = 1024**3
#: Largest JSON text parsed into objects (GeoJSON, Polisen feed, record arrays).
MAX_JSON_BYTES = 256 * 1024**2
#: Deepest nesting of arrays/objects in a JSON input (a MultiPolygon's coordinates are 4 deep).
MAX_JSON_DEPTH = 64


def bad(message: str, code: str, **extra: object) -> BadInput:
    """A :class:`BadInput` carrying an error code for translation."""
    return BadInput(message, details={"code": code, **extra})


def check_table_size(
    name: str, rows: int | None, columns: int | None, unpacked: int | None = None
) -> None:
    """Refuse a file whose metadata says it is too large to read whole (before reading it)."""
    if columns is not None and columns > MAX_COLUMNS:
        raise bad(
            f"The file {name} has {columns:,} columns, more than the {MAX_COLUMNS:,} allowed; "
            "it does not look like a table of records.",
            "too_many_columns",
            limit=MAX_COLUMNS,
        )
    if rows is not None and rows > MAX_ROWS:
        raise bad(
            f"The file {name} has {rows:,} rows, more than the {MAX_ROWS:,} allowed in one "
            "import; split it into smaller files.",
            "too_many_rows",
            limit=MAX_ROWS,
        )
    if rows is not None and columns is not None and rows * columns > MAX_CELLS:
        raise bad(
            f"The file {name} has {rows:,} rows of {columns:,} columns, more than the "
            f"{MAX_CELLS:,} cells allowed in one import; split it or drop unused columns.",
            "too_many_rows",
            limit=MAX_ROWS,
        )
    if unpacked is not None and unpacked > MAX_TABLE_BYTES:
        raise bad(
            f"The file {name} unpacks to {unpacked / 1024**2:,.0f} MB of data, more than the "
            f"{MAX_TABLE_BYTES / 1024**2:,.0f} MB allowed in one import.",
            "compression_bomb",
        )


def json_depth(data: bytes, block: int = 8 * 1024 * 1024) -> int:
    """The deepest nesting of ``[``/``{`` in JSON bytes, outside strings.

    Vectorised per block of ``block`` bytes (the quote parity and depth carry over), so a
    256 MB input needs a few times the block in memory, not the file.
    """
    import re

    import numpy as np

    # Escapes (\\" and \\\\) never open or close a string: blank them out first.
    plain = re.sub(rb"\\.", b"__", data)
    deepest, depth, in_string = 0, 0, False
    for start in range(0, len(plain), block):
        raw = np.frombuffer(
            plain, dtype=np.uint8, count=min(block, len(plain) - start), offset=start
        )
        quotes = raw == 34  # '"'
        parity = np.cumsum(quotes, dtype=np.int64) % 2 == 1
        inside = parity ^ in_string
        outside = ~inside & ~quotes
        step = np.zeros(len(raw), dtype=np.int64)
        step[((raw == 91) | (raw == 123)) & outside] = 1  # [ {
        step[((raw == 93) | (raw == 125)) & outside] = -1  # ] }
        levels = np.cumsum(step) + depth
        deepest = max(deepest, int(levels.max(initial=depth)))
        depth = int(levels[-1]) if len(levels) else depth
        in_string = bool(inside[-1]) if len(inside) else in_string
    return deepest


def load_json(text: str | bytes, name: str) -> object:
    """Parse a JSON input safely: size and nesting checked first, one clear sentence if bad."""
    import json

    data = text.encode("utf-8") if isinstance(text, str) else text
    if len(data) > MAX_JSON_BYTES:
        raise bad(
            f"The JSON input {name} is {len(data) / 1024**2:,.0f} MB, more than the "
            f"{MAX_JSON_BYTES / 1024**2:,.0f} MB allowed.",
            "json_too_large",
        )
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise bad(
            f"The JSON input {name} is nested {depth:,} levels deep, more than the "
            f"{MAX_JSON_DEPTH} allowed; it is not a data file.",
            "json_too_deep",
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad(
            f"The file {name} is not valid JSON (line {exc.lineno}: {exc.msg}).", "bad_json"
        ) from None
    except (RecursionError, ValueError, UnicodeDecodeError):
        raise bad(f"The file {name} is not valid JSON.", "bad_json") from None


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def split_suffix(name: str) -> tuple[str, bool]:
    """The format suffix of ``name`` (lower case, no dot) and whether it is gzipped."""
    suffixes = [s.lower().lstrip(".") for s in PurePosixPath(name).suffixes]
    if not suffixes:
        return "", False
    if suffixes[-1] in ("gz", "gzip"):
        return (suffixes[-2] if len(suffixes) > 1 else ""), True
    return suffixes[-1], False


def detail(exc: BaseException, name: str, *paths: Path | str) -> str:
    """The first line of a library's error, with server paths replaced by the user's file name."""
    text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    for path in paths:
        text = text.replace(str(path), name).replace(Path(path).name, name)
    # Any other absolute path (a temp copy, a sidecar file): never shown to the user.
    part = r"[/\\][^\s'\"/\\:]*[A-Za-z_.~-][^\s'\"/\\:]*"
    return re.sub(rf"(?:[A-Za-z]:)?(?:{part}){{2,}}[/\\]?", name, text)


def read_bytes(
    path: Path, gzipped: bool, limit: int = MAX_UNCOMPRESSED, name: str | None = None
) -> bytes:
    """The file's bytes, gunzipped if needed, refusing empty files and gzip bombs.

    ``name`` is the file's name as the user knows it (messages never show the server's).
    """
    name = name or path.name
    size = path.stat().st_size
    if size == 0:
        raise bad(f"The file {name} is empty.", "empty_file")
    if not gzipped:
        return path.read_bytes()
    out = bytearray()
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(4 * 1024 * 1024):
                out += chunk
                if len(out) > limit or (len(out) > RATIO_FLOOR and len(out) > MAX_RATIO * size):
                    raise bad(
                        f"The file {name} unpacks to far more data than it holds "
                        "(a compression bomb?); it was refused.",
                        "compression_bomb",
                    )
    except (OSError, EOFError, gzip.BadGzipFile):
        raise bad(f"The file {name} is not a valid gzip file.", "bad_gzip") from None
    if not out:
        raise bad(f"The file {name} is empty.", "empty_file")
    return bytes(out)


def check_zip(
    zf: zipfile.ZipFile, name: str, limit: int = MAX_UNCOMPRESSED
) -> list[zipfile.ZipInfo]:
    """Check a zip's directory before extracting anything; return its file members.

    Refuses absolute paths and ``..`` components (zip slip), a total uncompressed size above
    ``limit`` and members with an extreme compression ratio (zip bombs). Only the central
    directory is read, so a bomb is refused before it is inflated.
    """
    members = [i for i in zf.infolist() if not i.is_dir()]
    total = 0
    for info in members:
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        if info.filename.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
            raise bad(
                f"The zip file {name} contains an unsafe path ({info.filename!r}); it was refused.",
                "zip_unsafe_path",
            )
        total += info.file_size
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise bad(
                f"The zip file {name} unpacks to far more data than it holds (a zip bomb?); it was refused.",
                "compression_bomb",
            )
    if total > limit:
        raise bad(
            f"The zip file {name} would unpack to {total / 1024**2:.0f} MB, more than the "
            f"{limit / 1024**2:.0f} MB allowed.",
            "compression_bomb",
        )
    return members


def open_zip(path: Path, name: str | None = None) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise bad(f"The file {name or path.name} is not a valid zip file.", "bad_zip") from None


def looks_binary(sample: bytes) -> bool:
    """True for bytes that are not text in any encoding we read (NULs, control characters)."""
    if not sample:
        return False
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return False
    controls = sum(1 for b in sample if b < 32 and b not in (9, 10, 13))
    return controls / len(sample) > 0.05


def decode_text(data: bytes, name: str, encoding: str | None = None) -> tuple[str, str]:
    """Decode ``data``: BOMs first, then UTF-8, then Windows-1252. Returns (text, encoding)."""
    if encoding:
        try:
            return data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError):
            raise bad(f"The file {name} is not valid {encoding} text.", "bad_encoding") from None
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[3:].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError:
            raise bad(
                f"The file {name} starts as UTF-8 but contains invalid bytes.", "bad_encoding"
            ) from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise bad(f"The file {name} is not valid UTF-16 text.", "bad_encoding") from None
    head = data[:4096]
    # UTF-16 without a BOM: every other byte of ASCII text is NUL.
    if len(head) >= 4 and head[1::2].count(0) > 0.4 * len(head[1::2]) and head[0::2].count(0) == 0:
        try:
            return data.decode("utf-16-le"), "utf-16-le"
        except UnicodeDecodeError:
            pass
    if looks_binary(head):
        raise bad(f"The file {name} is not a text file (it looks like binary data).", "binary_file")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    mixed = decode_mixed(data)
    if mixed is not None:
        return mixed[0], MIXED_ENCODING
    return data.decode("cp1252", errors="replace"), "cp1252"


#: The encoding reported for a file with UTF-8 lines and Windows-1252 lines.
MIXED_ENCODING = "utf-8+cp1252"
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")


def decode_mixed(data: bytes) -> tuple[str, list[int]] | None:
    """Text of a file whose lines are UTF-8 and Windows-1252 mixed (two exports pasted
    together), each line decoded in its own encoding; with the (1-based) Windows-1252 lines.

    None when the file has no UTF-8 character at all (plain Windows-1252). Only files that
    are not valid UTF-8 come here, so the clean path never loops over lines.
    """
    if _UTF8_MULTIBYTE.search(data) is None:
        return None
    lines = data.split(b"\n")
    cp1252: list[int] = []
    out = []
    for number, line in enumerate(lines, start=1):  # a mixed file only: line by line
        try:
            out.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            out.append(line.decode("cp1252", errors="replace"))
            cp1252.append(number)
    if len(cp1252) == len(lines):
        return None
    return "\n".join(out), cp1252
