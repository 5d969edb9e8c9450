"""Request bodies, exactly as ../shared/seedance-api.md shows them, for both flavours."""

from __future__ import annotations

import hashlib
import json
import textwrap
from typing import Any

from seedrun.requests import (
    MediaItem,
    Slot,
    build_body,
    canonical_json,
    content_key,
    fill_slots,
    last_frame_placeholder,
    task_id_placeholder,
)
from seedrun.spec import Job, load_spec

MODEL = "doubao-seedance-2.0"


def jobs(text: str) -> dict[str, Job]:
    spec = load_spec(textwrap.dedent(text), "spec.yaml")
    return {j.id: j for j in spec.jobs}


def bodies(text: str) -> dict[str, dict[str, Any]]:
    return {jid: job.body for jid, job in jobs(text).items()}


def test_text_to_video() -> None:
    prompt = "A cinematic aerial shot of a futuristic cubic city at sunrise"
    assert bodies(
        f"""\
        version: 1
        defaults: {{duration: 5, ratio: "16:9", watermark: false}}
        jobs:
          - {{name: official, prompt: {prompt}}}
          - {{name: unified, prompt: {prompt}, api: unified, resolution: 1080p,
              generate_audio: true}}
        """
    ) == {
        "official": {
            "model": MODEL,
            "content": [{"type": "text", "text": prompt}],
            "duration": 5,
            "ratio": "16:9",
            "watermark": False,
        },
        "unified": {
            "model": MODEL,
            "prompt": prompt,
            "seconds": "5",
            "metadata": {
                "ratio": "16:9",
                "resolution": "1080p",
                "watermark": False,
                "generate_audio": True,
            },
        },
    }


def test_only_keys_the_spec_sets() -> None:
    assert bodies(
        "version: 1\njobs: [{name: a, prompt: p}, {name: b, prompt: p, api: unified}]"
    ) == {
        "a": {"model": MODEL, "content": [{"type": "text", "text": "p"}]},
        "b": {"model": MODEL, "prompt": "p"},
    }


def test_moderated_reference_image() -> None:
    prompt = (
        "Use image 1 as the subject reference. Make the product rotate slowly on a clean "
        "studio background while preserving its appearance."
    )
    found = jobs(
        f"""\
        version: 1
        defaults: {{duration: 5, ratio: "1:1", camera_fixed: true, watermark: false}}
        assets:
          product: {{url: "https://example.com/product.png", moderate: true}}
        jobs:
          - name: official
            prompt: {prompt}
            media: [{{asset: product, role: reference_image}}]
          - name: unified
            api: unified
            resolution: 720p
            prompt: {prompt}
            media: [{{asset: product, role: reference_image}}]
        """
    )
    image = {
        "type": "image_url",
        "image_url": {"url": "https://example.com/product.png"},
        "role": "reference_image",
    }
    assert found["official"].body == {
        "model": MODEL,
        "content": [{"type": "text", "text": prompt}, image],
        "duration": 5,
        "ratio": "1:1",
        "camera_fixed": True,
        "watermark": False,
    }
    assert found["official"].slots == (
        Slot(("content", 1, "image_url", "url"), "asset", "https://example.com/product.png"),
    )
    assert found["unified"].body == {
        "model": MODEL,
        "prompt": prompt,
        "seconds": "5",
        "metadata": {
            "ratio": "1:1",
            "resolution": "720p",
            "camera_fixed": True,
            "watermark": False,
            "content": [image],
        },
    }
    assert found["unified"].slots == (
        Slot(
            ("metadata", "content", 0, "image_url", "url"),
            "asset",
            "https://example.com/product.png",
        ),
    )
    approved = fill_slots(
        found["unified"].body, found["unified"].slots, lambda s: "asset://reviewed-image-asset-id"
    )
    assert approved["metadata"]["content"][0]["image_url"] == {
        "url": "asset://reviewed-image-asset-id"
    }
    # fill_slots copies: the job's own body keeps its stand-in.
    assert found["unified"].body["metadata"]["content"][0] == image


