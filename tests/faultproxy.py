"""A fault-injecting HTTP proxy between the worker's boto3 clients and the moto server.

The worker reaches it through AWS_ENDPOINT_URL, so faults happen on the wire, exactly where AWS's
own failures happen: nothing in boto3 or the worker is patched. Each request is recognised as an
S3 or SQS action (`GetObject`, `PutObject`, `SendMessage`, ...), recorded, matched against the
rules the test set, and then either forwarded to moto or failed:

    proxy.fail(Match(action="SendMessage"), Fault.error(500))       # every SendMessage → 500
    proxy.fail(Match(service="s3"), Fault.reset(), times=2)         # the next two S3 calls → RST
    with proxy.outage():                                            # everything resets until exit
        proxy.wait_for(Match(action="ReceiveMessage"), count=3)
    stall = proxy.fail(Match(action="DeleteMessage"), Fault.stall())  # held until stall.release()

It also enforces the AWS limits moto does not check: S3 keys over 1024 bytes (KeyTooLongError),
the SQS message character set (InvalidMessageContents / InvalidParameterValue) and the SQS
message size counting body plus attributes against the queue's MaximumMessageSize (moto counts
only the body).

Tests wait on what the proxy has seen (`wait_for`), never on sleeps.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
from botocore.exceptions import BotoCoreError, ClientError

MAX_S3_KEY_BYTES = 1024
SQS_MAX_MESSAGE_BYTES = 256 * 1024  # when a queue's MaximumMessageSize cannot be read
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html
_SQS_INVALID = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}


@dataclass
class Request:
    """One request as the proxy understood it."""

    service: str  # "s3" or "sqs"
    action: str  # SQS action, or the S3 operation (GetObject, PutObject, HeadObject, ...)
    method: str
    bucket: str | None = None
    key: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)  # the SQS request's JSON
    outcome: str | None = None  # "forwarded 200", "fault reset", "limit KeyTooLongError", ...
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def queue_url(self) -> str | None:
        url = self.payload.get("QueueUrl")
        return str(url) if url else None


@dataclass(frozen=True)
class Match:
    """Which requests a rule (or a wait) is about; every field given must match."""

    service: str | None = None
    action: str | None = None
    bucket: str | None = None
    key_contains: str | None = None
    queue_contains: str | None = None  # a substring of the SQS QueueUrl (e.g. the queue's name)
    where: Callable[[Request], bool] | None = None

    def __call__(self, request: Request) -> bool:
        return (
            (self.service is None or request.service == self.service)
            and (self.action is None or request.action == self.action)
            and (self.bucket is None or request.bucket == self.bucket)
            and (self.key_contains is None or self.key_contains in (request.key or ""))
            and (self.queue_contains is None or self.queue_contains in (request.queue_url or ""))
            and (self.where is None or self.where(request))
        )


ANY = Match()


@dataclass(frozen=True)
class Fault:
    kind: str  # status | reset | truncate | stall
    http_status: int = 500
    code: str = "InternalError"
    fraction: float = 0.5  # truncate: share of the body sent before closing
    seconds: float | None = None  # stall: at most this long (None: until released)

    @staticmethod
    def error(status: int = 500, code: str | None = None) -> Fault:
        """An error response in the service's wire format (5xx: botocore retries it)."""
        default = {500: "InternalError", 503: "ServiceUnavailable", 429: "ThrottlingException"}
        return Fault("status", http_status=status, code=code or default.get(status, "InternalError"))

    @staticmethod
    def reset() -> Fault:
        """The connection is reset (RST) after the request is read: no response at all."""
        return Fault("reset")

    @staticmethod
    def truncate(fraction: float = 0.5) -> Fault:
        """The real response, its full Content-Length announced, cut after `fraction` of the body."""
        return Fault("truncate", fraction=fraction)

    @staticmethod
    def stall(seconds: float | None = None) -> Fault:
        """The request is held (then forwarded) until the rule is released or `seconds` pass."""
        return Fault("stall", seconds=seconds)


class Rule:
    def __init__(
        self,
        match: Match,
        fault: Fault,
        times: int | None,
        seconds: float | None,
        probability: float,
        after: Match | None,
    ) -> None:
        self.match, self.fault, self.probability, self.after = match, fault, probability, after
        self.remaining = times
        self.until = None if seconds is None else time.monotonic() + seconds
        self.released = threading.Event()
        self.hits = 0

    def active(self) -> bool:
        if self.released.is_set() or self.remaining == 0:
            return False
        return self.until is None or time.monotonic() < self.until

    def release(self) -> None:
        """End the rule; stalled requests go on to moto."""
        self.released.set()


