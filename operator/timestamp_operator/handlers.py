"""kopf glue for AlignmentRun: parse the body, call the pure builders, create what is absent, patch status.

Run as: kopf run --standalone --namespace=NS --liveness=http://0.0.0.0:8080/healthz \
        -m timestamp_operator.handlers

Who writes what in a run's status (one writer per field, so no handler undoes another's work):
- `launch` (create/resume) and `spec_changed`: observedGeneration, startTime, jobName,
  itemsConfigMap, itemsDigest, selection; and, before a Job exists, phase/message/conditions
  (Pending while waiting, Failed for an invalid spec, an empty selection or a lost Job).
- `job_changed` (every event of a run's Job) and `resync` (every RESYNC_SECONDS while a run is
  unfinished): phase, message, counts, progress, failedItems, conditions, completionTime, all
  recomputed from the Job (see progress.py); Failed (JobLost) when the Job is gone under an
  unfinished run.
No finalizers: children carry owner references, so deleting a run lets the garbage collector
delete its Job, pods and ConfigMap, whether the operator is running or not.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import boto3
import kopf
from botocore.exceptions import BotoCoreError, ClientError

from timestamp_operator import builders, kube, progress
from timestamp_operator.builders import (
    INDEX_KEY,
    ITEMS_DIGEST,
    ITEMS_KEY,
    JOB_NAME_LABEL,
    MANAGED_BY,
    JobLimits,
    PodTemplateError,
)
from timestamp_operator.kube import Kube, transient
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
    gpus_asked,
    parse_spec,
)

RUN = (API_GROUP, API_VERSION, PLURAL)
SELECTION_ANNOTATION = f"{API_GROUP}/selection"
TERMINAL = {phase.value for phase in Phase if phase.terminal}
OUR_JOBS = f"{MANAGED_BY[0]}={MANAGED_BY[1]}"  # the label selector of every Job this operator made
ITEMS_CACHE_RUNS = 8  # item lists kept in memory (by run uid) to name failed items without re-reading


class ItemsCache:
    """Recorded item lists by run uid (immutable ConfigMaps), the most recent few only."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lists: OrderedDict[str, list[Item]] = OrderedDict()

    def get(self, uid: str) -> list[Item] | None:
        if uid in self._lists:
            self._lists.move_to_end(uid)
        return self._lists.get(uid)

    def put(self, uid: str, items: list[Item]) -> None:
        self._lists[uid] = items
        self._lists.move_to_end(uid)
        while len(self._lists) > self._size:
            self._lists.popitem(last=False)


@dataclass(frozen=True)
class Context:
    """What every handler needs, built once at start-up and kept on kopf's memo."""

    config: OperatorSettings
    pod_template: dict[str, Any]
    kube: Kube
    s3: Any  # boto3 S3 client, for resolving selections
    items: ItemsCache = field(default_factory=lambda: ItemsCache(ITEMS_CACHE_RUNS))
    # One Job creation (or parallelism increase) at a time, so two runs never both take the last GPUs.
    gpu_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Unfinished runs with a Job, by run uid: (namespace, run, Job), for the periodic re-sync.
    unfinished: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    announced: dict[str, str] = field(default_factory=dict)  # see Attempt.wait

    @property
    def limits(self) -> JobLimits:
        return JobLimits(
            backoff_limit_per_index=self.config.backoff_limit_per_index,
            item_deadline_seconds=self.config.item_deadline_seconds,
            run_deadline_seconds=self.config.run_deadline_seconds,
            ttl_seconds_after_finished=self.config.finished_job_ttl_seconds,
        )


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- operator lifecycle ---


