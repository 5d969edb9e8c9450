"""Facts about the Seedance API, shared by spec validation and the simulator.

Sources: ../shared/seedance-api.md, and for the task-service extras (drafts,
flex tier, cancel, list, retention) the official Ark SDK as described in issue 8.
"""

from __future__ import annotations

MODEL = "doubao-seedance-2.0"
APIS = ("official", "unified")

RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive")
DURATION_MIN = 2
DURATION_MAX = 15
RESOLUTIONS = ("480p", "720p", "1080p")

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
