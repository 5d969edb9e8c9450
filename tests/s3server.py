"""A real S3 API for the tests: moto's server mode on a free loopback port.

Nothing is mocked: boto3 in seedrun talks HTTP to this server as it would to
AWS, R2 or MinIO. Each test gets its own bucket; credentials are fake values in
the standard AWS environment variables, as a user would set them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

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


async def expiring_proxy(upstream: str, task_status: Any) -> None:
    """A TCP proxy to ``upstream`` that, like S3 and unlike moto, refuses a presigned
    GET whose ``X-Amz-Date`` + ``X-Amz-Expires`` has passed."""
    import trio

    host, port = upstream.removeprefix("http://").split(":")

    async def pipe(src: trio.SocketStream, dst: trio.SocketStream) -> None:
        try:
            while data := await src.receive_some(65536):
                await dst.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            with trio.CancelScope(shield=True):
                await dst.aclose()

    async def handle(client: trio.SocketStream) -> None:
        first = await client.receive_some(65536)
        line = first.split(b"\r\n", 1)[0].decode("latin-1")
        query = parse_qs(urlsplit(line.split(" ")[1]).query) if " " in line else {}
        if "X-Amz-Date" in query and "X-Amz-Expires" in query:
            signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")
            ends = signed.replace(tzinfo=UTC).timestamp() + int(query["X-Amz-Expires"][0])
            if time.time() > ends:
                body = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message>"
                body += b"</Error>"
                await client.send_all(
                    b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\n"
                    + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
                await client.aclose()
                return
        server = await trio.open_tcp_stream(host, int(port))
        await server.send_all(first)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(pipe, client, server)
            nursery.start_soon(pipe, server, client)

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    task_status.started(f"http://127.0.0.1:{listeners[0].socket.getsockname()[1]}")
    await trio.serve_listeners(handle, listeners)
