"""The fault proxy itself: each fault and each AWS limit, as boto3 sees them through it."""

from __future__ import annotations

import threading
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tests.conftest import Cloud
from tests.faultproxy import Fault, FaultProxy, Match


def client(service: str, proxy: FaultProxy, attempts: int = 1) -> Any:
    config = Config(retries={"mode": "standard", "total_max_attempts": attempts}, read_timeout=20)
    return boto3.client(service, endpoint_url=proxy.url, region_name="us-east-1", config=config)


def test_requests_pass_through_and_are_recorded(cloud: Cloud, proxy: FaultProxy) -> None:
    s3, sqs = client("s3", proxy), client("sqs", proxy)
    s3.put_object(Bucket=cloud.text_bucket, Key="a/b c.txt", Body=b"hello")
    assert s3.get_object(Bucket=cloud.text_bucket, Key="a/b c.txt")["Body"].read() == b"hello"
    sqs.send_message(QueueUrl=cloud.queue_url, MessageBody="x")
    assert [(r.service, r.action, r.key) for r in proxy.seen()] == [
        ("s3", "PutObject", "a/b c.txt"),
        ("s3", "GetObject", "a/b c.txt"),
        ("sqs", "SendMessage", None),
    ]
    assert proxy.seen(Match(action="SendMessage"))[0].queue_url == cloud.queue_url


def test_error_reset_and_retry(cloud: Cloud, proxy: FaultProxy) -> None:
    proxy.fail(Match(action="SendMessage"), Fault.error(503), times=1)
    proxy.fail(Match(action="SendMessage"), Fault.reset(), times=1)
    client("sqs", proxy, attempts=3).send_message(QueueUrl=cloud.queue_url, MessageBody="x")
    outcomes = [r.outcome for r in proxy.seen(Match(action="SendMessage"))]
    assert outcomes == ["fault 503 ServiceUnavailable", "fault reset", "forwarded 200"]
    with pytest.raises(ClientError, match="InternalError"):
        proxy.fail(Match(service="sqs"), Fault.error(500), times=1)
        client("sqs", proxy).send_message(QueueUrl=cloud.queue_url, MessageBody="x")
    with proxy.outage(), pytest.raises(BotoCoreError):
        client("s3", proxy).list_objects_v2(Bucket=cloud.text_bucket)


def test_truncated_body(cloud: Cloud, proxy: FaultProxy) -> None:
    cloud.put(cloud.text_bucket, "t.txt", b"0123456789" * 100)
    proxy.fail(Match(action="GetObject"), Fault.truncate(0.4), times=1)
    with pytest.raises(BotoCoreError):
        client("s3", proxy).get_object(Bucket=cloud.text_bucket, Key="t.txt")["Body"].read()
    assert proxy.seen()[-1].outcome == "fault truncate 400/1000"


def test_stall_until_released(cloud: Cloud, proxy: FaultProxy) -> None:
    rule = proxy.fail(Match(action="SendMessage"), Fault.stall())
    sent = threading.Thread(
        target=lambda: client("sqs", proxy).send_message(QueueUrl=cloud.queue_url, MessageBody="x")
    )
    sent.start()
    (held,) = proxy.wait_for(Match(action="SendMessage"), answered=False)
    assert not held.done.is_set()
    assert cloud.queue_counts() == (0, 0)  # held in the proxy
    rule.release()
    sent.join(30)
    assert proxy.wait_for(Match(action="SendMessage"))[0].outcome == "forwarded 200"
    assert cloud.queue_counts() == (1, 0)


def test_aws_limits_are_enforced(cloud: Cloud, proxy: FaultProxy) -> None:
    s3, sqs = client("s3", proxy), client("sqs", proxy)
    with pytest.raises(ClientError, match="KeyTooLongError"):
        s3.put_object(Bucket=cloud.output_bucket, Key="א" * 513, Body=b"x")  # 1026 bytes
    s3.put_object(Bucket=cloud.output_bucket, Key="א" * 512, Body=b"x")  # 1024 bytes: fine
    with pytest.raises(ClientError, match="InvalidMessageContents"):
        sqs.send_message(QueueUrl=cloud.queue_url, MessageBody="bad \x01 char")
    with pytest.raises(ClientError, match="InvalidParameterValue"):
        sqs.send_message(
            QueueUrl=cloud.queue_url,
            MessageBody="ok",
            MessageAttributes={"error": {"DataType": "String", "StringValue": "bad \uffff"}},
        )
    cloud.sqs.set_queue_attributes(QueueUrl=cloud.queue_url, Attributes={"MaximumMessageSize": "262144"})
    body = "x" * (256 * 1024 - 20)
    with pytest.raises(ClientError, match="shorter than 262144"):
        sqs.send_message(
            QueueUrl=cloud.queue_url,
            MessageBody=body,
            MessageAttributes={"error": {"DataType": "String", "StringValue": "y" * 20}},
        )
    sqs.send_message(QueueUrl=cloud.queue_url, MessageBody=body)
    assert cloud.queue_counts() == (1, 0)
