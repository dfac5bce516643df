"""The queue loop: receive → heartbeat while the job runs → notice → delete (or let go).

Every message ends in exactly one fate:
- succeeded: outputs published, success notice sent, then the message deleted;
- dead-lettered: failure notice sent, then the message moved at once to the dead-letter queue of the
  work queue's redrive policy, its error as the `error` attribute (bad input, or retries spent).
  Without a redrive policy it is hidden for FAILED_RETRY_DELAY_SECONDS instead;
- retrying: a transient failure (AWS trouble): failure notice with `error_kind: transient`, then
  hidden with exponential backoff and received again;
- released: shutdown stopped the job before publishing: visible again at once for another worker.
A success notice is never lost: the notice, the deletion and the dead-letter move are retried
through an AWS outage for SETTLE_PATIENCE_SECONDS while the heartbeat holds the message; if the
outage outlasts that, the message is retried later and republishes the same outputs (deterministic
keys) before its notice is sent again. No AWS error escapes a message's handling.

The last allowed receive (ApproximateReceiveCount = the redrive policy's maxReceiveCount) is kept
for messages whose earlier receives crashed, OOM-killed or timed out a worker: such a message gets
its failure notice and dead-letter move before any work starts, instead of a silent redrive by
SQS. So the worker itself never lets a message reach that receive: a transient failure on the
receive before it is final (dead-lettered), and a message released by shutdown or kept by an
outage there is sent again as a fresh copy. Transient failures get maxReceiveCount - 1 attempts.

Drain mode (how a ScaledJob pod ends): exit after MAX_MESSAGES messages or IDLE_TIMEOUT_SECONDS
without one; the exit status is 1 when any handled message ended dead-lettered or retrying.

PREFETCH (worker.cloud.prefetch): while a message is handled, the next one is received (never more
than MAX_MESSAGES in all), held with its heartbeat and its inputs fetched; it is handled next, or
released (visible again at once, as a fresh copy on the receive before the last) when the loop
stops first (shutdown).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import StrEnum
from functools import partial

from botocore.exceptions import BotoCoreError, ClientError

from worker.cloud.backoff import persist
from worker.cloud.jobs import Cancelled, Inputs, JobRunner, Outcome
from worker.cloud.messages import AlignmentJob, CompletionNotice, MessageError, parse_message
from worker.cloud.prefetch import Held, Prefetcher
from worker.cloud.queue import Heartbeat, Message, Notifier, WorkQueue
from worker.cloud.shutdown import Shutdown
from worker.logs import message_context
from worker.settings import Settings

log = logging.getLogger(__name__)

TRANSIENT_BASE_DELAY_SECONDS = 30
TRANSIENT_MAX_DELAY_SECONDS = 15 * 60
RECEIVE_ERROR_FIRST_PAUSE_SECONDS = 1.0
RECEIVE_ERROR_MAX_PAUSE_SECONDS = 60.0


class Fate(StrEnum):
    SUCCEEDED = "succeeded"
    DEAD_LETTERED = "dead-lettered"
    RETRYING = "retrying"
    RELEASED = "released"
    NOTHING_TO_DO = "nothing to do"  # an S3 test event: deleted

    @property
    def failed(self) -> bool:
        return self in {Fate.DEAD_LETTERED, Fate.RETRYING}


class QueueWorker:
    def __init__(
        self, settings: Settings, queue: WorkQueue, notifier: Notifier, runner: JobRunner, shutdown: Shutdown
    ) -> None:
        self._settings, self._queue, self._notifier = settings, queue, notifier
        self._runner, self._shutdown = runner, shutdown

    def run(self, ahead: Prefetcher | None = None) -> int:
        """Process messages until drained or told to stop; the process's exit status. `ahead`: a
        Prefetcher started before the loop (while the model loaded), collected first."""
        settings, handled, failed = self._settings, 0, 0
        drain = bool(settings.max_messages or settings.idle_timeout_seconds)
        received = 0  # never more than MAX_MESSAGES, those received ahead included
        held: Held | None = None  # received ahead, not started
        try:
            if ahead is not None:
                held = ahead.collect()
                received += held is not None
            idle_since = time.monotonic()
            pause = RECEIVE_ERROR_FIRST_PAUSE_SECONDS
            while not self._shutdown.requested.is_set():
                if settings.max_messages and handled >= settings.max_messages:
                    log.info("handled %d message(s) (MAX_MESSAGES): exiting", handled)
                    break
                if held is None:
                    idle = time.monotonic() - idle_since
                    if settings.idle_timeout_seconds and idle >= settings.idle_timeout_seconds:
                        log.info("queue empty for %.0f s (IDLE_TIMEOUT_SECONDS): exiting", idle)
                        break
                    wait = settings.wait_time_seconds
                    if settings.idle_timeout_seconds:
                        wait = min(wait, max(1, round(settings.idle_timeout_seconds - idle)))
                    log.debug("polling %s for up to %d s", self._queue.url, wait)
                    try:
                        message = self._queue.receive(wait)
                    except (ClientError, BotoCoreError) as error:  # botocore already retried with backoff
                        log.warning(
                            "receiving from %s failed: %s; again in %.0f s", self._queue.url, error, pause
                        )
                        self._shutdown.requested.wait(pause)
                        pause = min(pause * 2, RECEIVE_ERROR_MAX_PAUSE_SECONDS)
                        continue
                    pause = RECEIVE_ERROR_FIRST_PAUSE_SECONDS
                    if message is None:
                        continue
                    received += 1
                    held = Held(message)
                current, held = held, None
                ahead = None
                if settings.prefetch and not (settings.max_messages and received >= settings.max_messages):
                    ahead = Prefetcher(settings, self._queue, self._runner.fetcher, self._shutdown).start()
                try:
                    fate = self._handle(current.message, current.heartbeat, current.inputs)
                finally:
                    handled_at = time.monotonic()
                    if ahead is not None:
                        held = ahead.collect()
                        received += held is not None
                del current  # its decoded audio
                handled += 1
                failed += fate.failed
                idle_since = handled_at
        finally:
            if held is not None:
                self._release_unstarted(held)
        if drain and failed:
            log.warning("%d of %d message(s) failed: exiting 1", failed, handled)
            return 1
        return 0

    def _release_unstarted(self, held: Held) -> None:
        release_unstarted(self._queue, held, self._settings, self._shutdown)

    def _handle(
        self, message: Message, heartbeat: Heartbeat | None = None, inputs: Inputs | None = None
    ) -> Fate:
        """`heartbeat`: already beating for a message received ahead; `inputs`: its first job's."""
        with message_context(message.message_id, message.receive_count):
            log.info("message %s (receive #%d)", message.message_id, message.receive_count)
            started = time.monotonic()
            try:
                fate = self._settle(
                    message,
                    heartbeat or Heartbeat(self._queue, message, self._settings.heartbeat_seconds),
                    inputs,
                )
            except Exception:  # a bug of ours: keep the loop alive, let the message come back later
                log.exception("message %s: unexpected error while handling it", message.message_id)
                self._persist(lambda: self._queue.hide_for(message, self._backoff(message)), "hiding")
                fate = Fate.RETRYING
            log.info(
                "message %s: %s",
                message.message_id,
                fate,
                extra={"fate": str(fate), "message_seconds": round(time.monotonic() - started, 3)},
            )
            return fate

    def _settle(self, message: Message, beating: Heartbeat, inputs: Inputs | None) -> Fate:
        with beating as heartbeat:
            try:
                jobs = parse_message(message.body, self._settings)
            except MessageError as error:
                log.error("message %s rejected: %s", message.message_id, error)
                notice = CompletionNotice(
                    status="failed", audio_key=None, text_key=None, error=str(error), error_kind="permanent"
                )
                return self._dead_letter(message, heartbeat, [notice], str(error))
            if not jobs:
                heartbeat.stop()
                self._persist(lambda: self._queue.delete(message), "deleting")
                return Fate.NOTHING_TO_DO
            limit = self._queue.max_receive_count()
            if limit and message.receive_count >= limit > 1:
                earlier = message.receive_count - 1
                reason = f"crashed or timed out the worker on {earlier} earlier receive{'s' * (earlier > 1)}"
                log.error("message %s: %s; not trying again", message.message_id, reason)
                notices = [self._failure(job, reason, message.receive_count) for job in jobs]
                return self._dead_letter(message, heartbeat, notices, reason)
            try:
                outcomes = [
                    self._runner.run(job, self._shutdown.cancel, inputs if i == 0 else None)
                    for i, job in enumerate(jobs)
                ]
            except Cancelled as stopped:
                log.warning("message %s released unfinished (%s)", message.message_id, stopped)
                heartbeat.stop()
                self._again(message, 0, limit)
                return Fate.RELEASED
            return self._conclude(message, heartbeat, outcomes, limit)

    def _conclude(
        self, message: Message, heartbeat: Heartbeat, outcomes: list[Outcome], limit: int | None
    ) -> Fate:
        notices = [o.notice.model_copy(update={"attempt": message.receive_count}) for o in outcomes]
        if any(o.transient for o in outcomes):
            errors = "; ".join(n.error or "failed" for n in notices if n.status == "failed")
            if limit and message.receive_count + 1 >= limit:  # the next receive is kept for crashes
                reason = f"gave up after {message.receive_count} attempts: {errors}"
                return self._dead_letter(message, heartbeat, notices, reason)
            self._send(notices)  # informational: the message is retried whether or not it arrives
            heartbeat.stop()
            self._persist(lambda: self._queue.hide_for(message, self._backoff(message)), "hiding")
            return Fate.RETRYING
        if failed := [n.error or "failed" for n in notices if n.status == "failed"]:
            return self._dead_letter(message, heartbeat, notices, "; ".join(failed))
        if not self._send(notices):
            # Published, but the notice cannot be sent: do the message again later (the same outputs).
            heartbeat.stop()
            self._again(message, self._backoff(message), limit)
            return Fate.RETRYING
        heartbeat.stop()
        self._persist(lambda: self._queue.delete(message), "deleting")  # if not: done again, same outputs
        return Fate.SUCCEEDED

    def _dead_letter(
        self, message: Message, heartbeat: Heartbeat, notices: list[CompletionNotice], reason: str
    ) -> Fate:
        """Failure notice first, then the move: never a dead letter whose notice was lost."""
        if not self._send(notices):
            heartbeat.stop()
            self._persist(lambda: self._queue.hide_for(message, self._backoff(message)), "hiding")
            return Fate.RETRYING
        if not self._persist(self._queue.dead_letter_url, "reading the redrive policy"):
            heartbeat.stop()
            self._persist(lambda: self._queue.hide_for(message, self._backoff(message)), "hiding")
            return Fate.DEAD_LETTERED
        if self._queue.dead_letter_url() is None:
            heartbeat.stop()
            delay = self._settings.failed_retry_delay_seconds
            self._persist(lambda: self._queue.hide_for(message, delay), "hiding")
            return Fate.DEAD_LETTERED
        moved = self._persist(lambda: self._queue.send_to_dead_letter(message, reason), "dead-lettering")
        heartbeat.stop()
        if moved and self._persist(lambda: self._queue.delete(message), "deleting"):
            log.warning("message %s moved to the dead-letter queue", message.message_id)
        elif not moved:
            self._persist(lambda: self._queue.hide_for(message, self._backoff(message)), "hiding")
        return Fate.DEAD_LETTERED

    def _again(self, message: Message, delay: int, limit: int | None) -> None:
        let_go(self._queue, message, delay, limit, self._persist)

    def _send(self, notices: list[CompletionNotice]) -> bool:
        for notice in notices:
            if not self._persist(partial(self._notifier.send_notice, notice), "sending the notice"):
                return False
        return True

    def _persist(self, call: Callable[[], object], what: str) -> bool:
        return persist(call, what, self._settings.settle_patience_seconds, self._shutdown.cancel)

    @staticmethod
    def _failure(job: AlignmentJob, reason: str, attempt: int) -> CompletionNotice:
        return CompletionNotice(
            status="failed",
            audio_key=job.audio_key,
            text_key=job.text_key,
            id=job.id,
            error=reason,
            error_kind="permanent",
            attempt=attempt,
        )

    @staticmethod
    def _backoff(message: Message) -> int:
        exponent = min(max(0, message.receive_count - 1), 10)
        return min(TRANSIENT_BASE_DELAY_SECONDS << exponent, TRANSIENT_MAX_DELAY_SECONDS)


