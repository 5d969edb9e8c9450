"""Local files named by a spec: the repository boundary, image preflight, content hashes.

The IO half of ``seedrun.localrefs``: ``DiskFiles`` is the ``FileLookup`` that
``seedrun.files.read_spec`` hands to ``load_spec``. It never uses the network.

- A path is relative to the spec's folder and may not leave the spec's
  repository (the git work tree holding the spec, or the spec's folder when it is
  not in one); symlinks are resolved before the check.
- An image is checked from its headers with Pillow, never parsed by hand: the
  extension is one the API lists, the bytes are the format the extension claims,
  and the size, sides and aspect ratio are within the moderation limits.
- Each file is read and hashed once per process (sha256, streamed).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path, PurePosixPath

from PIL import Image, UnidentifiedImageError

from seedrun import api_facts
from seedrun.localrefs import LocalFile, Table

# Pillow's format name -> the extensions that may carry it; the first is canonical.
FORMAT_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "JPEG": (".jpg", ".jpeg"),
    "MPO": (".jpg", ".jpeg"),  # a JPEG with extra frames, as phone cameras write
    "PNG": (".png",),
    "WEBP": (".webp",),
    "BMP": (".bmp",),
    "TIFF": (".tiff", ".tif"),
    "GIF": (".gif",),
    "HEIF": (".heic", ".heif"),
}
_CHUNK = 1 << 20
MAX_TABLE_BYTES = 64 * 2**20


def _heif_support() -> bool:
    try:
        from pillow_heif import register_heif_opener  # type: ignore[import-not-found]
    except ImportError:
        return False
    register_heif_opener()
    return True


def repository_root(folder: Path) -> Path:
    """The git work tree holding ``folder`` (found by its ``.git``), else ``folder``.

    The rule ``seedrun.outputfiles`` applies to ``outputs.dir`` (not imported from
    there: it reads lockfiles through ``seedrun.files``, which imports this module).
    """
    start = folder.resolve()
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate
    return start


class DiskFiles:
    """Reads, checks and hashes the local files of the spec at ``spec_path``."""

    def __init__(self, spec_path: Path) -> None:
        self.folder = spec_path.parent if spec_path.parent != Path("") else Path(".")
        self._images: dict[str, LocalFile | str] = {}
        self._tables: dict[str, Table | str] = {}

    def _locate(self, written: str) -> Path | str:
        if not written.strip():
            return "the file name is empty"
        if PurePosixPath(written).is_absolute() or Path(written).is_absolute():
            return f"{written}: a local file is written relative to the spec's folder"
        root = repository_root(self.folder)
        path = (self.folder / written).resolve()
        if not path.is_relative_to(root):
            where = "repository" if (root / ".git").exists() else "folder"
            return f"{written}: the file is outside the spec's {where} ({root})"
        if not path.exists():
            return f"{written}: file not found"
        if not path.is_file():
            return f"{written}: not a file"
        return path

    def image(self, written: str) -> LocalFile | str:
        known = self._images.get(written)
        if known is None:
            known = self._images[written] = self._image(written)
        return known

    def table(self, written: str) -> Table | str:
        known = self._tables.get(written)
        if known is None:
            known = self._tables[written] = self._table(written)
        return known

    def _table(self, written: str) -> Table | str:
        path = self._locate(written)
        if isinstance(path, str):
            return path
        try:
            if path.stat().st_size > MAX_TABLE_BYTES:
                return f"{written}: the file is over {MAX_TABLE_BYTES // 2**20} MB"
            # utf-8-sig: spreadsheet programs often begin a CSV export with a BOM.
            return Table(written, path.read_text(encoding="utf-8-sig"))
        except UnicodeDecodeError as exc:
            return f"{written}: not UTF-8 text (byte {exc.start})"
        except OSError as exc:
            return f"{written}: cannot read it: {exc.strerror}"

    def _image(self, written: str) -> LocalFile | str:
        path = self._locate(written)
        if isinstance(path, str):
            return path
        ext = path.suffix.lower()
        if ext not in api_facts.IMAGE_EXTENSIONS:
            allowed = " ".join(api_facts.IMAGE_EXTENSIONS)
            return f"{written}: an image file needs one of the extensions {allowed}"
        try:
            size = path.stat().st_size
            header = _read_header(path, ext)
            if isinstance(header, str):
                return f"{written}: {header}"
            fmt, width, height = header
            problem = api_facts.image_limit_problem(width, height, size)
            if problem is not None:
                return f"{written}: {problem}"
            digest = _sha256(path)
        except OSError as exc:
            return f"{written}: cannot read it: {exc.strerror}"
        return LocalFile(
            written=written,
            path=str(path),
            sha256=digest,
            ext=FORMAT_EXTENSIONS[fmt][0],
            bytes=size,
            width=width,
            height=height,
        )


def _read_header(path: Path, ext: str) -> tuple[str, int, int] | str:
    """(format, width, height) from the file's headers, or why it is not that image."""
    if ext in (".heic", ".heif") and not _heif_support():
        return (
            "cannot read the headers of a HEIC/HEIF image: install pillow-heif, "
            "or convert it to JPEG or PNG"
        )
    claimed = ext.lstrip(".").upper()
    try:
        with warnings.catch_warnings():
            # Only the headers are read: no pixels are decoded, so no bomb to defuse.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                fmt = img.format or ""
                width, height = img.size
    except Image.DecompressionBombError:
        return "the image's sides are far over the 6000 px limit"
    except (UnidentifiedImageError, ValueError, SyntaxError):
        return f"not a {claimed} image: its bytes are not an image Pillow can read"
    if ext not in FORMAT_EXTENSIONS.get(fmt, ()):
        return f"the file is a {fmt or 'unknown'} image, not the {claimed} its extension claims"
    return fmt, width, height


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_of(path: str | os.PathLike[str]) -> str:
    return _sha256(Path(path))
