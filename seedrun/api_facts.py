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
