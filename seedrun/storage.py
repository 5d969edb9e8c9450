"""The one seam to object storage: a small protocol and its boto3 implementation.

Uploads of local images (``seedrun.uploads``) and videos kept in a bucket
(``seedrun.bucket_outputs``) use only ``Storage``; nothing else in seedrun
imports boto3. Tests run it against a real S3 API (moto's server), never a mock.

Why boto3: it speaks every S3-compatible store the campaign teams use (AWS S3,
Cloudflare R2, Volcengine TOS, MinIO, GCS interop) through ``endpoint_url``; it
reads credentials from the standard AWS chain (environment variables, shared
profiles, SSO, instance roles) so seedrun never sees them; it signs presigned
URLs locally; and its managed transfer streams large files in parts. obstore
was the alternative: faster, but a younger API whose presigning and
error types are less settled. boto3 is synchronous, so calls run in a worker
thread (``trio.to_thread``).

Credentials are never taken from the spec and never appear in a message: the
errors below carry the S3 error code and the bucket/key, nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import quote, urlsplit

import boto3
import botocore.exceptions
from botocore.config import Config

from seedrun.campaign import Bucket
from seedrun.errors import ConfigError, StorageError
from seedrun.hosts import is_loopback_host

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# S3 error codes no retry cures: the run stops before anything is paid.
_FATAL_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "NoSuchBucket",
        "AllAccessDisabled",
        "InvalidToken",
        "ExpiredToken",
        "AuthorizationHeaderMalformed",
        "403",
        "404",
    }
)


@dataclass(frozen=True)
class ObjectInfo:
    bytes: int
    sha256: str | None  # from the object's metadata, when seedrun wrote it


class Storage(Protocol):
    """Objects under one bucket prefix. Keys are relative to the prefix."""

    def describe(self, key: str = "") -> str:
        """``s3://bucket/prefix/key``, for messages and lockfiles."""
        ...

    def check(self) -> None:
        """Raise StorageError(fatal) when the bucket refuses these credentials."""
        ...

    def stat(self, key: str) -> ObjectInfo | None: ...

    def put_file(self, key: str, path: Path, *, sha256: str, content_type: str) -> None: ...

    def url(self, key: str) -> str:
        """A URL the API can GET: public, or presigned for the configured lifetime."""
        ...

    def digest(self, key: str) -> ObjectInfo | None:
        """Size and sha256 of the object's bytes (read whole); None if it is absent."""
        ...


