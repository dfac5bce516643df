"""S3: fetching a job's inputs and publishing its outputs.

Errors are sorted by what retrying can do:
- transient (TransientError): connection trouble, timeouts, 5xx, throttling, expired credentials,
  and AccessDenied (a permissions gap is fixed by a deploy, not by the input). botocore's "standard"
  retry mode (`AWS_MAX_ATTEMPTS`) has already retried; the message is retried later.
- permanent: a missing object (MissingObject) and every other 4xx (StorageRefused), such as
  KeyTooLongError: the same request would be refused again.
A body cut short in transit (fewer bytes than its Content-Length) is read again at once.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from worker.cloud.backoff import error_code, is_transient
from worker.settings import Settings

log = logging.getLogger(__name__)

READ_ATTEMPTS = 3  # for a body cut short after botocore's retries of the request itself
_MISSING = {"NoSuchKey", "404", "NotFound", "NoSuchBucket"}
_DENIED = {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"}


class TransientError(Exception):
    """Worth retrying later: the network, throttling, or AWS itself."""


class MissingObject(LookupError):
    """An input object does not exist (permanent until someone uploads it)."""


class StorageRefused(ValueError):
    """S3 refused the request for good (a 4xx such as KeyTooLongError): retrying cannot help."""


def aws_client(service: str, settings: Settings) -> Any:
    """A boto3 client for AWS, or for AWS_ENDPOINT_URL when set (an emulator, a proxy)."""
    config = Config(retries={"mode": "standard", "max_attempts": settings.aws_max_attempts})
    return boto3.client(
        service, region_name=settings.aws_region, endpoint_url=settings.aws_endpoint_url, config=config
    )


class Storage:
    def __init__(self, s3: Any) -> None:
        self._s3 = s3

    def read(self, bucket: str, key: str) -> bytes:
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                response = self._s3.get_object(Bucket=bucket, Key=key)
            except ClientError as error:
                raise self._translate(error, bucket, key) from error
            except BotoCoreError as error:
                raise TransientError(f"reading s3://{bucket}/{key}: {error}") from error
            try:
                return bytes(response["Body"].read())  # botocore checks the length against Content-Length
            except BotoCoreError as error:
                if attempt == READ_ATTEMPTS:
                    raise TransientError(f"reading s3://{bucket}/{key}: {error}") from error
                log.warning("s3://%s/%s came short (%s); reading it again", bucket, key, error)
        raise AssertionError("unreachable")

    def download(self, bucket: str, key: str, destination: Path) -> Path:
        # s3transfer retries a body cut short by itself.
        try:
            self._s3.download_file(bucket, key, str(destination))
        except ClientError as error:
            raise self._translate(error, bucket, key) from error
        except BotoCoreError as error:
            raise TransientError(f"downloading s3://{bucket}/{key}: {error}") from error
        return destination

    def presigned_get(self, bucket: str, key: str, seconds: int) -> str:
        """A URL that reads the object without credentials for `seconds` (signed locally: no request)."""
        url: str = self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds
        )
        return url

    def write(self, bucket: str, key: str, body: bytes, content_type: str, metadata: dict[str, str]) -> None:
        try:
            self._s3.put_object(
                Bucket=bucket, Key=key, Body=body, ContentType=content_type, Metadata=metadata
            )
        except ClientError as error:
            raise self._translate(error, bucket, key) from error
        except BotoCoreError as error:
            raise TransientError(f"writing s3://{bucket}/{key}: {error}") from error

    @staticmethod
    def _translate(error: ClientError, bucket: str, key: str) -> Exception:
        code = error_code(error)
        if code in _MISSING:
            return MissingObject(f"s3://{bucket}/{key} does not exist")
        if code in _DENIED:
            return TransientError(f"access denied to s3://{bucket}/{key} ({code})")
        if is_transient(error):
            return TransientError(f"s3://{bucket}/{key}: {code or error}")
        return StorageRefused(f"s3 refused s3://{bucket}/{key}: {code or error}")
