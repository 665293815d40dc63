"""Opening uploaded files safely: sizes, gzip, zip directories, text encodings.

Every check here is a file-level refusal: it raises :class:`~tryggkarta.errors.BadInput` with
one English sentence and a stable ``details["code"]`` the web layer can translate.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import zipfile
from pathlib import Path, PurePosixPath

from tryggkarta.errors import BadInput

#: Largest uncompressed size we accept from a gzip or zip file (bytes).
MAX_UNCOMPRESSED = 2 * 1024**3
#: Largest compression ratio of a zip member / a gzip stream (zip bombs reach 1000:1).
MAX_RATIO = 200
#: Members below this size are never treated as bombs whatever their ratio.
RATIO_FLOOR = 1024 * 1024


def bad(message: str, code: str, **extra: object) -> BadInput:
    """A :class:`BadInput` carrying an error code for translation."""
    return BadInput(message, details={"code": code, **extra})


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


def read_bytes(path: Path, gzipped: bool, limit: int = MAX_UNCOMPRESSED) -> bytes:
    """The file's bytes, gunzipped if needed, refusing empty files and gzip bombs."""
    size = path.stat().st_size
    if size == 0:
        raise bad(f"The file {path.name} is empty.", "empty_file")
    if not gzipped:
        return path.read_bytes()
    out = bytearray()
    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(4 * 1024 * 1024):
                out += chunk
                if len(out) > limit or (len(out) > RATIO_FLOOR and len(out) > MAX_RATIO * size):
                    raise bad(
                        f"The file {path.name} unpacks to far more data than it holds "
                        "(a compression bomb?); it was refused.",
                        "compression_bomb",
                    )
    except (OSError, EOFError, gzip.BadGzipFile):
        raise bad(f"The file {path.name} is not a valid gzip file.", "bad_gzip") from None
    if not out:
        raise bad(f"The file {path.name} is empty.", "empty_file")
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


def open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise bad(f"The file {path.name} is not a valid zip file.", "bad_zip") from None


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
        return data.decode("cp1252", errors="replace"), "cp1252"
