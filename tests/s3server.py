"""A real S3 API for the tests: moto's server mode on a free loopback port.

Nothing is mocked: boto3 in seedrun talks HTTP to this server as it would to
AWS, R2 or MinIO. Each test gets its own bucket; credentials are fake values in
the standard AWS environment variables, as a user would set them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import boto3
import httpx
from botocore.config import Config
from moto.server import ThreadedMotoServer

FAKE_KEY_ID = "AKIACANARY7Q3ZX9LMNP"
FAKE_SECRET = "canary/secret/Vb8Hs2Kd9Qw4Lz7Tn1Yx"


@dataclass(frozen=True)
class S3:
    endpoint: str
    bucket: str

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": FAKE_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        }

    def client(self) -> object:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=FAKE_KEY_ID,
            aws_secret_access_key=FAKE_SECRET,
            region_name="us-east-1",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def object_keys(self) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=self.bucket)  # type: ignore[attr-defined]
        return sorted(o["Key"] for o in listed.get("Contents", []))

    def uploads_yaml(self, prefix: str = "uploads", **extra: str) -> str:
        fields = {"url": f"s3://{self.bucket}/{prefix}", "endpoint_url": self.endpoint, **extra}
        inner = ", ".join(f'{k}: "{v}"' for k, v in fields.items())
        return f"settings:\n  uploads: {{{inner}}}\n"

    @contextmanager
    def refusing_credentials(self) -> Iterator[None]:
        """Every request must come from a known IAM user: our fake keys are refused."""
        httpx.post(f"{self.endpoint}/moto-api/reset-auth", content=b"0").raise_for_status()
        try:
            yield
        finally:
            httpx.post(f"{self.endpoint}/moto-api/reset-auth", content=b"inf").raise_for_status()


@contextmanager
def moto_server() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def new_bucket(endpoint: str) -> S3:
    s3 = S3(endpoint, f"seedrun-test-{uuid.uuid4().hex[:12]}")
    s3.client().create_bucket(Bucket=s3.bucket)  # type: ignore[attr-defined]
    return s3
