"""kopf glue for AlignmentRun: parse the body, call the pure builders, create what is absent, patch status.

Run as: kopf run --standalone --all-namespaces --liveness=http://0.0.0.0:8080/healthz \
        -m timestamp_operator.handlers

Who writes what in a run's status (one writer per field, so no handler undoes another's work):
- `launch` (create/resume) and `spec_changed`: observedGeneration, startTime, jobName,
  itemsConfigMap, selection; and, before a Job exists, phase/message/conditions (Pending while
  waiting, Failed for an invalid spec, an empty selection or a lost Job).
- `job_changed` (every event of a run's Job): phase, message, counts, progress, failedItems,
  conditions, completionTime, all recomputed from the Job (see progress.py); Failed (JobLost) when
  the Job is deleted under an unfinished run.
No finalizers: children carry owner references, so deleting a run lets the garbage collector
delete its Job, pods and ConfigMap, whether the operator is running or not.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import aiohttp
import boto3
import kopf
from botocore.exceptions import BotoCoreError, ClientError

from timestamp_operator import builders, progress
from timestamp_operator.builders import ITEMS_KEY, JOB_NAME_LABEL, MANAGED_BY, PodTemplateError
from timestamp_operator.kube import ApiError, KubeClient, path
from timestamp_operator.selection import BadAudioKeyTemplate, EmptySelection, resolve_selection
from timestamp_operator.settings import OperatorSettings
from timestamp_operator.spec import (
    API_GROUP,
    API_VERSION,
    KIND,
    PLURAL,
    AlignmentRunSpec,
    InvalidSpec,
    Item,
    Phase,
    SelectionRecord,
    parse_spec,
)

RUN = (API_GROUP, API_VERSION, PLURAL)
RUNS_API = f"apis/{API_GROUP}/{API_VERSION}"
SELECTION_ANNOTATION = f"{API_GROUP}/selection"
TERMINAL = {phase.value for phase in Phase if phase.terminal}


@dataclass(frozen=True)
class Context:
    """What every handler needs, built once at start-up and kept on kopf's memo."""

    config: OperatorSettings
    pod_template: dict[str, Any]
    kube: KubeClient
    s3: Any  # boto3 S3 client, for resolving selections


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- operator lifecycle ---


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    settings.posting.level = logging.WARNING  # handler chatter stays in the log; milestones are explicit
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    config = OperatorSettings()
    try:
        template = builders.load_pod_template(config.worker_pod_template.read_text())
    except (OSError, PodTemplateError) as error:
        raise kopf.PermanentError(f"WORKER_POD_TEMPLATE {config.worker_pod_template}: {error}") from error
    kube = KubeClient(settings)
    await kube.login()
    memo.context = Context(config=config, pod_template=template, kube=kube, s3=boto3.client("s3"))
    logger.info(
        "worker pod template %s loaded; text bucket %s", config.worker_pod_template, config.text_bucket
    )


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    context: Context | None = memo.get("context")
    if context is not None:
        await context.kube.close()


@kopf.on.probe(id="workerImage")
def worker_image(memo: kopf.Memo, **_: Any) -> str | None:
    context: Context = memo.context
    return builders.worker_container(context.pod_template["spec"]).get("image")


# --- launching a run ---


def _ensure_ours(obj: dict[str, Any], run: kopf.Body, patch: kopf.Patch, delay: float) -> None:
    """Never adopt a leftover of an earlier run of the same name (deleted, not yet garbage-collected)."""
    uids = {ref.get("uid") for ref in obj.get("metadata", {}).get("ownerReferences") or ()}
    if run.metadata.uid not in uids:
        kind, name = obj.get("kind", "object"), obj.get("metadata", {}).get("name")
        message = f"{kind} {name} belongs to an earlier {KIND} of this name; waiting for it to be deleted"
        raise _wait(patch, message, delay)


def _fail(patch: kopf.Patch, body: kopf.Body, reason: str, message: str) -> kopf.PermanentError:
    """Record a run that cannot proceed (nothing more will be created) and say why, once."""
    for field, value in progress.rejection(reason, message, now(), body.metadata.get("generation")).items():
        patch.status[field] = value
    kopf.event(body, type="Warning", reason=reason, message=message)
    return kopf.PermanentError(message)


