"""The queue loop: receive → heartbeat while the job runs → notice → delete (or let go).

Message fate, by outcome:
- succeeded: outputs uploaded, notice sent, then the message is deleted;
- failed, permanent (bad input): failure notice, then the message moves at once to the dead-letter
  queue named by the work queue's redrive policy, with the error as its `error` attribute, where it
  waits for a person (no spinning, nothing lost; an in-flight message would also keep KEDA starting
  Jobs for it). Without a redrive policy it is hidden for FAILED_RETRY_DELAY_SECONDS instead;
- failed, transient (AWS trouble): hidden with exponential backoff and retried; after the queue's
  maxReceiveCount receives SQS's redrive policy moves it to the dead-letter queue;
- cancelled by shutdown: released at once (visibility 0) for another worker; nothing published.
Drain mode (how a ScaledJob pod ends): exit after MAX_MESSAGES messages or IDLE_TIMEOUT_SECONDS
without one.
"""

from __future__ import annotations

import logging
import time

from botocore.exceptions import BotoCoreError, ClientError

from worker.cloud.jobs import Cancelled, JobRunner, Outcome
from worker.cloud.messages import CompletionNotice, MessageError, parse_message
from worker.cloud.queue import Heartbeat, Message, Notifier, WorkQueue
from worker.cloud.shutdown import Shutdown
from worker.settings import Settings

log = logging.getLogger(__name__)

TRANSIENT_BASE_DELAY_SECONDS = 30
TRANSIENT_MAX_DELAY_SECONDS = 15 * 60
RECEIVE_ERROR_PAUSE_SECONDS = 5


class QueueWorker:
    def __init__(
        self, settings: Settings, queue: WorkQueue, notifier: Notifier, runner: JobRunner, shutdown: Shutdown
    ) -> None:
        self._settings, self._queue, self._notifier = settings, queue, notifier
        self._runner, self._shutdown = runner, shutdown

    def run(self) -> int:
        """Process messages until drained or told to stop; the process's exit status."""
        settings, handled = self._settings, 0
        idle_since = time.monotonic()
        while not self._shutdown.requested.is_set():
            if settings.max_messages and handled >= settings.max_messages:
                log.info("handled %d message(s) (MAX_MESSAGES): exiting", handled)
                break
            idle = time.monotonic() - idle_since
            if settings.idle_timeout_seconds and idle >= settings.idle_timeout_seconds:
                log.info("queue empty for %.0f s (IDLE_TIMEOUT_SECONDS): exiting", idle)
                break
            wait = settings.wait_time_seconds
            if settings.idle_timeout_seconds:
                wait = min(wait, max(1, round(settings.idle_timeout_seconds - idle)))
            try:
                message = self._queue.receive(wait)
            except (ClientError, BotoCoreError) as error:  # botocore already retried with backoff
                log.warning("receiving from %s failed: %s", self._queue.url, error)
                self._shutdown.requested.wait(RECEIVE_ERROR_PAUSE_SECONDS)
                continue
            if message is None:
                continue
            self._handle(message)
            handled += 1
            idle_since = time.monotonic()
        return 0

    def _handle(self, message: Message) -> None:
        log.info("message %s (receive #%d)", message.message_id, message.receive_count)
        try:
            jobs = parse_message(message.body, self._settings)
        except MessageError as error:
            log.error("message %s rejected: %s", message.message_id, error)
            notice = CompletionNotice(
                status="failed",
                audio_key=None,
                text_key=None,
                error=str(error),
                error_kind="permanent",
                attempt=message.receive_count,
            )
            self._notifier.send(notice.model_dump_json())
            self._give_up(message, str(error))
            return
        outcomes: list[Outcome] = []
        try:
            with Heartbeat(self._queue, message, self._settings.heartbeat_seconds):
                for job in jobs:
                    outcomes.append(self._runner.run(job, self._shutdown.cancel))
        except Cancelled as stopped:
            log.warning("message %s released unfinished (%s)", message.message_id, stopped)
            self._queue.hide_for(message, 0)
            return
        for outcome in outcomes:
            notice = outcome.notice.model_copy(update={"attempt": message.receive_count})
            self._notifier.send(notice.model_dump_json())
        if any(o.transient for o in outcomes):
            delay = min(
                TRANSIENT_BASE_DELAY_SECONDS * 2 ** (message.receive_count - 1), TRANSIENT_MAX_DELAY_SECONDS
            )
            self._queue.hide_for(message, delay)
        elif failed := [o.notice.error or "failed" for o in outcomes if o.notice.status == "failed"]:
            self._give_up(message, "; ".join(failed))
        else:
            self._queue.delete(message)

    def _give_up(self, message: Message, reason: str) -> None:
        if self._queue.dead_letter(message, reason):
            log.warning("message %s moved to the dead-letter queue", message.message_id)
        else:
            self._queue.hide_for(message, self._settings.failed_retry_delay_seconds)
