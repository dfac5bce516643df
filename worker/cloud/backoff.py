"""Which AWS errors are worth retrying, and retrying them past botocore's own attempts.

botocore's "standard" retry mode already retries each call a few times within seconds. Settling a
message (its notice, its deletion, its move to the dead-letter queue) must also outlast a longer
outage, so `persist` keeps trying with exponential backoff for SETTLE_PATIENCE_SECONDS while the
heartbeat holds the message. Errors that a retry cannot fix (a refused request, a missing queue)
end it at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)

# Throttling and server-side trouble, as botocore's standard retry mode and S3 name them.
_TRANSIENT_CODES = {
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "SlowDown",
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "BandwidthLimitExceeded",
    "KMSThrottlingException",
    "EC2ThrottledException",
    "TransactionInProgressException",
    "RequestTimeTooSkewed",  # the node's clock: fixed by NTP, not by the input
    "ExpiredToken",  # the pod's web-identity credentials are refreshed by boto3
    "ExpiredTokenException",
}

FIRST_DELAY_SECONDS = 1.0
MAX_DELAY_SECONDS = 30.0


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def is_transient(error: Exception) -> bool:
    """Connection trouble, timeouts, 5xx and throttling: worth another try. Other 4xx: not."""
    if isinstance(error, BotoCoreError):  # connection refused/reset, timeouts, truncated bodies
        return True
    if isinstance(error, ClientError):
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return status >= 500 or status == 429 or error_code(error) in _TRANSIENT_CODES
    return False


def persist(call: Callable[[], object], what: str, patience: float, stop: threading.Event) -> bool:
    """Run `call` until it succeeds (True), a permanent error, `patience` seconds of transient
    errors, or `stop` (False). Never raises an AWS error."""
    delay, waited = FIRST_DELAY_SECONDS, 0.0
    while True:
        try:
            call()
            return True
        except (ClientError, BotoCoreError) as error:
            if not is_transient(error):
                log.error("%s failed for good: %s", what, error)
                return False
            if waited >= patience or stop.is_set():
                log.error("%s still failing after %.0f s, giving up for now: %s", what, waited, error)
                return False
            log.warning("%s failed (%s); trying again in %.0f s", what, error, delay)
            if stop.wait(delay):
                return False
            waited += delay
            delay = min(delay * 2, MAX_DELAY_SECONDS)