def _lost(job_name: str) -> str:
    return f"Job {job_name} was deleted before the run finished; apply a new AlignmentRun to align again"


def _wait(patch: kopf.Patch, message: str, delay: float) -> kopf.TemporaryError:
    """Say why the run waits (no Job exists yet, so this writer owns the phase) and retry later."""
    patch.status["phase"] = Phase.PENDING.value
    patch.status["message"] = message
    return kopf.TemporaryError(message, delay=delay)


async def _resolve_items(
    context: Context, spec: AlignmentRunSpec, body: kopf.Body, patch: kopf.Patch
) -> tuple[list[Item], SelectionRecord | None]:
    if spec.items is not None:
        return list(spec.items), None
    assert spec.selection is not None  # the spec model guarantees one of the two
    bucket, selection = context.config.text_bucket, spec.selection
    try:
        resolved = await asyncio.to_thread(
            resolve_selection, context.s3, bucket, selection, context.config.audio_key_template
        )
    except (EmptySelection, BadAudioKeyTemplate) as error:
        reason = "EmptySelection" if isinstance(error, EmptySelection) else "BadAudioKeyTemplate"
        raise _fail(patch, body, reason, str(error)) from error
    except (BotoCoreError, ClientError) as error:
        message = f"cannot list s3://{bucket}/{selection.prefix} yet: {error}"
        raise _wait(patch, message, context.config.retry_delay_seconds) from error
    record = SelectionRecord(
        bucket=bucket,
        prefix=selection.prefix,
        pattern=selection.pattern,
        matched=len(resolved.items),
        truncated=resolved.truncated,
        resolved_at=now(),
    )
    more = f" (more matched: only the first {selection.max_items} by key)" if resolved.truncated else ""
    kopf.event(
        body,
        type="Warning" if resolved.truncated else "Normal",
        reason="SelectionResolved",
        message=f"{len(resolved.items)} text files from s3://{bucket}/{selection.prefix}{more}",
    )
    return resolved.items, record


async def _ensure_items(
    context: Context, spec: AlignmentRunSpec, body: kopf.Body, patch: kopf.Patch
) -> tuple[list[Item], SelectionRecord | None]:
    """The run's items as recorded in its ConfigMap; resolved and recorded on the first launch only."""
    namespace, name = body.metadata.namespace or "", body.metadata.name or ""
    configmaps = path("api/v1", namespace, "configmaps")
    configmap = await context.kube.get(f"{configmaps}/{builders.configmap_name(name)}")
    if configmap is None:
        items, record = await _resolve_items(context, spec, body, patch)
        try:
            configmap = builders.build_items_configmap(name, items)
        except builders.TooManyItems as error:
            raise _fail(patch, body, "TooManyItems", str(error)) from error
        if record is not None:
            configmap["metadata"]["annotations"] = {
                SELECTION_ANNOTATION: record.model_dump_json(by_alias=True)
            }
        kopf.adopt(configmap, owner=body)
        try:
            await context.kube.create(configmaps, configmap)
            return items, record
        except ApiError as error:
            if error.transient:
                message = f"cannot create ConfigMap {configmap['metadata']['name']} yet: {error}"
                raise _wait(patch, message, context.config.retry_delay_seconds) from error
            if error.status != 409:
                raise _fail(
                    patch, body, "ItemsRejected", f"the items ConfigMap was rejected: {error}"
                ) from error
            configmap = await context.kube.get(f"{configmaps}/{builders.configmap_name(name)}")
            if configmap is None:
                raise kopf.TemporaryError("items ConfigMap vanished while being created", delay=1) from error
    _ensure_ours(configmap, body, patch, context.config.retry_delay_seconds)
    recorded = (configmap.get("metadata", {}).get("annotations") or {}).get(SELECTION_ANNOTATION)
    record = SelectionRecord.model_validate_json(recorded) if recorded else None
    return builders.parse_items_document(configmap["data"][ITEMS_KEY]), record