def let_go(
    queue: WorkQueue,
    message: Message,
    delay: int,
    limit: int | None,
    keep: Callable[[Callable[[], object], str], bool],
) -> None:
    """Let the message be received again after `delay` s; as a fresh copy when the next receive
    would be the last allowed one (kept for detecting crashes). `keep`: retries a call (persist)."""
    near_the_limit = bool(limit and message.receive_count + 1 >= limit)
    if near_the_limit and keep(lambda: queue.requeue(message), "requeueing"):
        keep(lambda: queue.delete(message), "deleting the original")
        return
    keep(lambda: queue.hide_for(message, delay), "releasing")


def release_unstarted(queue: WorkQueue, held: Held, settings: Settings, shutdown: Shutdown) -> None:
    """A message received ahead whose turn never came (shutdown, or the model failed to load):
    visible again at once for another worker."""
    message = held.message

    def keep(call: Callable[[], object], what: str) -> bool:
        return persist(call, what, settings.settle_patience_seconds, shutdown.cancel)

    with message_context(message.message_id, message.receive_count):
        if held.heartbeat is not None:
            held.heartbeat.stop()
        let_go(queue, message, 0, queue.max_receive_count(), keep)
        log.warning(
            "message %s released unstarted (received ahead; the worker is stopping)", message.message_id
        )
        log.info("message %s: %s", message.message_id, Fate.RELEASED, extra={"fate": str(Fate.RELEASED)})
