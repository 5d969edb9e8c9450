"""Local image files in a spec: preflight from the headers, the repository boundary,
and identity by content (seedrun.localfiles, seedrun.media)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PIL import Image

from seedrun.errors import SpecError
from seedrun.files import read_spec
from seedrun.localfiles import sha256_of


def image(
    path: Path, size: tuple[int, int] = (600, 800), color: str = "red", fmt: str = "PNG"
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, format=fmt)
    return path


def spec(folder: Path, text: str) -> Path:
    path = folder / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


UPLOADS = "settings:\n  uploads: {url: s3://bucket/prefix}\n"
ONE = """\
version: 1
assets:
  bottle: {file: %s, moderate: true}
jobs:
  - name: spin
    prompt: "Rotate image 1."
    media: [{asset: bottle}]
settings:
  uploads: {url: "s3://bucket/prefix"}
"""


def errors(path: Path) -> list[str]:
    with pytest.raises(SpecError) as info:
        read_spec(path)
    return [str(d) for d in info.value.diagnostics]


def test_a_local_image_is_a_content_addressed_stand_in(tmp_path: Path) -> None:
    img = image(tmp_path / "img" / "bottle.png")
    s = read_spec(spec(tmp_path, ONE % "img/bottle.png"))
    ref = f"seedrun://file/{sha256_of(img)}.png"
    assert s.assets["bottle"].url == ref
    job = s.jobs[0]
    assert job.body["content"][1] == {"type": "image_url", "image_url": {"url": ref}}
    assert [(sl.kind, sl.ref) for sl in job.slots] == [("asset", ref)]
    local = s.files[ref]
    assert (local.written, local.width, local.height, local.ext) == (
        "img/bottle.png",
        600,
        800,
        ".png",
    )


def test_renaming_keeps_the_key_and_editing_changes_it(tmp_path: Path) -> None:
    image(tmp_path / "img" / "bottle.png")
    first = read_spec(spec(tmp_path, ONE % "img/bottle.png")).jobs[0].key
    (tmp_path / "img" / "bottle.png").rename(tmp_path / "img" / "b2.png")
    moved = read_spec(spec(tmp_path, ONE % "img/b2.png")).jobs[0].key
    assert moved == first
    image(tmp_path / "img" / "b2.png", color="blue")
    edited = read_spec(spec(tmp_path, ONE % "img/b2.png")).jobs[0].key
    assert edited != first


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        (
            "small.png",
            lambda p: image(p, (200, 800)),
            "small.png: the image is 200x800 px; width and height must be 300-6000 px",
        ),
        (
            "wide.png",
            lambda p: image(p, (3000, 1000)),
            "wide.png: the image is 3000x1000 px, aspect ratio 3.00; it must be 0.4-2.5",
        ),
        (
            "liar.jpg",
            lambda p: image(p, fmt="PNG"),
            "liar.jpg: the file is a PNG image, not the JPG its extension claims",
        ),
        (
            "text.png",
            lambda p: p.write_text("not an image"),
            "text.png: not a PNG image: its bytes are not an image Pillow can read",
        ),
        (
            "photo.svg",
            lambda p: p.write_text("<svg/>"),
            "photo.svg: an image file needs one of the extensions "
            ".jpeg .jpg .png .webp .bmp .tiff .tif .gif .heic .heif",
        ),
        ("missing.png", lambda p: None, "missing.png: file not found"),
    ],
)
def test_preflight_errors_name_the_file_and_the_line(
    tmp_path: Path, name: str, make: object, message: str
) -> None:
    make(tmp_path / name)  # type: ignore[operator]
    assert errors(spec(tmp_path, ONE % name)) == [
        f"{tmp_path / 'spec.yaml'}:3:18: assets.bottle.file: {message}"
    ]


def test_a_file_may_not_leave_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "campaign").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    image(tmp_path / "outside.png")
    image(repo / "inside.png")
    (repo / "campaign" / "link.png").symlink_to(tmp_path / "outside.png")
    ok = read_spec(spec(repo / "campaign", ONE % "../inside.png"))
    assert ok.assets["bottle"].url.startswith("seedrun://file/")
    for written in ("../../outside.png", "link.png"):
        assert errors(spec(repo / "campaign", ONE % written)) == [
            f"{repo / 'campaign' / 'spec.yaml'}:3:18: assets.bottle.file: {written}: "
            f"the file is outside the spec's repository ({repo.resolve()})"
        ]


def test_absolute_paths_are_refused(tmp_path: Path) -> None:
    img = image(tmp_path / "a.png")
    assert errors(spec(tmp_path, ONE % img)) == [
        f"{tmp_path / 'spec.yaml'}:3:18: assets.bottle.file: {img}: "
        "a local file is written relative to the spec's folder"
    ]


def test_a_media_item_file_is_uploaded_unmoderated(tmp_path: Path) -> None:
    img = image(tmp_path / "a.png")
    s = read_spec(
        spec(
            tmp_path,
            'version: 1\njobs:\n  - name: j\n    prompt: "Use image 1."\n'
            "    media: [{file: a.png, role: first_frame}]\n" + UPLOADS,
        )
    )
    ref = f"seedrun://file/{sha256_of(img)}.png"
    assert [(sl.kind, sl.ref) for sl in s.jobs[0].slots] == [("file", ref)]


def test_moderate_on_a_url_item_is_refused(tmp_path: Path) -> None:
    path = spec(
        tmp_path,
        'version: 1\njobs:\n  - name: j\n    prompt: "Use image 1."\n'
        "    media: [{url: 'https://e.com/a.png', moderate: true}]\n",
    )
    assert errors(path) == [
        f"{path}:5:42: jobs[0].media[0].moderate: moderate: on a media item is only valid "
        "with file:; moderate a URL through a named asset"
    ]


def test_same_image_under_two_names_is_one_asset(tmp_path: Path) -> None:
    image(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes((tmp_path / "a.png").read_bytes())
    s = read_spec(
        spec(
            tmp_path,
            "version: 1\nassets:\n  a: {file: a.png, moderate: true}\n"
            "  b: {file: b.png, moderate: true}\n"
            'jobs:\n  - name: j\n    prompt: "Use image 1 and image 2."\n'
            "    media: [{asset: a}, {asset: b}]\n" + UPLOADS,
        )
    )
    assert s.assets["a"].url == s.assets["b"].url
    assert len(set(s.jobs[0].moderated_urls)) == 1


def test_local_files_need_an_uploads_bucket(tmp_path: Path) -> None:
    image(tmp_path / "a.png")
    path = spec(
        tmp_path,
        'version: 1\njobs:\n  - name: j\n    prompt: "Use image 1."\n'
        "    media: [{file: a.png}]\n",
    )
    assert errors(path) == [
        f"{path}:5:20: jobs[0].media[0].file: a local file is uploaded before use: name the "
        "bucket in settings.uploads (url: s3://bucket/prefix)"
    ]


def test_heic_needs_pillow_heif(tmp_path: Path) -> None:
    try:
        import pillow_heif  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("pillow-heif is installed: HEIC files are read")
    (tmp_path / "shot.heic").write_bytes(b"\0\0\0\x18ftypheic" + b"\0" * 64)
    assert errors(spec(tmp_path, ONE % "shot.heic")) == [
        f"{tmp_path / 'spec.yaml'}:3:18: assets.bottle.file: shot.heic: cannot read the "
        "headers of a HEIC/HEIF image: install pillow-heif, or convert it to JPEG or PNG"
    ]
