"""Facts about the Seedance API, shared by spec validation and the simulator.

Sources: docs/seedance-api.md (the API in our words), and for the task-service extras (drafts,
flex tier, cancel, list, retention) the official Ark SDK as described in issue 8.
"""

from __future__ import annotations

MODEL = "doubao-seedance-2.0"
APIS = ("official", "unified")

RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive")
DURATION_MIN = 2
DURATION_MAX = 15
RESOLUTIONS = ("480p", "720p", "1080p")

# Output tokens of a video: width x height x 24 fps x seconds / 1024, with the
# frame size for each resolution and ratio ("adaptive" is counted as 16:9).
# What a task gets when it does not say: 720p, 16:9, 5 s; a draft renders at 480p.
OUTPUT_FPS = 24
OUTPUT_PIXELS: dict[str, dict[str, tuple[int, int]]] = {
    "480p": {"16:9": (864, 480), "4:3": (736, 544), "1:1": (640, 640),
             "3:4": (544, 736), "9:16": (480, 864), "21:9": (960, 416)},
    "720p": {"16:9": (1248, 704), "4:3": (1120, 832), "1:1": (960, 960),
             "3:4": (832, 1120), "9:16": (704, 1248), "21:9": (1504, 640)},
    "1080p": {"16:9": (1920, 1088), "4:3": (1664, 1248), "1:1": (1440, 1440),
              "3:4": (1248, 1664), "9:16": (1088, 1920), "21:9": (2176, 928)},
}  # fmt: skip
DEFAULT_RESOLUTION = "720p"
DEFAULT_RATIO = "16:9"
DEFAULT_DURATION = 5
DRAFT_RESOLUTION = "480p"

IMAGE_EXTENSIONS = (
    ".jpeg",
    ".jpg",
    ".png",
    ".webp",
    ".bmp",
    ".tiff",
    ".tif",
    ".gif",
    ".heic",
    ".heif",
)
VIDEO_EXTENSIONS = (".mp4", ".mov", ".webm", ".m4v")
AUDIO_EXTENSIONS = (".mp3", ".wav", ".m4a", ".aac", ".ogg", ".flac")

MEDIA_TYPES = ("image", "video", "audio")
ROLES = ("reference_image", "first_frame", "last_frame", "reference_video", "reference_audio")

MODERATION_MAX_URLS = 50

EXECUTION_EXPIRES_MIN = 3600
EXECUTION_EXPIRES_MAX = 259200
EXECUTION_EXPIRES_DEFAULT = 172800
SERVICE_TIERS = ("default", "flex")
RETENTION_SECONDS = 7 * 86400

# Gateway status words -> the normalized task states.
STATUS_WORDS: dict[str, str] = {
    "queued": "queued",
    "pending": "queued",
    "submitted": "queued",
    "running": "running",
    "in_progress": "running",
    "processing": "running",
    "succeeded": "succeeded",
    "completed": "succeeded",
    "success": "succeeded",
    "failed": "failed",
    "failure": "failed",
    "expired": "failed",
    "cancelled": "cancelled",
    "canceled": "cancelled",
}
TERMINAL_STATES = ("succeeded", "failed", "cancelled")

# Moderation's limits on an image (the doc's "Moderation Limits"); preflight and the
# simulator's fetching moderation apply the same ones.
IMAGE_MIN_SIDE = 300
IMAGE_MAX_SIDE = 6000
IMAGE_MIN_ASPECT = 0.4
IMAGE_MAX_ASPECT = 2.5
IMAGE_MAX_BYTES = 30 * 1024 * 1024  # "below 30 MB", read as MiB


def image_limit_problem(width: int, height: int, size: int | None) -> str | None:
    """Which of the doc's image limits ``width`` x ``height`` (and ``size`` bytes) breaks."""
    sides_ok = all(IMAGE_MIN_SIDE <= side <= IMAGE_MAX_SIDE for side in (width, height))
    if not sides_ok:
        return (
            f"the image is {width}x{height} px; width and height must be "
            f"{IMAGE_MIN_SIDE}-{IMAGE_MAX_SIDE} px"
        )
    aspect = width / height
    if not IMAGE_MIN_ASPECT <= aspect <= IMAGE_MAX_ASPECT:
        return (
            f"the image is {width}x{height} px, aspect ratio {aspect:.2f}; it must be "
            f"{IMAGE_MIN_ASPECT}-{IMAGE_MAX_ASPECT}"
        )
    if size is not None and size >= IMAGE_MAX_BYTES:
        return f"the image is {size / 2**20:.1f} MB; it must be below {IMAGE_MAX_BYTES // 2**20} MB"
    return None