def test_first_and_last_frame() -> None:
    prompt = "Generate a smooth transition video from image 1 to image 2."
    media = """[{url: "asset://first-frame-asset-id", role: first_frame},
                 {url: "asset://last-frame-asset-id", role: last_frame}]"""
    assert bodies(
        f"""\
        version: 1
        defaults: {{duration: 8, ratio: "16:9", generate_audio: true}}
        jobs:
          - name: official
            prompt: {prompt}
            media: {media}
          - name: unified
            api: unified
            prompt: {prompt}
            media: {media}
        """
    ) == {
        "official": {
            "model": MODEL,
            "content": [
                {"type": "text", "text": prompt},
                {
                    "type": "image_url",
                    "image_url": {"url": "asset://first-frame-asset-id"},
                    "role": "first_frame",
                },
                {
                    "type": "image_url",
                    "image_url": {"url": "asset://last-frame-asset-id"},
                    "role": "last_frame",
                },
            ],
            "duration": 8,
            "ratio": "16:9",
            "generate_audio": True,
        },
        "unified": {
            "model": MODEL,
            "prompt": prompt,
            "seconds": "8",
            "metadata": {
                "ratio": "16:9",
                "generate_audio": True,
                "content": [
                    {
                        "type": "image_url",
                        "image_url": {"url": "asset://first-frame-asset-id"},
                        "role": "first_frame",
                    },
                    {
                        "type": "image_url",
                        "image_url": {"url": "asset://last-frame-asset-id"},
                        "role": "last_frame",
                    },
                ],
            },
        },
    }


def test_video_reference() -> None:
    prompt = "Keep the character style and generate a new action sequence"
    assert bodies(
        f"""\
        version: 1
        defaults: {{duration: 5, ratio: "16:9"}}
        jobs:
          - {{name: official, prompt: {prompt}, media: [{{url: "https://example.com/reference.mp4"}}]}}
          - name: unified
            api: unified
            prompt: {prompt}
            media: [{{url: "https://example.com/reference.mp4"}}]
        """
    ) == {
        "official": {
            "model": MODEL,
            "content": [
                {"type": "text", "text": prompt},
                {"type": "video_url", "video_url": {"url": "https://example.com/reference.mp4"}},
            ],
            "duration": 5,
            "ratio": "16:9",
        },
        "unified": {
            "model": MODEL,
            "prompt": prompt,
            "seconds": "5",
            "metadata": {
                "ratio": "16:9",
                "content": [
                    {
                        "type": "video_url",
                        "video_url": {"url": "https://example.com/reference.mp4"},
                    }
                ],
            },
        },
    }


def test_unified_plain_images_use_the_images_array() -> None:
    found = jobs(
        """\
        version: 1
        assets: {p: {url: "https://example.com/p.png", moderate: true}}
        jobs:
          - name: u
            api: unified
            prompt: Use image 1 and image 2.
            media: [{url: "https://example.com/a.jpg"}, {asset: p}]
        """
    )
    assert found["u"].body == {
        "model": MODEL,
        "prompt": "Use image 1 and image 2.",
        "images": ["https://example.com/a.jpg", "https://example.com/p.png"],
    }
    assert found["u"].slots == (Slot(("images", 1), "asset", "https://example.com/p.png"),)


def test_chained_frame_placeholder_names_the_source_key() -> None:
    found = jobs(
        """\
        version: 1
        jobs:
          - {name: shot1, prompt: A door opens.}
          - name: shot2
            prompt: Continue from image 1.
            media: [{from: shot1, frame: last, role: first_frame}]
          - name: shot3
            api: unified
            prompt: Continue from image 1.
            media: [{from: shot1, role: first_frame}]
        """
    )
    source = found["shot1"]
    assert source.body == {
        "model": MODEL,
        "content": [{"type": "text", "text": "A door opens."}],
        "return_last_frame": True,
    }
    placeholder = f"seedrun://last-frame/shot1@{source.key}"
    assert last_frame_placeholder("shot1", source.key) == placeholder
    frame = {"type": "image_url", "image_url": {"url": placeholder}, "role": "first_frame"}
    assert found["shot2"].body == {
        "model": MODEL,
        "content": [{"type": "text", "text": "Continue from image 1."}, frame],
    }
    assert found["shot2"].slots == (
        Slot(("content", 1, "image_url", "url"), "last_frame", "shot1"),
    )
    assert found["shot3"].body == {
        "model": MODEL,
        "prompt": "Continue from image 1.",
        "metadata": {"content": [frame]},
    }
    assert found["shot3"].slots == (
        Slot(("metadata", "content", 0, "image_url", "url"), "last_frame", "shot1"),
    )


