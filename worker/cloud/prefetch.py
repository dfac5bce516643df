"""The next message, received and fetched while the current one aligns (PREFETCH).

On a GPU the alignment of a 60-minute lecture takes tens of seconds; downloading and decoding the
next lecture's audio would keep the GPU idle for seconds more per message. While the queue loop
handles one message, a `Prefetcher` thread long-polls for the next one and, once it has it:
- holds it with its own heartbeat (visibility extended) from the moment it is received;
- parses it and, unless it is settled without work (malformed, an S3 test event, its last allowed
  receive), fetches its first job's inputs: text, audio downloaded, checked and decoded.
At most one message is held ahead (a decoded 60-minute lecture is ~230 MB of float32). The loop
`collect`s it after the current message and handles it next, with the fetched inputs; whatever
went wrong while fetching ahead is met again at its turn (`Fetcher.prepare`), so its fate is the
one it would have had without prefetching. A held message that never gets its turn (shutdown) is
released by the loop, visible again at once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from worker.cloud.jobs import Fetcher, Inputs
from worker.cloud.messages import MessageError, parse_message
from worker.cloud.queue import Heartbeat, Message, WorkQueue
from worker.cloud.shutdown import Shutdown
from worker.logs import message_context
from worker.settings import Settings

log = logging.getLogger(__name__)

# Long polls ahead are short: a shutdown or the end of the current message waits for the one in
# flight, and the pod's termination grace leaves ~30 s to release messages and exit.
WAIT_SECONDS = 5
RECEIVE_ERROR_PAUSE_SECONDS = 5.0


@dataclass
class Held:
    """A received message whose handling has not started: its heartbeat runs (when received ahead)."""

    message: Message
    heartbeat: Heartbeat | None = None
    inputs: Inputs | None = None  # its first job's, when fetched ahead


class Prefetcher:
    def __init__(self, settings: Settings, queue: WorkQueue, fetcher: Fetcher, shutdown: Shutdown) -> None:
        self._settings, self._queue, self._fetcher, self._shutdown = settings, queue, fetcher, shutdown
        self._done = threading.Event()  # the current message is handled: no new receive
        self._held: Held | None = None
        self._thread = threading.Thread(target=self._run, name="sqs-prefetch", daemon=True)

    def start(self) -> Prefetcher:
        self._thread.start()
        return self

    def collect(self) -> Held | None:
        """The message received ahead, its inputs fetched, or None. Starts no new receive; waits for
        one in flight (at most WAIT_SECONDS: the loop would be polling then anyway) and for a fetch
        under way (a decode stops at once on shutdown, a download does not)."""
        self._done.set()
        self._thread.join()
        return self._held

    def _stopped(self) -> bool:
        return self._done.is_set() or self._shutdown.requested.is_set()

    def _run(self) -> None:
        message, wait = None, min(WAIT_SECONDS, self._settings.wait_time_seconds)
        while message is None and not self._stopped():
            log.debug("polling %s ahead for up to %d s", self._queue.url, wait)
            try:
                message = self._queue.receive(wait)
            except (ClientError, BotoCoreError) as error:
                log.warning("receiving ahead from %s failed: %s", self._queue.url, error)
                self._done.wait(RECEIVE_ERROR_PAUSE_SECONDS)
                continue
            if message is None and wait == 0:  # WAIT_TIME_SECONDS=0: short polls, not a busy loop
                self._done.wait(1.0)
        if message is None:
            return
        heartbeat = Heartbeat(self._queue, message, self._settings.heartbeat_seconds).start()
        self._held = Held(message, heartbeat)
        with message_context(message.message_id, message.receive_count):
            log.info(
                "message %s (receive #%d) received ahead: held until its turn",
                message.message_id,
                message.receive_count,
            )
            if self._shutdown.requested.is_set():
                return
            try:
                self._held.inputs = self._fetch(message)
            except Exception:  # a bug of ours: the message is still held, and fetched at its turn
                log.exception("message %s: fetching ahead failed unexpectedly", message.message_id)

    def _fetch(self, message: Message) -> Inputs | None:
        try:
            jobs = parse_message(message.body, self._settings)
        except MessageError:
            return None  # settled at its turn, without work
        limit = self._queue.max_receive_count()
        if not jobs or (limit and message.receive_count >= limit > 1):
            return None  # deleted, or dead-lettered before any work starts, at its turn
        return self._fetcher.prepare(jobs[0], self._shutdown.requested)
