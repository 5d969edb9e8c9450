"""Create and moderation bodies the simulated API refuses, with their exact messages."""

from __future__ import annotations

from typing import Any

import pytest

from seedrun.sim.moderation import parse_moderation
from seedrun.sim.validate import Invalid, TaskRequest, parse_official, parse_unified

from .helpers import MODEL, text_body


def image(role: str | None = None, url: str = "https://example.com/a.png") -> dict[str, Any]:
    item: dict[str, Any] = {"type": "image_url", "image_url": {"url": url}}
    if role is not None:
        item["role"] = role
    return item


def with_content(*items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "content": [{"type": "text", "text": "p"}, *items], **extra}


OFFICIAL_REJECTIONS = [
    ([], "request body must be a JSON object"),
    ({"content": []}, "model is required; use doubao-seedance-2.0"),
    (text_body(model="seedance-1"), 'model must be doubao-seedance-2.0 (got "seedance-1")'),
    ({"model": MODEL}, "content is required: a list of content items"),
    ({"model": MODEL, "content": "hi"}, "content must be a list of content items"),
    ({"model": MODEL, "content": []}, "content must contain at least one item"),
    (with_content({"type": "gif"}),
     'content[1].type must be one of text, image_url, video_url, audio_url, draft_task '
     '(got "gif")'),
    (with_content({"type": "text", "text": "again"}),
     "content may contain at most one text item (found 2)"),
    ({"model": MODEL, "content": [{"type": "text", "text": " "}]},
     "content[0].text must be a non-empty string"),
    ({"model": MODEL, "content": [{"type": "text", "text": "p", "role": "first_frame"}]},
     "content[0].role is only allowed on image_url, video_url and audio_url items"),
    (with_content(image("hero")),
     "content[1].role must be one of reference_image, first_frame, last_frame, "
     'reference_video, reference_audio (got "hero")'),
    (with_content({"type": "video_url", "video_url": {"url": "https://e.com/v.mp4"},
                   "role": "first_frame"}),
     "content[1].role first_frame is only allowed on image_url items"),
    (with_content(image("first_frame"), image("first_frame")),
     "content may contain at most one first_frame item"),
    (with_content(image("last_frame")),
     "content has a last_frame item but no first_frame item; last_frame requires first_frame"),
    (with_content({"type": "image_url", "image_url": {}}), "content[1].image_url.url is required"),
    (with_content(image(url="data:image/png;base64,iVBORw0KGgo=")),
     "content[1].image_url.url: base64 and inline binary content are not supported; "
     "pass a public http(s) URL or an approved asset://<asset ID>"),
    (with_content(image(url="iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4")),
     "content[1].image_url.url: base64 and inline binary content are not supported; "
     "pass a public http(s) URL or an approved asset://<asset ID>"),
    (with_content(image(url="ftp://example.com/a.png")),
     "content[1].image_url.url must be a public http(s) URL or an approved asset://<asset ID>"),
    (with_content({"type": "draft_task", "draft_task": {}}),
     "content[1].draft_task.id must be the id of a succeeded draft task"),
    (text_body(duration=1), "duration must be a whole number of seconds from 2 to 15 (got 1)"),
    (text_body(duration="5"),
     'duration must be a whole number of seconds from 2 to 15 (got "5")'),
    (text_body(duration=5.5), "duration must be a whole number of seconds from 2 to 15 (got 5.5)"),
    (text_body(ratio="2:1"),
     'ratio must be one of 16:9, 4:3, 1:1, 3:4, 9:16, 21:9, adaptive (got "2:1")'),
    (text_body(resolution="4k"), 'resolution must be one of 480p, 720p, 1080p (got "4k")'),
    (text_body(service_tier="fast"), 'service_tier must be one of default, flex (got "fast")'),
    (text_body(execution_expires_after=60),
     "execution_expires_after must be an integer number of seconds from 3600 to 259200 "
     "(got 60)"),
    (text_body(seed=-2), "seed must be an integer from -1 to 4294967295 (got -2)"),
    (text_body(watermark="no"), 'watermark must be true or false (got "no")'),
]