@kopf.on.resume(*RUN)
@kopf.on.create(*RUN)
async def launch(
    body: kopf.Body, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """Resolve and record the items, then create the run's Job, each only if absent."""
    context: Context = memo.context
    if status.get("phase") in TERMINAL:
        logger.info("run already finished (%s); nothing to launch", status.get("phase"))
        return
    patch.status["observedGeneration"] = body.metadata.get("generation")
    try:
        spec = parse_spec(body.spec)
    except InvalidSpec as error:
        raise _fail(patch, body, "InvalidSpec", str(error)) from error

    namespace, name = body.metadata.namespace or "", body.metadata.name or ""
    home = context.config.worker_namespace
    if home and namespace != home:
        message = (
            f"AlignmentRuns run in namespace {home!r}, where the worker's ServiceAccount and settings are"
        )
        raise _fail(patch, body, "WrongNamespace", f"{message}; apply it there")
    jobs = path("apis/batch/v1", namespace, "jobs")
    job_name = builders.job_name(name)
    job = await context.kube.get(f"{jobs}/{job_name}")
    if job is None and status.get("jobName"):
        raise _fail(patch, body, "JobLost", _lost(job_name))
    if job is not None:
        _ensure_ours(job, body, patch, context.config.retry_delay_seconds)

    items, record = await _ensure_items(context, spec, body, patch)
    if job is None:
        job = builders.build_job(
            name, spec, len(items), context.pod_template, context.config.backoff_limit_per_index
        )
        kopf.adopt(job, owner=body)
        try:
            await context.kube.create(jobs, job)
        except ApiError as error:
            if error.transient:
                message = f"cannot create Job {job_name} yet: {error}"
                raise _wait(patch, message, context.config.retry_delay_seconds) from error
            if error.status != 409:
                raise _fail(patch, body, "JobRejected", f"Job {job_name} was rejected: {error}") from error
            # Created by an earlier attempt whose outcome was lost: use it if it is ours.
            existing = await context.kube.get(f"{jobs}/{job_name}")
            _ensure_ours(existing or {}, body, patch, context.config.retry_delay_seconds)
        else:
            kopf.event(
                body,
                type="Normal",
                reason="JobCreated",
                message=f"Job {job_name}: {len(items)} items, parallelism {job['spec']['parallelism']}",
            )
    elif changes := builders.job_spec_changes(job, spec):
        await context.kube.patch(f"{jobs}/{job_name}", {"spec": changes})  # edited while we were away

    patch.status["jobName"] = job_name
    patch.status["itemsConfigMap"] = builders.configmap_name(name)
    patch.status["startTime"] = status.get("startTime") or now()
    if record is not None:
        patch.status["selection"] = record.model_dump(mode="json", by_alias=True)


# --- a spec edited after the launch ---

MUTABLE = {("suspend",), ("parallelism",)}  # the Job fields that can follow an edit


@kopf.on.update(*RUN, field="spec")
async def spec_changed(
    body: kopf.Body, diff: kopf.Diff, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    """Only `suspend` and `parallelism` apply to a started run; other edits are reported and ignored."""
    context: Context = memo.context
    patch.status["observedGeneration"] = body.metadata.get("generation")
    if status.get("phase") in TERMINAL:
        kopf.event(
            body,
            type="Warning",
            reason="SpecChangeIgnored",
            message=f"the run has finished ({status['phase']}); apply a new AlignmentRun instead",
        )
        return
    changed = {tuple(change[1]) for change in diff}
    ignored = sorted(".".join(map(str, field)) or "spec" for field in changed if field[:1] not in MUTABLE)
    if ignored:
        kopf.event(
            body,
            type="Warning",
            reason="SpecChangeIgnored",
            message=f"a started run keeps its items and overrides; ignored changes to: {', '.join(ignored)}. "
            "Apply a new AlignmentRun to align with them",
        )
    try:
        spec = parse_spec(body.spec)
    except InvalidSpec as error:
        kopf.event(body, type="Warning", reason="InvalidSpec", message=f"edit ignored: {error}")
        return
    job_name = builders.job_name(body.metadata.name or "")
    job_path = path("apis/batch/v1", body.metadata.namespace or "", "jobs", job_name)
    job = await context.kube.get(job_path)
    if job is not None and (changes := builders.job_spec_changes(job, spec)):
        await context.kube.patch(job_path, {"spec": changes})
        kopf.event(body, type="Normal", reason="JobUpdated", message=f"Job {job_name}: {changes}")


# --- following a run's Job ---


async def _owning_run(context: Context, job: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The run that owns this Job (its API path and body), unless it is gone or going."""
    owner = next(
        (
            ref
            for ref in job.get("metadata", {}).get("ownerReferences") or ()
            if ref.get("kind") == KIND and ref.get("apiVersion") == f"{API_GROUP}/{API_VERSION}"
        ),
        None,
    )
    if owner is None:
        return None
    run_path = path(RUNS_API, job.get("metadata", {}).get("namespace", ""), PLURAL, owner["name"])
    run = await context.kube.get(run_path)
    meta = (run or {}).get("metadata", {})
    if run is None or meta.get("uid") != owner.get("uid") or meta.get("deletionTimestamp"):
        return None  # deleted: the garbage collector takes its Job away
    return run_path, run


async def sync_status(context: Context, job: dict[str, Any], logger: kopf.Logger) -> None:
    """Recompute the owning run's status from its Job; write it (and announce a new phase) if it changed."""
    owned = await _owning_run(context, job)
    if owned is None:
        return
    run_path, run = owned
    namespace, job_name = job["metadata"].get("namespace", ""), job["metadata"]["name"]
    current = run.get("status") or {}
    job_status = job.get("status") or {}
    failures = bool(job_status.get("failedIndexes")) or any(
        c.get("type") == "Failed" and c.get("status") == "True" for c in job_status.get("conditions") or ()
    )
    pods: list[dict[str, Any]] = []
    items: list[Item] = []
    if failures:  # only then are pods and item keys needed, to name and explain the failed items
        pods = await context.kube.list(path("api/v1", namespace, "pods"), f"{JOB_NAME_LABEL}={job_name}")
        configmap_name = current.get("itemsConfigMap") or builders.configmap_name(run["metadata"]["name"])
        configmap = await context.kube.get(path("api/v1", namespace, "configmaps", configmap_name))
        items = builders.parse_items_document(configmap["data"][ITEMS_KEY]) if configmap else []
    summary = progress.summarize(
        job,
        items=items,
        pods=pods,
        old_conditions=current.get("conditions") or [],
        generation=run["metadata"].get("generation"),
        now=now(),
        max_failed_items=context.config.max_failed_items,
    )
    fields = summary.status_patch()
    if any(current.get(key) != value for key, value in fields.items()):
        await context.kube.patch(f"{run_path}/status", {"status": fields})
        logger.info("run %s: %s", run["metadata"]["name"], summary.message)
    milestone = progress.milestone(current.get("phase"), summary)
    if milestone is not None:
        kind, reason = milestone
        kopf.event(kopf.Body(cast(kopf.RawBody, run)), type=kind, reason=reason, message=summary.message)


async def job_lost(context: Context, job: dict[str, Any]) -> None:
    """A Job deleted while its run still exists and is unfinished: the run fails (nothing is recreated)."""
    owned = await _owning_run(context, job)
    if owned is None or (owned[1].get("status") or {}).get("phase") in TERMINAL:
        return
    run_path, run = owned
    message = _lost(job["metadata"]["name"])
    rejection = progress.rejection("JobLost", message, now(), run["metadata"].get("generation"))
    await context.kube.patch(f"{run_path}/status", {"status": rejection})
    kopf.event(kopf.Body(cast(kopf.RawBody, run)), type="Warning", reason="JobLost", message=message)


@kopf.on.event("batch", "v1", "jobs", labels={MANAGED_BY[0]: MANAGED_BY[1]})
async def job_changed(
    event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """Every event of a run's Job (and each Job at start-up) updates the run's status."""
    context: Context = memo.context
    job = dict(body)
    deleted = event.get("type") == "DELETED"
    for attempt in range(3):  # event handlers are not retried by kopf: ride out short API hiccups
        try:
            await (job_lost(context, job) if deleted else sync_status(context, job, logger))
            return
        except (ApiError, aiohttp.ClientError, TimeoutError) as error:
            if (isinstance(error, ApiError) and not error.transient) or attempt == 2:
                raise
            logger.warning("updating the run's status failed (%s); retrying", error)
            await asyncio.sleep(2**attempt)