def check_bucket_urls(bucket: Bucket | None) -> None:
    """Refuse a spec's ``endpoint_url`` or ``public_base_url`` unless https, or http on
    loopback: requests to the endpoint carry signed credentials and the images, and
    a spec may come from a pull request."""
    if bucket is None:
        return
    for name in ("endpoint_url", "public_base_url"):
        url = getattr(bucket, name)
        if url is None:
            continue
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
        except ValueError:
            raise ConfigError(f"settings.uploads.{name} {url!r} is not a valid URL") from None
        if not host or parts.scheme not in ("http", "https"):
            raise ConfigError(f"settings.uploads.{name} {url!r} must be https://host[/path]")
        if parts.scheme == "http" and not is_loopback_host(host):
            raise ConfigError(
                f"settings.uploads.{name} {url!r}: a spec may only name an https:// "
                "storage host (or http:// on loopback: 127.0.0.0/8, ::1 or localhost)"
            )


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` -> ``("bucket", "some/prefix")``."""
    parts = urlsplit(url)
    return parts.netloc, parts.path.strip("/")


def _addressing(endpoint_url: str | None) -> Literal["auto", "path"]:
    if endpoint_url is None:
        return "auto"
    host = urlsplit(endpoint_url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "path" if host == "localhost" else "auto"
    return "path"  # an IP address cannot carry the bucket as a subdomain


class S3Storage:
    """``Storage`` over boto3, for any S3-compatible endpoint."""

    def __init__(self, bucket: Bucket, *, base: str | None = None) -> None:
        self.bucket_url = base or bucket.url
        self.name, self.prefix = split_s3_url(self.bucket_url)
        self.settings = bucket
        config = Config(
            retries={"max_attempts": 4, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
            signature_version="s3v4",
            s3={"addressing_style": _addressing(bucket.endpoint_url)},
        )
        try:
            session = boto3.session.Session()
            self.client: S3Client = session.client(
                "s3",
                endpoint_url=bucket.endpoint_url,
                region_name=bucket.region or session.region_name or "us-east-1",
                config=config,
            )
        except botocore.exceptions.BotoCoreError as exc:
            raise StorageError(f"{self.bucket_url}: cannot set up the S3 client: {exc}") from None

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def describe(self, key: str = "") -> str:
        full = self._key(key) if key else self.prefix
        return f"s3://{self.name}/{full}" if full else f"s3://{self.name}"

    def _fail(self, what: str, key: str, exc: Exception) -> StorageError:
        where = self.describe(key)
        if isinstance(exc, botocore.exceptions.NoCredentialsError):
            return StorageError(
                f"{where}: no AWS credentials found; set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE",
                fatal=True,
            )
        if isinstance(exc, botocore.exceptions.ClientError):
            err: Any = exc.response.get("Error", {})
            code = str(err.get("Code", "")) or "error"
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            message = str(err.get("Message", "")).rstrip(".")
            text = f"{where}: {what} refused: {code}" + (f" ({message})" if message else "")
            if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "403") or status == 403:
                text += (
                    "; check the AWS credentials in the environment "
                    "(AWS_PROFILE, AWS_ACCESS_KEY_ID)"
                )
            return StorageError(text, fatal=code in _FATAL_CODES or status in (401, 403))
        return StorageError(f"{where}: {what} failed: {_describe(exc)}")

    def check(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.name)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._fail("access to the bucket", "", exc) from None

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            head = self.client.head_object(Bucket=self.name, Key=self._key(key))
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return None
            raise self._fail("reading", key, exc) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise self._fail("reading", key, exc) from None
        meta = head.get("Metadata") or {}
        return ObjectInfo(int(head.get("ContentLength", 0)), meta.get("sha256"))

    def put_file(self, key: str, path: Path, *, sha256: str, content_type: str) -> None:
        """Upload ``path``; the store checks the bytes against ``sha256`` (ChecksumSHA256)."""
        checksum = base64.b64encode(bytes.fromhex(sha256)).decode()
        try:
            with path.open("rb") as body:
                self.client.put_object(
                    Bucket=self.name,
                    Key=self._key(key),
                    Body=body,
                    ContentType=content_type,
                    Metadata={"sha256": sha256},
                    ChecksumSHA256=checksum,
                )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._fail("upload", key, exc) from None

    def url(self, key: str) -> str:
        full = self._key(key)
        if self.settings.public_base_url:
            return f"{self.settings.public_base_url.rstrip('/')}/{quote(full)}"
        try:
            return self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.name, "Key": full},
                ExpiresIn=self.settings.presign_seconds,
            )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise self._fail("presigning", key, exc) from None

    def digest(self, key: str) -> ObjectInfo | None:
        """Size and sha256 of the object's actual bytes, streamed; None if it is absent."""
        try:
            got = self.client.get_object(Bucket=self.name, Key=self._key(key))
            h = hashlib.sha256()
            size = 0
            for chunk in got["Body"].iter_chunks(1 << 20):
                h.update(chunk)
                size += len(chunk)
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise self._fail("reading", key, exc) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise self._fail("reading", key, exc) from None
        return ObjectInfo(size, h.hexdigest())



def _describe(exc: Exception) -> str:
    """A transport failure in a few words (boto3 has already retried it)."""
    if isinstance(exc, botocore.exceptions.ConnectionClosedError):
        return "the connection closed before the store answered, after retries"
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return "cannot connect to the endpoint, after retries"
    if isinstance(
        exc, botocore.exceptions.ConnectTimeoutError | botocore.exceptions.ReadTimeoutError
    ):
        return "timed out, after retries"
    return _short(exc)


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."