@kopf.on.login()
def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
    """kopf's own service-account / kubeconfig login, for kopf and for our client alike (it reads
    KUBECONFIG at each login; kubernetes_asyncio's loader, kopf's default here, reads it at import)."""
    return kube.login(settings)


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    # kopf would post each retry's log line as a Warning event; the handlers post their own, once each.
    settings.posting.level = logging.CRITICAL
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    # No cluster-wide rights: kopf neither lists namespaces nor watches CRDs (it resolves the
    # resources once, by discovery); `start` fails while the AlignmentRun CRD is not served.
    settings.scanning.disabled = True
    # Server-side: only this operator's Jobs are listed and watched, not every Job of the namespace.
    settings.watching.label_selectors["batch", "jobs"] = OUR_JOBS
    # kopf's copy of the spec (an annotation, 256 KiB for all annotations) leaves out the item list:
    # it is immutable (the CRD's CEL rules) and recorded in the run's ConfigMap.
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(ignored_fields=["spec.items"])
    config = OperatorSettings()
    try:
        template = builders.load_pod_template(config.worker_pod_template.read_text())
    except (OSError, PodTemplateError) as error:
        raise kopf.PermanentError(f"WORKER_POD_TEMPLATE {config.worker_pod_template}: {error}") from error
    kube = Kube(settings)
    if not await kube.serves(API_GROUP, API_VERSION, PLURAL):
        await kube.close()
        raise kopf.PermanentError(
            f"the API server does not serve {PLURAL}.{API_GROUP}/{API_VERSION}: apply the CRD "
            "(charts/gpu-timestamp/files/crd-alignmentrun.yaml) first; the operator starts once it is there"
        )
    context = Context(config=config, pod_template=template, kube=kube, s3=boto3.client("s3"))
    context.tasks.append(asyncio.create_task(resync(context, logger)))
    memo.context = context
    logger.info(
        "worker pod template %s loaded; text bucket %s", config.worker_pod_template, config.text_bucket
    )


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    context: Context | None = memo.get("context")
    if context is not None:
        for task in context.tasks:
            task.cancel()
        await asyncio.gather(*context.tasks, return_exceptions=True)
        await context.kube.close()


@kopf.on.probe(id="workerImage")
def worker_image(memo: kopf.Memo, **_: Any) -> str | None:
    context: Context = memo.context
    return builders.worker_container(context.pod_template["spec"]).get("image")


# --- launching a run ---


@dataclass(frozen=True)
class Attempt:
    """One launch attempt of one run: what its refusals and waits need to be said and retried."""

    body: kopf.Body
    status: kopf.Status
    patch: kopf.Patch
    retry: int
    config: OperatorSettings
    announced: dict[str, str]  # the last waiting message posted as an event, by run uid

    def fail(self, reason: str, message: str) -> kopf.PermanentError:
        """Record a run that cannot proceed (nothing more will be created) and say why, once."""
        generation = self.body.metadata.get("generation")
        for name, value in progress.rejection(reason, message, now(), generation).items():
            self.patch.status[name] = value
        kopf.event(self.body, type="Warning", reason=reason, message=message)
        return kopf.PermanentError(message)

    def wait(self, reason: str, message: str, warning: bool = True) -> kopf.TemporaryError:
        """Say why the run waits (no Job exists yet, so this writer owns the phase) and retry later,
        doubling the delay each time; one event per distinct reason, not one per retry."""
        self.patch.status["phase"] = Phase.PENDING.value
        self.patch.status["message"] = message
        uid = self.body.metadata.uid or ""
        if message not in (self.status.get("message"), self.announced.get(uid)):
            kopf.event(self.body, type="Warning" if warning else "Normal", reason=reason, message=message)
            self.announced[uid] = message
        delay = min(self.config.retry_delay_seconds * 2**self.retry, self.config.retry_max_delay_seconds)
        return kopf.TemporaryError(message, delay=delay)

    def ensure_ours(self, obj: dict[str, Any]) -> None:
        """Never adopt a leftover of an earlier run of the same name (deleted, not yet garbage-collected)."""
        uids = {ref.get("uid") for ref in obj.get("metadata", {}).get("ownerReferences") or ()}
        if self.body.metadata.uid not in uids:
            kind, name = obj.get("kind", "object"), obj.get("metadata", {}).get("name")
            message = f"{kind} {name} belongs to an earlier {KIND} of this name; waiting for it to be deleted"
            raise self.wait("Waiting", message)