def test_draft_and_promoted_final() -> None:
    found = jobs(
        """\
        version: 1
        defaults: {draft: true, resolution: 480p, duration: 5, seed: 3, watermark: false}
        jobs:
          - {name: look, prompt: A red kite.}
          - {name: ulook, prompt: A red kite., api: unified, service_tier: flex}
        promote: ["*look"]
        """
    )
    draft = found["look"]
    assert draft.body == {
        "model": MODEL,
        "content": [{"type": "text", "text": "A red kite."}],
        "duration": 5,
        "resolution": "480p",
        "seed": 3,
        "watermark": False,
        "draft": True,
    }
    final = found["look#final"]
    task = task_id_placeholder("look", draft.key)
    assert task == f"seedrun://task-id/look@{draft.key}"
    assert final.body == {
        "model": MODEL,
        "content": [{"type": "draft_task", "draft_task": {"id": task}}],
        "resolution": "480p",
        "watermark": False,
    }
    assert final.slots == (Slot(("content", 0, "draft_task", "id"), "draft_task", "look"),)
    udraft = found["ulook"]
    assert udraft.body == {
        "model": MODEL,
        "prompt": "A red kite.",
        "seconds": "5",
        "metadata": {
            "resolution": "480p",
            "seed": 3,
            "watermark": False,
            "draft": True,
            "service_tier": "flex",
        },
    }
    utask = task_id_placeholder("ulook", udraft.key)
    assert found["ulook#final"].body == {
        "model": MODEL,
        "prompt": "A red kite.",
        "metadata": {
            "resolution": "480p",
            "watermark": False,
            "service_tier": "flex",
            "content": [{"type": "draft_task", "draft_task": {"id": utask}}],
        },
    }


def test_extra_merges_at_top_level_or_into_metadata() -> None:
    assert bodies(
        """\
        version: 1
        defaults: {ratio: "1:1", extra: {callback_url: "https://hooks.example/x", tags: [a]}}
        jobs:
          - {name: official, prompt: p, extra: {tags: [b]}}
          - {name: unified, prompt: p, api: unified, extra: {tags: [b]}}
        """
    ) == {
        "official": {
            "model": MODEL,
            "content": [{"type": "text", "text": "p"}],
            "ratio": "1:1",
            "callback_url": "https://hooks.example/x",
            "tags": ["b"],
        },
        "unified": {
            "model": MODEL,
            "prompt": "p",
            "metadata": {"ratio": "1:1", "callback_url": "https://hooks.example/x", "tags": ["b"]},
        },
    }


def test_content_key_is_sha256_of_canonical_json() -> None:
    body = {"b": [1, {"z": "é", "a": None}], "a": True}
    text = '{"a":true,"b":[1,{"a":null,"z":"é"}]}'
    assert canonical_json(body) == text
    assert canonical_json(body) == json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    assert content_key(body) == hashlib.sha256(text.encode()).hexdigest()


def test_key_covers_the_whole_body() -> None:
    found = jobs(
        """\
        version: 1
        jobs:
          - {name: a, prompt: p, seed: 1}
        """
    )
    job = found["a"]
    assert job.key == content_key(
        {"model": MODEL, "content": [{"type": "text", "text": "p"}], "seed": 1}
    )


def test_build_body_without_memo_and_fill_slots_copies() -> None:
    item = MediaItem("image", "https://example.com/p.png", "first_frame", "asset", "src")
    body, slots = build_body("official", {"ratio": "1:1", "extra": {}}, "p", [item])
    assert body == {
        "model": MODEL,
        "content": [
            {"type": "text", "text": "p"},
            {
                "type": "image_url",
                "image_url": {"url": "https://example.com/p.png"},
                "role": "first_frame",
            },
        ],
        "ratio": "1:1",
    }
    filled = fill_slots(body, slots, lambda s: f"asset://{s.ref}")
    assert filled["content"][1]["image_url"]["url"] == "asset://src"
    assert body["content"][1]["image_url"]["url"] == "https://example.com/p.png"
