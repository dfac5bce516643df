"""SQS: receiving work, keeping it while we hold it, and letting it go.

A short visibility timeout plus a heartbeat beats one huge timeout: if the pod dies, the message is
visible again within VISIBILITY_TIMEOUT_SECONDS, not after the length of a lecture.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from worker.cloud.messages import CompletionNotice
from worker.settings import MAX_VISIBILITY_TIMEOUT_SECONDS

log = logging.getLogger(__name__)

MAX_REASON_CHARS = 1000  # of the dead-letter `error` attribute
MAX_NOTICE_ERROR_CHARS = 2000
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024  # a queue's MaximumMessageSize when it cannot be read
ERROR_ATTRIBUTE = "error"
# Characters SQS accepts in a message body or attribute value; anything else is refused (400).
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
_NOT_SQS = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def sqs_safe(text: str) -> str:
    """`text` with every character SQS refuses replaced by U+FFFD."""
    return _NOT_SQS.sub("\ufffd", text)


def sqs_safe_json(document: str) -> str:
    """A JSON text with the characters SQS refuses written as \\u escapes (same JSON value)."""
    return _NOT_SQS.sub(lambda m: "".join(f"\\u{ord(c):04x}" for c in m.group()), document)


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True)
class RedrivePolicy:
    dead_letter_url: str
    max_receive_count: int


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
        self._redrive: tuple[RedrivePolicy | None] | None = None  # (policy or None,) once read
        self._dead_letter_limit: int | None = None

    def redrive_policy(self) -> RedrivePolicy | None:
        """The work queue's redrive policy (None without one); raises on AWS errors. Read once."""
        if self._redrive is None:
            attributes = self._sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["RedrivePolicy"])
            policy = attributes.get("Attributes", {}).get("RedrivePolicy")
            found = None
            if policy:
                document = json.loads(policy)
                # arn:aws:sqs:<region>:<account>:<name>
                *_, account, name = document["deadLetterTargetArn"].split(":")
                url = self._sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
                found = RedrivePolicy(str(url), int(document["maxReceiveCount"]))
            self._redrive = (found,)
        return self._redrive[0]

    def max_receive_count(self) -> int | None:
        """maxReceiveCount of the redrive policy; None without one or when it cannot be read now."""
        try:
            policy = self.redrive_policy()
        except (ClientError, BotoCoreError) as error:
            log.warning("cannot read the redrive policy of %s: %s", self.url, error)
            return None
        return policy.max_receive_count if policy else None

    def dead_letter_url(self) -> str | None:
        """The target of the work queue's redrive policy; raises on AWS errors."""
        policy = self.redrive_policy()
        return policy.dead_letter_url if policy else None

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

    def send_to_dead_letter(self, message: Message, reason: str) -> None:
        """Copy a message that can never succeed to the dead-letter queue, its reason as the `error`
        attribute: cleaned to SQS's character set and shortened (or left out) so the copy always fits
        the queue's MaximumMessageSize. Raises on AWS errors; the caller deletes the original."""
        target = self.dead_letter_url()
        if target is None:
            raise LookupError(f"{self.url} has no redrive policy")
        room = self._max_message_bytes(target) - _utf8_size(message.body)
        room -= len(ERROR_ATTRIBUTE) + len("String")
        value = sqs_safe(reason)[:MAX_REASON_CHARS]
        if _utf8_size(value) > room:  # cut at a character boundary within the room left
            value = value.encode()[: max(0, room)].decode("utf-8", "ignore")
        attributes = {ERROR_ATTRIBUTE: {"DataType": "String", "StringValue": value}} if value else {}
        if not value:
            log.warning(
                "message %s is too large to carry its error to the dead-letter queue", message.message_id
            )
        self._sqs.send_message(QueueUrl=target, MessageBody=message.body, MessageAttributes=attributes)

    def requeue(self, message: Message) -> None:
        """Send a fresh copy of the message to the work queue (its receive count starts again)."""
        self._sqs.send_message(QueueUrl=self.url, MessageBody=message.body)

    def _max_message_bytes(self, url: str) -> int:
        if self._dead_letter_limit is None:
            try:
                attributes = self._sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["MaximumMessageSize"]
                )
                self._dead_letter_limit = int(attributes["Attributes"]["MaximumMessageSize"])
            except (ClientError, BotoCoreError, KeyError, ValueError) as error:
                log.warning("cannot read MaximumMessageSize of %s (%s); assuming 256 KiB", url, error)
                return DEFAULT_MAX_MESSAGE_BYTES
        return self._dead_letter_limit

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
        return self.start()

    def start(self) -> Heartbeat:
        """Start beating (once: a heartbeat started ahead, for a message received ahead, carries on)."""
        if self._thread.ident is None and not self._stop.is_set():
            self._thread.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        """No more beats (before the message's visibility is set for good)."""
        self._stop.set()
        if self._thread.is_alive():
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
        """Post a JSON notice; characters SQS refuses are sent as JSON escapes. Raises on AWS errors."""
        if self.url:
            self._sqs.send_message(QueueUrl=self.url, MessageBody=sqs_safe_json(body))

    def send_notice(self, notice: CompletionNotice) -> None:
        """Post a notice, its error shortened to MAX_NOTICE_ERROR_CHARS so it always fits SQS."""
        if notice.error and len(notice.error) > MAX_NOTICE_ERROR_CHARS:
            notice = notice.model_copy(update={"error": notice.error[: MAX_NOTICE_ERROR_CHARS - 1] + "…"})
        self.send(json.dumps(notice.model_dump(mode="json"), ensure_ascii=False))