def _lost(job_name: str) -> str:
    return f"Job {job_name} was deleted before the run finished; apply a new AlignmentRun to align again"


async def _resolve_items(
    context: Context, spec: AlignmentRunSpec, attempt: Attempt
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
        raise attempt.fail(reason, str(error)) from error
    except (BotoCoreError, ClientError) as error:
        raise attempt.wait("Waiting", f"cannot list s3://{bucket}/{selection.prefix} yet: {error}") from error
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
        attempt.body,
        type="Warning" if resolved.truncated else "Normal",
        reason="SelectionResolved",
        message=f"{len(resolved.items)} text files from s3://{bucket}/{selection.prefix}{more}",
    )
    return resolved.items, record


def _digest_of(obj: dict[str, Any] | None) -> str | None:
    return ((obj or {}).get("metadata", {}).get("annotations") or {}).get(ITEMS_DIGEST)


async def _ensure_items(
    context: Context, spec: AlignmentRunSpec, attempt: Attempt, job: dict[str, Any] | None
) -> tuple[list[Item], SelectionRecord | None, str]:
    """The run's items as recorded in its ConfigMap, and their digest; resolved and recorded on the
    first launch. A ConfigMap lost later is rebuilt only if it comes out identical to what the Job runs."""
    body = attempt.body
    namespace, name = body.metadata.namespace or "", body.metadata.name or ""
    configmap_name = builders.configmap_name(name)
    configmap = await context.kube.get_configmap(namespace, configmap_name)
    if configmap is None:
        started_with = _digest_of(job) or attempt.status.get("itemsDigest")
        if job is not None and started_with is None:
            raise attempt.fail(
                "ItemsLost",
                f"ConfigMap {configmap_name} is gone and Job {job['metadata']['name']} records "
                "no items digest to rebuild it against; apply a new AlignmentRun",
            )
        items, record = await _resolve_items(context, spec, attempt)
        try:
            configmap = builders.build_items_configmap(name, items)
        except builders.TooManyItems as error:
            raise attempt.fail("TooManyItems", str(error)) from error
        digest = _digest_of(configmap) or ""
        if started_with is not None and digest != started_with:
            raise attempt.fail(
                "ItemsLost",
                f"ConfigMap {configmap_name} is gone and the items resolved now differ from those the "
                f"run started with ({started_with}); apply a new AlignmentRun",
            )
        if record is not None:
            configmap["metadata"]["annotations"][SELECTION_ANNOTATION] = record.model_dump_json(by_alias=True)
        kopf.adopt(configmap, owner=body)
        try:
            await context.kube.create_configmap(namespace, configmap)
            if started_with is not None:
                kopf.event(
                    body,
                    type="Warning",
                    reason="ItemsRestored",
                    message=f"ConfigMap {configmap_name} "
                    "was missing; rebuilt identical to what the run started with",
                )
            return items, record, digest
        except Exception as error:
            if transient(error):
                raise attempt.wait(
                    "Waiting", f"cannot create ConfigMap {configmap_name} yet: {error}"
                ) from error
            if getattr(error, "status", None) != 409:
                raise attempt.fail("ItemsRejected", f"the items ConfigMap was rejected: {error}") from error
            configmap = await context.kube.get_configmap(namespace, configmap_name)
            if configmap is None:
                raise kopf.TemporaryError("items ConfigMap vanished while being created", delay=1) from error
    attempt.ensure_ours(configmap)
    recorded = (configmap.get("metadata", {}).get("annotations") or {}).get(SELECTION_ANNOTATION)
    record = SelectionRecord.model_validate_json(recorded) if recorded else None
    document = configmap["data"][ITEMS_KEY]
    return builders.parse_items_document(document), record, builders.items_digest(document)


async def _gpus_held(context: Context, namespace: str, except_job: str) -> tuple[int, list[str]]:
    """GPUs the other runs' unfinished Jobs hold or may take, and which Jobs those are."""
    held, holders = 0, []
    for job in await context.kube.list_jobs(namespace, OUR_JOBS):
        gpus = builders.job_gpus(job)
        if gpus and job["metadata"]["name"] != except_job:
            held += gpus
            holders.append(job["metadata"]["name"])
    return held, holders