@pytest.mark.parametrize(("body", "message"), OFFICIAL_REJECTIONS)
def test_official_rejections(body: object, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_official(body)
    assert caught.value.message == message


def test_official_defaults_and_references() -> None:
    body = with_content(
        image("first_frame", "asset://asset-1"),
        image("last_frame"),
        {"type": "draft_task", "draft_task": {"id": "task_d"}},
        unknown_option=True,
    )
    assert parse_official(body) == TaskRequest(
        flavour="official", model=MODEL, prompt="p", duration=5, ratio="16:9",
        resolution="720p", seed=None, draft=False, return_last_frame=False,
        service_tier="default", execution_expires_after=172800,
        asset_refs=(("content[1].image_url.url", "asset://asset-1"),),
        draft_refs=(("content[3].draft_task.id", "task_d"),),
    )


def test_seed_minus_one_means_server_chooses() -> None:
    assert parse_official(text_body(seed=-1)).seed is None
    assert parse_official(text_body(seed=42)).seed == 42


UNIFIED_REJECTIONS = [
    ({"model": MODEL}, "prompt is required: a non-empty string"),
    ({"model": MODEL, "prompt": "p", "seconds": "five"},
     'seconds must be a whole number of seconds from 2 to 15 as an integer or a string '
     'such as "5" (got "five")'),
    ({"model": MODEL, "prompt": "p", "metadata": []}, "metadata must be a JSON object"),
    ({"model": MODEL, "prompt": "p", "metadata": {"ratio": "5:4"}},
     'metadata.ratio must be one of 16:9, 4:3, 1:1, 3:4, 9:16, 21:9, adaptive (got "5:4")'),
    ({"model": MODEL, "prompt": "p", "images": "https://e.com/a.png"},
     "images must be a list of image URLs"),
    ({"model": MODEL, "prompt": "p", "image": "data:image/png;base64,AAAA"},
     "image: base64 and inline binary content are not supported; "
     "pass a public http(s) URL or an approved asset://<asset ID>"),
    ({"model": MODEL, "prompt": "p", "metadata": {"content": [{"type": "text", "text": "x"}]}},
     "metadata.content must not contain a text item: prompt is the text"),
    ({"model": MODEL, "prompt": "p", "metadata": {"content": [image("last_frame")]}},
     "metadata.content has a last_frame item but no first_frame item; "
     "last_frame requires first_frame"),
]


@pytest.mark.parametrize(("body", "message"), UNIFIED_REJECTIONS)
def test_unified_rejections(body: object, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_unified(body)
    assert caught.value.message == message


def test_unified_accepts_seconds_as_string_or_int_and_passes_metadata_through() -> None:
    body = {
        "model": MODEL,
        "prompt": "p",
        "seconds": "8",
        "images": ["asset://asset-9"],
        "metadata": {"resolution": "1080p", "ratio": "1:1", "seed": 7, "draft": True,
                     "return_last_frame": True, "service_tier": "flex",
                     "execution_expires_after": 3600, "camera_fixed": True,
                     "content": [image("reference_image")]},
    }
    assert parse_unified(body) == TaskRequest(
        flavour="unified", model=MODEL, prompt="p", duration=8, ratio="1:1",
        resolution="1080p", seed=7, draft=True, return_last_frame=True,
        service_tier="flex", execution_expires_after=3600,
        asset_refs=(("images[0]", "asset://asset-9"),),
    )
    assert parse_unified({"model": MODEL, "prompt": "p", "duration": 4}).duration == 4
    assert parse_unified({"model": MODEL, "prompt": "p", "metadata": {"duration": 6}}).duration == 6


MODERATION_REJECTIONS = [
    ({"images": ["https://e.com/a.png"]}, "model is required; use doubao-seedance-2.0"),
    ({"model": MODEL}, "at least one of images, image_urls or image_url is required"),
    ({"model": MODEL, "images": ["https://e.com/a.png"], "asset_type": "Video"},
     'asset_type must be "Image" for image moderation (got "Video")'),
    ({"model": MODEL, "images": [f"https://e.com/{i}.png" for i in range(51)]},
     "at most 50 image URLs per request (got 51)"),
    ({"model": MODEL, "image_url": "data:image/png;base64,AAAA"},
     "image_url: base64 and inline binary content are not supported; "
     "images must be public http or https URLs"),
    ({"model": MODEL, "image_urls": ["file:///tmp/a.png"]},
     'image_urls[0] must be a public http or https URL (got "file:///tmp/a.png")'),
    ({"model": MODEL, "images": ["https://e.com/a.svg?x=.png"]},
     "images[0] must end in a supported image extension (.jpeg, .jpg, .png, .webp, .bmp, "
     '.tiff, .tif, .gif, .heic, .heif) (got "https://e.com/a.svg?x=.png")'),
]


@pytest.mark.parametrize(("body", "message"), MODERATION_REJECTIONS)
def test_moderation_rejections(body: object, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_moderation(body)
    assert caught.value.message == message


def test_moderation_collects_all_url_fields_in_order() -> None:
    body = {"model": MODEL, "images": ["https://e.com/1.png"],
            "image_urls": ["https://e.com/2.JPG?sig=1"], "image_url": "https://e.com/3.webp"}
    assert parse_moderation(body).urls == (
        "https://e.com/1.png", "https://e.com/2.JPG?sig=1", "https://e.com/3.webp",
    )
