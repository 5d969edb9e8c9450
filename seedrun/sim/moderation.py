"""Image moderation: request validation and the simulated review. Pure.

``POST /v1/images/moderations`` and ``/v1/assets/moderations`` share this. A
URL containing ``reject_marker`` is not passed; every other URL is approved as
``asset://asset-<stable hash of the URL>``, which the caller remembers so that
only issued asset ids are accepted in task content.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from seedrun import api_facts
from seedrun.sim.engine import digest
from seedrun.sim.validate import Invalid, check_model, got, json_object, looks_inline

REJECT_REASON = "The image may violate the platform's content policy and was not approved."
TIMEOUT_MESSAGE = "moderation did not finish in time; retry the request later"


@dataclass(frozen=True)
class ModerationRequest:
    urls: tuple[str, ...]


def parse_moderation(body: object) -> ModerationRequest:
    """Validate a moderation request; URLs keep the order images, image_urls, image_url."""
    obj = json_object(body, "request body")
    check_model(obj)
    asset_type = obj.get("asset_type", "Image")
    if asset_type != "Image":
        raise Invalid(f'asset_type must be "Image" for image moderation{got(asset_type)}')
    found: list[tuple[str, object]] = []
    for name in ("images", "image_urls"):
        values = obj.get(name)
        if values is None:
            continue
        if not isinstance(values, list):
            raise Invalid(f"{name} must be a list of image URLs")
        found.extend((f"{name}[{index}]", url) for index, url in enumerate(values))
    if obj.get("image_url") is not None:
        found.append(("image_url", obj["image_url"]))
    if not found:
        raise Invalid("at least one of images, image_urls or image_url is required")
    if len(found) > api_facts.MODERATION_MAX_URLS:
        raise Invalid(f"at most {api_facts.MODERATION_MAX_URLS} image URLs per request "
                      f"(got {len(found)})")
    return ModerationRequest(tuple(_image_url(url, where) for where, url in found))


def _image_url(url: object, where: str) -> str:
    if not isinstance(url, str) or not url:
        raise Invalid(f"{where} must be an image URL string")
    if looks_inline(url):
        raise Invalid(f"{where}: base64 and inline binary content are not supported; "
                      "images must be public http or https URLs")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise Invalid(f"{where} must be a public http or https URL{got(url)}")
    if not parts.path.lower().endswith(api_facts.IMAGE_EXTENSIONS):
        raise Invalid(f"{where} must end in a supported image extension "
                      f"({', '.join(api_facts.IMAGE_EXTENSIONS)}){got(url)}")
    return url


def asset_url(source_url: str) -> str:
    """The asset id issued for an approved URL: stable across runs and seeds."""
    return f"asset://asset-{digest(0, source_url, 'asset')[:16]}"


def review(urls: tuple[str, ...], reject_marker: str) -> list[dict[str, Any]]:
    """One result item per URL, shaped like the doc's ``data.items``."""
    items: list[dict[str, Any]] = []
    for url in urls:
        if reject_marker in url:
            items.append({"source_url": url, "submit_review_status": 2, "passed": False,
                          "reason": REJECT_REASON})
        else:
            items.append({"source_url": url, "asset_url": asset_url(url),
                          "submit_review_status": 1, "passed": True})
    return items


def result(seed: int, batch: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """The success envelope; ``batch`` names this request for the batch/task ids."""
    passed = sum(1 for item in items if item["passed"])
    status = "approved" if passed == len(items) else "rejected" if passed == 0 else "partial"
    return {
        "code": "success",
        "message": "",
        "data": {
            "object": "asset_moderation",
            "status": status,
            "review_batch_id": "review-batch-" + digest(seed, batch, "review-batch")[:16],
            "task_id": "moderation-task-" + digest(seed, batch, "moderation-task")[:16],
            "items": items,
        },
    }


def failure(code: str, message: str) -> dict[str, Any]:
    """The moderation error envelope: ``{"code", "message", "data": null}``."""
    return {"code": code, "message": message, "data": None}