async def _fitting_changes(context: Context, job: dict[str, Any], spec: AlignmentRunSpec) -> dict[str, Any]:
    """The Job edits the spec asks for, with a parallelism increase cut to the GPUs left (caller holds
    the GPU lock)."""
    changes = builders.job_spec_changes(job, spec)
    current = int(job["spec"].get("parallelism") or 0)
    per_pod = builders.gpus_per_pod(job["spec"].get("template", {}).get("spec") or {})
    if changes.get("parallelism", 0) > current and per_pod:
        held, _ = await _gpus_held(context, job["metadata"]["namespace"], job["metadata"]["name"])
        fits = max(current, (context.config.max_gpus - held) // per_pod)
        if fits < changes["parallelism"]:
            changes["parallelism"] = fits
            if fits == current:
                del changes["parallelism"]
    return changes


@kopf.on.resume(*RUN)
@kopf.on.create(*RUN)
async def launch(
    body: kopf.Body,
    status: kopf.Status,
    patch: kopf.Patch,
    memo: kopf.Memo,
    logger: kopf.Logger,
    retry: int,
    **_: Any,
) -> None:
    """Resolve and record the items, then create the run's Job, each only if absent."""
    context: Context = memo.context
    if status.get("phase") in TERMINAL:
        logger.info("run already finished (%s); nothing to launch", status.get("phase"))
        return
    attempt = Attempt(
        body=body, status=status, patch=patch, retry=retry, config=context.config, announced=context.announced
    )
    patch.status["observedGeneration"] = body.metadata.get("generation")
    try:
        spec = parse_spec(body.spec)
        gpus = gpus_asked(spec.overrides)
    except InvalidSpec as error:
        raise attempt.fail("InvalidSpec", str(error)) from error
    if gpus is not None and gpus > context.config.max_gpus_per_pod:
        message = (
            f"spec.overrides.resources: {gpus} GPUs per pod; at most {context.config.max_gpus_per_pod} "
            "(the operator's MAX_GPUS_PER_POD)"
        )
        raise attempt.fail("InvalidSpec", message)

    namespace, name = body.metadata.namespace or "", body.metadata.name or ""
    home = context.config.worker_namespace
    if home and namespace != home:
        message = (
            f"AlignmentRuns run in namespace {home!r}, where the worker's ServiceAccount and settings are"
        )
        raise attempt.fail("WrongNamespace", f"{message}; apply it there")
    job_name = builders.job_name(name)
    job = await context.kube.get_job(namespace, job_name)
    if job is None and status.get("jobName"):
        raise attempt.fail("JobLost", _lost(job_name))
    if job is not None:
        attempt.ensure_ours(job)

    items, record, digest = await _ensure_items(context, spec, attempt, job)
    context.items.put(body.metadata.uid or "", items)  # for naming failed items, without reading them again
    if job is None:
        job = builders.build_job(name, spec, digest, len(items), context.pod_template, context.limits)
        kopf.adopt(job, owner=body)
        async with context.gpu_lock:
            await _create_job(context, attempt, namespace, job, len(items))
    else:
        async with context.gpu_lock:
            if changes := await _fitting_changes(context, job, spec):
                await context.kube.patch_job_spec(namespace, job_name, changes)  # edited while we were away

    patch.status["jobName"] = job_name
    patch.status["itemsConfigMap"] = builders.configmap_name(name)
    patch.status["itemsDigest"] = digest
    patch.status["startTime"] = status.get("startTime") or now()
    if record is not None:
        patch.status["selection"] = record.model_dump(mode="json", by_alias=True)


async def _create_job(
    context: Context, attempt: Attempt, namespace: str, job: dict[str, Any], total: int
) -> None:
    """Create the Job if the GPUs it may take fit under MAX_GPUS with the other runs' (else wait)."""
    job_name, cap = job["metadata"]["name"], context.config.max_gpus
    needed = builders.job_gpus(job)
    if needed > cap:
        message = (
            f"parallelism {job['spec']['parallelism']} x {needed // job['spec']['parallelism']} GPUs per pod "
            f"needs {needed} GPUs; AlignmentRuns may use {cap} at once (MAX_GPUS): lower spec.parallelism"
        )
        raise attempt.fail("InvalidSpec", message)
    held, holders = await _gpus_held(context, namespace, job_name)
    if held + needed > cap:
        message = (
            f"waiting for GPUs: this run needs {needed}, {held} of {cap} are taken by {', '.join(holders)}"
        )
        raise attempt.wait("WaitingForGPUs", message, warning=False)
    try:
        await context.kube.create_job(namespace, job)
    except Exception as error:
        if transient(error):
            raise attempt.wait("Waiting", f"cannot create Job {job_name} yet: {error}") from error
        if getattr(error, "status", None) != 409:
            raise attempt.fail("JobRejected", f"Job {job_name} was rejected: {error}") from error
        # Created by an earlier attempt whose outcome was lost: use it if it is ours.
        attempt.ensure_ours(await context.kube.get_job(namespace, job_name) or {})
    else:
        kopf.event(
            attempt.body,
            type="Normal",
            reason="JobCreated",
            message=f"Job {job_name}: {total} items, parallelism {job['spec']['parallelism']}",
        )


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
    namespace, job_name = body.metadata.namespace or "", builders.job_name(body.metadata.name or "")
    async with context.gpu_lock:
        job = await context.kube.get_job(namespace, job_name)
        changes = await _fitting_changes(context, job, spec) if job is not None else {}
        if changes:
            await context.kube.patch_job_spec(namespace, job_name, changes)
    if changes:
        kopf.event(body, type="Normal", reason="JobUpdated", message=f"Job {job_name}: {changes}")
    if job is not None and min(spec.parallelism, job["spec"]["completions"]) > changes.get(
        "parallelism", job["spec"]["parallelism"]
    ):
        kopf.event(
            body,
            type="Warning",
            reason="GPUCapReached",
            message=f"parallelism kept at {changes.get('parallelism', job['spec']['parallelism'])}: "
            f"AlignmentRuns may use {context.config.max_gpus} GPUs at once (MAX_GPUS)",
        )


# --- following a run's Job ---


async def _owning_run(context: Context, job: dict[str, Any]) -> dict[str, Any] | None:
    """The run that owns this Job, unless it is gone or going."""
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
    run = await context.kube.get_run(job.get("metadata", {}).get("namespace", ""), owner["name"])
    meta = (run or {}).get("metadata", {})
    if run is None or meta.get("uid") != owner.get("uid") or meta.get("deletionTimestamp"):
        return None  # deleted: the garbage collector takes its Job away
    return run


async def _recorded_items(context: Context, run: dict[str, Any], namespace: str) -> list[Item]:
    """The run's items (to name failed ones), read from its ConfigMap once per run, then from memory."""
    uid = run["metadata"]["uid"]
    items = context.items.get(uid)
    if items is None:
        name = (run.get("status") or {}).get("itemsConfigMap") or builders.configmap_name(
            run["metadata"]["name"]
        )
        configmap = await context.kube.get_configmap(namespace, name)
        if configmap is None:
            return []
        items = builders.parse_items_document(configmap["data"][ITEMS_KEY])
        context.items.put(uid, items)
    return items


async def _failed_pods(
    context: Context, namespace: str, job_name: str, indexes: list[int]
) -> list[dict[str, Any]]:
    """The failed pods of the listed items only (a label selector on the completion index), page by page."""
    selector = f"{JOB_NAME_LABEL}={job_name},{INDEX_KEY} in ({','.join(map(str, indexes))})"
    return [pod async for pod in context.kube.failed_pods(namespace, selector)]


async def sync_status(context: Context, job: dict[str, Any], logger: kopf.Logger) -> None:
    """Recompute the owning run's status from its Job; write it (and announce a new phase) if it changed."""
    run = await _owning_run(context, job)
    if run is None:
        return
    namespace, job_name = job["metadata"].get("namespace", ""), job["metadata"]["name"]
    current = run.get("status") or {}
    pods: list[dict[str, Any]] = []
    items: list[Item] = []
    # Only failed items need pods and keys (to name and explain them), and only those listed.
    if shown := progress.reported_failures(job, context.config.max_failed_items):
        pods = await _failed_pods(context, namespace, job_name, shown)
        items = await _recorded_items(context, run, namespace)
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
        await context.kube.patch_run_status(namespace, run["metadata"]["name"], fields)
        logger.info("run %s: %s", run["metadata"]["name"], summary.message)
    milestone = progress.milestone(current.get("phase"), summary)
    if milestone is not None:
        kind, reason = milestone
        kopf.event(kopf.Body(cast(kopf.RawBody, run)), type=kind, reason=reason, message=summary.message)


async def job_lost(context: Context, job: dict[str, Any]) -> None:
    """A Job deleted while its run still exists and is unfinished: the run fails (nothing is recreated)."""
    run = await _owning_run(context, job)
    if run is None or (run.get("status") or {}).get("phase") in TERMINAL:
        return
    message = _lost(job["metadata"]["name"])
    rejection = progress.rejection("JobLost", message, now(), run["metadata"].get("generation"))
    await context.kube.patch_run_status(run["metadata"]["namespace"], run["metadata"]["name"], rejection)
    kopf.event(kopf.Body(cast(kopf.RawBody, run)), type="Warning", reason="JobLost", message=message)


async def _follow(context: Context, job: dict[str, Any], deleted: bool, logger: kopf.Logger) -> None:
    for attempt in range(3):  # event handlers are not retried by kopf: ride out short API hiccups
        try:
            await (job_lost(context, job) if deleted else sync_status(context, job, logger))
            return
        except Exception as error:
            if not transient(error) or attempt == 2:
                raise
            logger.warning("updating the run's status failed (%s); retrying", error)
            await asyncio.sleep(2**attempt)


@kopf.on.event("batch", "v1", "jobs", labels={MANAGED_BY[0]: MANAGED_BY[1]})
async def job_changed(
    event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, logger: kopf.Logger, **_: Any
) -> None:
    """Every event of a run's Job (and each Job at start-up) updates the run's status."""
    await _follow(memo.context, dict(body), event.get("type") == "DELETED", logger)


@kopf.on.event(*RUN)
def track(event: kopf.RawEvent, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Keep the list of unfinished runs with a Job, for `resync` (an event handler: no finalizer)."""
    context: Context = memo.context
    uid, job_name = body.metadata.uid or "", body.status.get("jobName")
    if event.get("type") == "DELETED" or body.status.get("phase") in TERMINAL:
        context.announced.pop(uid, None)
    if event.get("type") == "DELETED" or body.status.get("phase") in TERMINAL or not job_name:
        context.unfinished.pop(uid, None)
    else:
        context.unfinished[uid] = (body.metadata.namespace or "", body.metadata.name or "", job_name)


async def resync(context: Context, logger: kopf.Logger) -> None:
    """Re-read every unfinished run's Job each RESYNC_SECONDS, so the status moves even when a Job
    event was missed (a watch gap, a restart). One task for the operator (kopf's daemons and timers
    would put a finalizer on every run, which must stay deletable while the operator is down)."""
    while True:
        await asyncio.sleep(context.config.resync_seconds)
        for uid, (namespace, run_name, job_name) in list(context.unfinished.items()):
            try:
                job = await context.kube.get_job(namespace, job_name)
                stand_in = _gone(uid, namespace, run_name, job_name)
                await _follow(context, job or stand_in, job is None, logger)
            except Exception as error:  # the next round tries again
                logger.warning("re-sync of Job %s/%s failed: %s", namespace, job_name, error)


def _gone(uid: str, namespace: str, run_name: str, job_name: str) -> dict[str, Any]:
    """A stand-in for a Job found missing: enough for `job_lost` to find its run."""
    owner = {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": KIND, "name": run_name, "uid": uid}
    return {"metadata": {"name": job_name, "namespace": namespace, "ownerReferences": [owner]}}