class _Dropped(Exception):
    """The connection was dropped on purpose."""


class FaultProxy:
    def __init__(self, upstream: str, seed: int = 0) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._rules: list[Rule] = []
        self._lock = threading.Condition()
        self._random = random.Random(seed)
        self.requests: list[Request] = []
        self.sqs_max_message_bytes: int | None = None  # None: each queue's own MaximumMessageSize
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fault-proxy", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.clear()
        self._server.shutdown()
        self._server.server_close()

    # --- rules ---

    def fail(
        self,
        match: Match,
        fault: Fault,
        *,
        times: int | None = None,
        seconds: float | None = None,
        probability: float = 1.0,
        after: Match | None = None,
    ) -> Rule:
        """Inject `fault` into matching requests: the next `times` of them (None: all), for
        `seconds` (None: until released), each with `probability` (seeded, so runs repeat), once a
        request matching `after` has been answered (None: at once)."""
        rule = Rule(match, fault, times, seconds, probability, after)
        with self._lock:
            self._rules.append(rule)
        return rule

    @contextmanager
    def outage(self, match: Match = ANY, after: Match | None = None) -> Iterator[Rule]:
        """Every matching connection (after one matching `after`) is reset until the block ends."""
        rule = self.fail(match, Fault.reset(), after=after)
        try:
            yield rule
        finally:
            rule.release()

    def clear(self) -> None:
        with self._lock:
            for rule in self._rules:
                rule.release()
            self._rules.clear()

    def _pick(self, request: Request) -> Rule | None:
        with self._lock:
            for rule in self._rules:
                if not (rule.active() and rule.match(request)):
                    continue
                if rule.after is not None and not any(
                    rule.after(r) and r.done.is_set() for r in self.requests
                ):
                    continue
                if self._random.random() < rule.probability:
                    rule.hits += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule
        return None

    # --- what was seen ---

    def seen(self, match: Match = ANY) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if match(r)]

    def wait_for(
        self, match: Match, count: int = 1, timeout: float = 120, answered: bool = True
    ) -> list[Request]:
        """Block until `count` matching requests have arrived and (with `answered`) been decided:
        forwarded to moto and being answered, or failed; those requests."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [r for r in self.requests if match(r) and (r.done.is_set() or not answered)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    actions = [f"{r.action} {r.outcome}" for r in self.requests[-15:]]
                    raise AssertionError(f"proxy saw {len(found)}/{count} matching requests; last: {actions}")
                self._lock.wait(left)

    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()

    def _finish(self, request: Request, outcome: str) -> None:
        with self._lock:
            request.outcome = outcome
            request.done.set()
            self._lock.notify_all()

    # --- AWS limits moto does not enforce ---

    def _limit(self, request: Request) -> tuple[int, str, str] | None:
        if request.key is not None and len(request.key.encode()) > MAX_S3_KEY_BYTES:
            return 400, "KeyTooLongError", "Your key is too long"
        if request.action == "SendMessage":
            body = str(request.payload.get("MessageBody", ""))
            if _SQS_INVALID.search(body):
                return 400, "InvalidMessageContents", "Invalid characters found in the message body"
            size = len(body.encode("utf-8", "surrogatepass"))
            for name, attribute in (request.payload.get("MessageAttributes") or {}).items():
                value = str(attribute.get("StringValue", ""))
                if _SQS_INVALID.search(value):
                    return 400, "InvalidParameterValue", f"Message attribute {name} has invalid characters"
                size += len(name.encode()) + len(str(attribute.get("DataType", "")).encode())
                size += len(value.encode("utf-8", "surrogatepass"))
            limit = self._max_message_bytes(request.queue_url)
            if size > limit:
                return (
                    400,
                    "InvalidParameterValue",
                    "One or more parameters are invalid. "
                    f"Reason: Message must be shorter than {limit} bytes.",
                )
        return None

    def _max_message_bytes(self, queue_url: str | None) -> int:
        """The queue's MaximumMessageSize as moto holds it (moto checks only the body against it)."""
        if self.sqs_max_message_bytes is not None or not queue_url:
            return self.sqs_max_message_bytes or SQS_MAX_MESSAGE_BYTES
        host, port = self._upstream
        sqs = boto3.client(
            "sqs",
            endpoint_url=f"http://{host}:{port}",
            region_name="us-east-1",
            aws_access_key_id="proxy",
            aws_secret_access_key="proxy",
        )
        try:
            found = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["MaximumMessageSize"])
            return int(found["Attributes"]["MaximumMessageSize"])
        except (BotoCoreError, ClientError, KeyError, ValueError):
            return SQS_MAX_MESSAGE_BYTES

    # --- the HTTP side ---

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def handle(self) -> None:
                self.close_connection = True
                try:
                    self.handle_one_request()
                    while not self.close_connection:
                        self.handle_one_request()
                except (_Dropped, OSError, ValueError):
                    self.close_connection = True

            def finish(self) -> None:
                with suppress(OSError, ValueError):
                    super().finish()

            def do_GET(self) -> None:
                proxy._serve(self)

            do_PUT = do_POST = do_HEAD = do_DELETE = do_GET

        return Handler

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        body = _read_body(handler)
        request = _describe(handler, body)
        self._record(request)
        try:
            rule = self._pick(request)
            fault = rule.fault if rule else None
            if fault is not None and fault.kind == "stall":
                assert rule is not None
                rule.released.wait(fault.seconds)
                fault = None
            if fault is not None and fault.kind == "reset":
                self._finish(request, "fault reset")
                _reset(handler)
                raise _Dropped
            if fault is not None and fault.kind == "status":
                self._finish(request, f"fault {fault.http_status} {fault.code}")
                _error(handler, request, fault.http_status, fault.code, "injected by the fault proxy")
                return
            if limit := self._limit(request):
                self._finish(request, f"limit {limit[1]}")
                _error(handler, request, *limit)
                return
            status, headers, payload = self._forward(handler, body)
            if fault is not None and fault.kind == "truncate":
                cut = int(len(payload) * fault.fraction)
                self._finish(request, f"fault truncate {cut}/{len(payload)}")
                _respond(handler, status, headers, payload[:cut], length=len(payload))
                handler.wfile.flush()
                handler.connection.shutdown(socket.SHUT_RDWR)
                raise _Dropped
            self._finish(request, f"forwarded {status}")
            _respond(handler, status, headers, payload)
        finally:
            if not request.done.is_set():
                self._finish(request, "dropped")

    def _forward(
        self, handler: BaseHTTPRequestHandler, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(*self._upstream, timeout=120)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP}
            headers["Content-Length"] = str(len(body))
            connection.request(handler.command, handler.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
            return response.status, kept, payload
        finally:
            connection.close()


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _describe(handler: BaseHTTPRequestHandler, body: bytes) -> Request:
    target = handler.headers.get("X-Amz-Target", "")
    if target.startswith("AmazonSQS."):
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = {}
        return Request("sqs", target.split(".", 1)[1], handler.command, payload=payload)
    path = urlsplit(handler.path)
    bucket, _, key = unquote(path.path).lstrip("/").partition("/")
    method = handler.command
    if key:
        copy = "x-amz-copy-source" in {k.lower() for k in handler.headers}
        action = {
            "GET": "GetObject",
            "HEAD": "HeadObject",
            "PUT": "CopyObject" if copy else "PutObject",
            "DELETE": "DeleteObject",
        }.get(method, f"{method}Object")
        return Request("s3", action, method, bucket=bucket, key=key)
    action = {"GET": "ListObjects", "HEAD": "HeadBucket", "PUT": "CreateBucket"}.get(
        method, f"{method}Bucket"
    )
    return Request("s3", action, method, bucket=bucket or None)


def _respond(
    handler: BaseHTTPRequestHandler,
    status: int,
    headers: list[tuple[str, str]],
    payload: bytes,
    length: int | None = None,
) -> None:
    handler.send_response(status)
    for name, value in headers:
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(payload) if length is None else length))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(payload)


def _error(handler: BaseHTTPRequestHandler, request: Request, status: int, code: str, message: str) -> None:
    """An error in the service's own wire format, as botocore parses it."""
    if request.service == "sqs":
        sender = "Sender" if status < 500 else "Receiver"
        document = {"__type": f"com.amazonaws.sqs#{code}", "message": message}
        headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-query-error", f"{code};{sender}")]
        _respond(handler, status, headers, json.dumps(document).encode())
    else:
        xml = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>{os.urandom(8).hex()}</RequestId></Error>"
        )
        _respond(handler, status, [("Content-Type", "application/xml")], xml.encode())


def _reset(handler: BaseHTTPRequestHandler) -> None:
    """Close with SO_LINGER 0: the kernel sends RST, the client sees 'connection reset by peer'."""
    connection = handler.connection
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    os.close(connection.detach())
