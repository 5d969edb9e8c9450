"""A spec's media: its assets, URL checks, and the media items of each job. Pure.

A job's items become recipes once: fixed items are checked there, and items
whose URL or source is a template are checked for each matrix combination.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from seedrun import api_facts
from seedrun.campaign import Asset
from seedrun.localrefs import FileLookup, LocalFile, NoFiles
from seedrun.problems import Problems, a_or_an
from seedrun.protos import Media
from seedrun.render import is_template
from seedrun.requests import MediaItem
from seedrun.yamlload import Path


class UrlRecipe(NamedTuple):
    source: str  # a template
    declared: str | None
    role: str | None
    path: Path


class FileRecipe(NamedTuple):
    source: str  # a template naming a local image
    role: str | None
    moderate: bool
    path: Path


class FromRecipe(NamedTuple):
    source: str  # a template
    role: str | None
    path: Path


Recipe = MediaItem | UrlRecipe | FileRecipe | FromRecipe


class MediaChecker:
    """Checks media URLs and assets; remembers each URL's verdict for later combinations."""

    def __init__(
        self, problems: Problems, raw_assets: Mapping[str, Any], files: FileLookup | None = None
    ) -> None:
        self.problems = problems
        self.files: FileLookup = files if files is not None else NoFiles()
        self.local: dict[str, LocalFile] = {}  # the spec's local images, by stand-in ref
        self.first_file: Path | None = None  # where a local file is first named
        self._file_items: dict[tuple[str, str | None, bool], MediaItem | None] = {}
        self._url_kinds: dict[tuple[str, str | None], str] = {}
        self._url_items: dict[tuple[str | None, str | None, str | None], MediaItem] = {}
        self.assets = self._assets(raw_assets)
        self.asset_ids = frozenset(
            a.url[len("asset://") :] for a in self.assets.values() if a.url.startswith("asset://")
        ) - {""}

    def _assets(self, raw_assets: Mapping[str, Any]) -> dict[str, Asset]:
        out: dict[str, Asset] = {}
        for name, raw in raw_assets.items():
            if "file" in raw:
                out[name] = self._file_asset(name, raw)
                continue
            if "url" not in raw:
                self.problems.add(("assets", name), "an asset needs url: or file:", key=True)
                out[name] = Asset(name, "", raw.get("type") or "image", False)
                continue
            url: str = raw["url"]
            declared = raw.get("type")
            kind = self.check_url(url, ("assets", name, "url"), declared, "")
            moderate = bool(raw.get("moderate", False))
            if moderate and (kind or declared) not in (None, "image"):
                self.problems.add(
                    ("assets", name, "moderate"),
                    f"only images can be moderated, and this asset is {a_or_an(kind or declared)}",
                    key=True,
                )
            elif moderate and url.startswith("asset://"):
                self.problems.add(
                    ("assets", name, "moderate"),
                    "an asset:// URL is already approved; moderation needs the public "
                    "http(s) URL of the image",
                    key=True,
                )
            out[name] = Asset(name, url, kind or declared or "image", moderate)
        return out

    def _file_asset(self, name: str, raw: Mapping[str, Any]) -> Asset:
        path: Path = ("assets", name)
        moderate = bool(raw.get("moderate", False))
        if "url" in raw:
            self.problems.add(path, "an asset needs exactly one of url or file; got both", key=True)
        if raw.get("type") not in (None, "image"):
            self.problems.add((*path, "type"), "a local file asset must be an image", key=True)
        found = self.local_file(raw["file"], (*path, "file"), "")
        return Asset(name, found.ref if found else "", "image", moderate)

    def local_file(self, written: str, path: Path, who: str) -> LocalFile | None:
        """The checked local image ``written`` names, or None (the problem is recorded)."""
        found = self.files.image(written)
        if isinstance(found, str):
            prefix = f"{who}: " if who else ""
            self.problems.add(path, f"{prefix}{found}", once=f"file:{written}")
            return None
        self.local.setdefault(found.ref, found)
        if self.first_file is None:
            self.first_file = path
        return found

    def file_item(
        self, written: str, role: str | None, moderate: bool, path: Path, who: str
    ) -> MediaItem | None:
        """The media item of a local image: uploaded at run time, moderated if asked."""
        memo = (written, role, moderate)
        if memo in self._file_items:
            return self._file_items[memo]
        found = self.local_file(written, path, who)
        item = None
        if found is not None:
            item = MediaItem("image", found.ref, role, "asset" if moderate else "file", found.ref)
        self._file_items[memo] = item
        return item

    def check_url(self, url: str, path: Path, declared: str | None, who: str) -> str | None:
        """Validate a media URL; return its media type (declared or inferred), None if bad."""
        known = self._url_kinds.get((url, declared))
        if known is not None:
            return known
        prefix = f"{who}: " if who else ""
        lower = url.strip().lower()
        if lower.startswith("data:") or ";base64," in lower:
            self.problems.add(
                path,
                f"{prefix}data: URIs are not supported: the API accepts no base64 "
                "or inline binary; upload the file and use its public http(s) URL",
                once="url-data",
            )
            return None
        parts = urlsplit(url)
        if parts.scheme == "asset" and parts.netloc:
            kind = declared or "image"
            self._url_kinds[(url, declared)] = kind
            return kind
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.problems.add(
                path,
                f"{prefix}{url!r} is not a public http(s):// or asset:// URL; local "
                "paths are not supported: the API fetches media by URL",
                once="url-scheme",
            )
            return None
        suffix = PurePosixPath(parts.path).suffix.lower()
        inferred = _type_for(suffix)
        kind_or_none = declared or inferred
        if kind_or_none is None:
            self.problems.add(
                path,
                f"{prefix}cannot infer the media type of {url!r} from its extension; "
                "set type: image, video or audio",
                once="url-type",
            )
            return None
        if kind_or_none == "image" and suffix not in api_facts.IMAGE_EXTENSIONS:
            allowed = " ".join(api_facts.IMAGE_EXTENSIONS)
            self.problems.add(
                path,
                f"{prefix}image URL {url!r} needs one of the extensions {allowed}",
                once="url-ext",
            )
            return None
        self._url_kinds[(url, declared)] = kind_or_none
        return kind_or_none

    # -- jobs

    def recipes(self, name: str, raw: dict[str, Any], base: Path) -> tuple[list[Recipe], bool]:
        """The job's media items: fixed ones checked once, templated ones for each combination.

        A bad item still gets a stand-in, so the prompt's "image N" lint counts right.
        """
        out: list[Recipe] = []
        broken = False
        for m, item in enumerate(raw.get("media") or []):
            path: Path = (*base, "media", m)
            role = item.get("role")
            declared = item.get("type")
            given = [k for k in ("asset", "url", "file", "from") if k in item]
            if len(given) != 1:
                self.problems.add(
                    path,
                    "a media item needs exactly one of asset, url, file or from"
                    + (f"; got {', '.join(given)}" if given else ""),
                )
                broken = True
                out.append(MediaItem(declared or "image", "", role))
                continue
            if "moderate" in item and "file" not in item:
                self.problems.add(
                    (*path, "moderate"),
                    "moderate: on a media item is only valid with file:; "
                    "moderate a URL through a named asset",
                    key=True,
                )
                broken = True
            if "frame" in item and "from" not in item:
                self.problems.add((*path, "frame"), "frame: is only valid with from:", key=True)
                broken = True
            if "asset" in item:
                asset = self.assets.get(item["asset"])
                if asset is None:
                    self._unknown_asset(item["asset"], (*path, "asset"))
                    broken = True
                    out.append(MediaItem(declared or "image", "", role))
                    continue
                local = asset.url in self.local
                slot = "asset" if asset.moderate else "file" if local else None
                out.append(
                    MediaItem(
                        declared or asset.type, asset.url, role, slot, asset.url if slot else None
                    )
                )
            elif "file" in item:
                if declared not in (None, "image"):
                    self.problems.add(
                        (*path, "type"), "a local file must be an image; drop type:", key=True
                    )
                    broken = True
                moderate = bool(item.get("moderate", False))
                if is_template(item["file"]):
                    out.append(FileRecipe(item["file"], role, moderate, path))
                    continue
                found = self.file_item(item["file"], role, moderate, (*path, "file"), f"job {name}")
                broken = broken or found is None
                out.append(found or MediaItem("image", "", role))
            elif "from" in item:
                if declared not in (None, "image"):
                    self.problems.add(
                        (*path, "type"),
                        f"a chained frame is an image, not {a_or_an(declared)}; drop type:",
                        key=True,
                    )
                    broken = True
                out.append(FromRecipe(item["from"], role, path))
            elif is_template(item["url"]):
                out.append(UrlRecipe(item["url"], declared, role, path))
            else:
                kind = self.check_url(item["url"], (*path, "url"), declared, f"job {name}")
                broken = broken or kind is None
                out.append(MediaItem(kind or declared or "image", item["url"], role))
        return out, broken

    def _unknown_asset(self, wanted: str, path: Path) -> None:
        names = sorted(self.assets)
        near = difflib.get_close_matches(wanted, names, n=1)
        if near:
            hint = f"did you mean {near[0]!r}?"
        else:
            hint = f"defined: {', '.join(names)}" if names else "no assets are defined"
        self.problems.add(path, f"unknown asset {wanted!r}; {hint}")

    def rendered_item(self, jid: str, url: str | None, r: UrlRecipe) -> tuple[MediaItem, bool]:
        """The item of a rendered URL (None if it failed to render), and whether it is good."""
        item = self._url_items.get((url, r.declared, r.role))
        if item is not None:
            return item, True
        kind = None
        if url is not None:
            kind = self.check_url(url, (*r.path, "url"), r.declared, f"job {jid}")
        item = MediaItem(kind or r.declared or "image", url or "", r.role)
        if kind is None:
            return item, False
        self._url_items[(url, r.declared, r.role)] = item  # later combinations share it
        return item, True

    def ids_in(self, media: list[Media]) -> frozenset[str]:
        """IDs of the approved assets a prompt must not name: the spec's and these items'."""
        own = [
            m.url[len("asset://") :]
            for m in media
            if isinstance(m, MediaItem) and m.url.startswith("asset://")
        ]
        return self.asset_ids.union(own) if own else self.asset_ids


def _type_for(suffix: str) -> str | None:
    if suffix in api_facts.IMAGE_EXTENSIONS:
        return "image"
    if suffix in api_facts.VIDEO_EXTENSIONS:
        return "video"
    if suffix in api_facts.AUDIO_EXTENSIONS:
        return "audio"
    return None
