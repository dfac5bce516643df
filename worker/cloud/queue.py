"""SQS: receiving work, keeping it while we hold it, and letting it go.

A short visibility timeout plus a heartbeat beats one huge timeout: if the pod dies, the message is
visible again within VISIBILITY_TIMEOUT_SECONDS, not after the length of a lecture.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from worker.settings import MAX_VISIBILITY_TIMEOUT_SECONDS

log = logging.getLogger(__name__)

MAX_REASON_CHARS = 1000


@dataclass(frozen=True)
class Message:
    body: str
    receipt_handle: str
    message_id: str
    receive_count: int


class WorkQueue:
    def __init__(self, sqs: Any, url: str, wait_seconds: int, visibility_seconds: int) -> None:
        self._sqs = sqs
        self.url = url
        self._wait = wait_seconds
        self.visibility_seconds = visibility_seconds
        self._dead_letter: tuple[str | None] | None = None  # (url or None,) once looked up

    def dead_letter_url(self) -> str | None:
        """The target of the work queue's redrive policy, or None when it has none (looked up once)."""
        if self._dead_letter is None:
            try:
                attributes = self._sqs.get_queue_attributes(
                    QueueUrl=self.url, AttributeNames=["RedrivePolicy"]
                )
            except (ClientError, BotoCoreError) as error:  # e.g. no sqs:GetQueueAttributes: ask again later
                log.warning("cannot read the redrive policy of %s: %s", self.url, error)
                return None
            policy = attributes.get("Attributes", {}).get("RedrivePolicy")
            url = None
            if policy:
                # arn:aws:sqs:<region>:<account>:<name>
                *_, account, name = json.loads(policy)["deadLetterTargetArn"].split(":")
                url = str(self._sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"])
            self._dead_letter = (url,)
        return self._dead_letter[0]

    def receive(self, wait_seconds: int | None = None) -> Message | None:
        """One message, long-polling up to `wait_seconds` (default WAIT_TIME_SECONDS)."""
        response = self._sqs.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=1,
            WaitTimeSeconds=self._wait if wait_seconds is None else wait_seconds,
            VisibilityTimeout=self.visibility_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        for raw in response.get("Messages", []):
            return Message(
                body=raw["Body"],
                receipt_handle=raw["ReceiptHandle"],
                message_id=raw["MessageId"],
                receive_count=int(raw.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
            )
        return None

    def delete(self, message: Message) -> None:
        self._sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message.receipt_handle)

    def dead_letter(self, message: Message, reason: str) -> bool:
        """Move a message that can never succeed to the dead-letter queue now (the reason as an
        attribute), rather than receiving it again maxReceiveCount times; False without one."""
        target = self.dead_letter_url()
        if target is None:
            return False
        attribute = {"DataType": "String", "StringValue": reason[:MAX_REASON_CHARS]}
        self._sqs.send_message(
            QueueUrl=target, MessageBody=message.body, MessageAttributes={"error": attribute}
        )
        self.delete(message)
        return True

    def hide_for(self, message: Message, seconds: int) -> None:
        """Make the message visible again after `seconds` (0 = at once, for another worker)."""
        self._sqs.change_message_visibility(
            QueueUrl=self.url,
            ReceiptHandle=message.receipt_handle,
            VisibilityTimeout=max(0, min(seconds, MAX_VISIBILITY_TIMEOUT_SECONDS)),
        )


class Heartbeat:
    """While open, keeps extending the message's visibility every `interval` seconds."""

    def __init__(self, queue: WorkQueue, message: Message, interval: float) -> None:
        self._queue, self._message, self._interval = queue, message, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="sqs-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._queue.hide_for(self._message, self._queue.visibility_seconds)
            except (ClientError, BotoCoreError) as error:
                # Keep working: the next beat may succeed; at worst another worker repeats the job.
                log.warning("heartbeat for message %s failed: %s", self._message.message_id, error)


class Notifier:
    """Posts completion notices to SQS_FINAL_QUEUE_URL; does nothing when it is unset."""

    def __init__(self, sqs: Any, url: str | None) -> None:
        self._sqs, self.url = sqs, url

    def send(self, body: str) -> None:
        if self.url:
            self._sqs.send_message(QueueUrl=self.url, MessageBody=body)
