"""S3: fetching a job's inputs and publishing its outputs.

Transient AWS errors (throttling, 5xx, dropped connections) are retried by botocore's own
"standard" retry mode with exponential backoff (`AWS_MAX_ATTEMPTS`); what still fails surfaces as
a TransientError. A missing object is a permanent failure of the job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from worker.settings import Settings

_MISSING = {"NoSuchKey", "404", "NotFound", "NoSuchBucket"}


class TransientError(Exception):
    """Worth retrying later: the network, throttling, or AWS itself."""


class MissingObject(LookupError):
    """An input object does not exist (permanent until someone uploads it)."""


def aws_client(service: str, settings: Settings) -> Any:
    """A boto3 client; AWS_ENDPOINT_URL (e.g. a local emulator) is honoured by boto3 itself."""
    config = Config(retries={"mode": "standard", "max_attempts": settings.aws_max_attempts})
    return boto3.client(service, region_name=settings.aws_region, config=config)


class Storage:
    def __init__(self, s3: Any) -> None:
        self._s3 = s3

    def read(self, bucket: str, key: str) -> bytes:
        try:
            return bytes(self._s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        except ClientError as error:
            raise self._translate(error, bucket, key) from error
        except BotoCoreError as error:
            raise TransientError(f"reading s3://{bucket}/{key}: {error}") from error

    def download(self, bucket: str, key: str, destination: Path) -> Path:
        try:
            self._s3.download_file(bucket, key, str(destination))
        except ClientError as error:
            raise self._translate(error, bucket, key) from error
        except BotoCoreError as error:
            raise TransientError(f"downloading s3://{bucket}/{key}: {error}") from error
        return destination

    def write(self, bucket: str, key: str, body: bytes, content_type: str, metadata: dict[str, str]) -> None:
        try:
            self._s3.put_object(
                Bucket=bucket, Key=key, Body=body, ContentType=content_type, Metadata=metadata
            )
        except (ClientError, BotoCoreError) as error:
            raise TransientError(f"writing s3://{bucket}/{key}: {error}") from error

    @staticmethod
    def _translate(error: ClientError, bucket: str, key: str) -> Exception:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _MISSING:
            return MissingObject(f"s3://{bucket}/{key} does not exist")
        if code in {"AccessDenied", "403"}:
            # A permissions gap is fixed by a deploy, not by the input: retry later, keep the message.
            return TransientError(f"access denied to s3://{bucket}/{key}")
        return TransientError(f"s3://{bucket}/{key}: {code or error}")
