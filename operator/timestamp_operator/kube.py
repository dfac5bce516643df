"""The operator's Kubernetes API calls, through the official asyncio client (kubernetes_asyncio).

kopf patches the runs it handles itself; the handlers also create Jobs and ConfigMaps, read a
Job's failed pods and patch a run's status from a *Job* event, so they need a client. It logs in
with kopf's own login (`kopf.login_with_service_account` in a pod, else
`kopf.login_with_kubeconfig`: KUBECONFIG, how tests point it at KMock), turned into the client's
Configuration; the service account token is re-read every minute (tokens are rotated on disk).

Every call the operator makes is a method here, each naming the RBAC verb it needs (`CALLS`):
tests/operator checks the chart's Role against this list and against the requests seen on the wire.
Objects are read as the API's own JSON (`_preload_content=False`): no lossy round trip through the
generated models (timestamps keep their form), and a failed pod list is read page by page.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Any

import kopf
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from timestamp_operator.spec import API_GROUP, API_VERSION, PLURAL

MERGE_PATCH = "application/merge-patch+json"
TOKEN_REFRESH_SECONDS = 60
POD_PAGE = 50  # pods per list request: a page of failed pods is a few hundred KB at most

# (apiGroup, resource, verb) of every call below: the application rules of the operator's Role.
CALLS = frozenset(
    {
        (API_GROUP, PLURAL, "get"),
        (API_GROUP, f"{PLURAL}/status", "patch"),
        ("batch", "jobs", "get"),
        ("batch", "jobs", "list"),
        ("batch", "jobs", "create"),
        ("batch", "jobs", "patch"),
        ("", "configmaps", "get"),
        ("", "configmaps", "create"),
        ("", "pods", "list"),
    }
)


def transient(error: Exception) -> bool:
    """Worth retrying: throttling, timeouts, server errors, a broken connection."""
    if isinstance(error, ApiException):
        return error.status in (0, 408, 429) or (error.status or 0) >= 500
    return isinstance(error, (OSError, TimeoutError))


def _write_secret(directory: str, name: str, data: str | bytes | None) -> str | None:
    if data is None:
        return None
    path = os.path.join(directory, name)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as file:
        file.write(data.encode() if isinstance(data, str) else data)
    return path


def configuration(info: kopf.ConnectionInfo, directory: str) -> client.Configuration:
    """kopf's ConnectionInfo as the client's Configuration (inline certificates: files in `directory`)."""
    config = client.Configuration(host=info.server.rstrip("/"))
    config.ssl_ca_cert = (
        str(info.ca_path) if info.ca_path else _write_secret(directory, "ca.crt", info.ca_data)
    )
    config.cert_file = (
        str(info.certificate_path)
        if info.certificate_path
        else _write_secret(directory, "tls.crt", info.certificate_data)
    )
    config.key_file = (
        str(info.private_key_path)
        if info.private_key_path
        else _write_secret(directory, "tls.key", info.private_key_data)
    )
    config.verify_ssl = not info.insecure
    if info.token:
        config.api_key = {"BearerToken": info.token}
        config.api_key_prefix = {"BearerToken": info.scheme or "Bearer"}
    config.username, config.password = info.username, info.password
    config.proxy = info.proxy_url
    return config


def login(settings: kopf.OperatorSettings) -> kopf.ConnectionInfo:
    """kopf's own login (as kopf does it when no client library login applies)."""
    info = kopf.login_with_service_account(settings=settings) or kopf.login_with_kubeconfig(settings=settings)
    if info is None:
        raise kopf.PermanentError("no Kubernetes credentials: no service account token and no kubeconfig")
    return info


async def _json(call: Any) -> Any:
    """Await a client call made with `_preload_content=False`; its JSON, or ApiException as usual."""
    response = await call
    try:
        body = await response.read()
        if not 200 <= response.status <= 299:
            error = ApiException(status=response.status, reason=response.reason)
            error.body, error.headers = body, response.headers
            raise error
        return json.loads(body) if body else None
    finally:
        response.release()


class Kube:
    """The calls the handlers make, on one client session (closed at the operator's cleanup)."""

    def __init__(self, settings: kopf.OperatorSettings) -> None:
        self._settings = settings
        self._directory = tempfile.mkdtemp(prefix="kube-")
        config = configuration(login(settings), self._directory)
        config.refresh_api_key_hook = self._refresh
        self._refreshed = time.monotonic()
        self._api = client.ApiClient(config)
        self._timeout = settings.networking.request_timeout or 60
        # Typed Any: the generated signatures name the models and omit `_content_type`, while the
        # calls take plain dicts (serialised alike) and the merge-patch content type at run time.
        self.batch: Any = client.BatchV1Api(self._api)
        self.core: Any = client.CoreV1Api(self._api)
        self.custom: Any = client.CustomObjectsApi(self._api)

    def _refresh(self, config: client.Configuration) -> None:
        if time.monotonic() - self._refreshed < TOKEN_REFRESH_SECONDS:
            return
        self._refreshed = time.monotonic()
        info = login(self._settings)
        if info.token:
            config.api_key = {"BearerToken": info.token}

    async def close(self) -> None:
        await self._api.close()
        shutil.rmtree(self._directory, ignore_errors=True)

    def _options(self) -> dict[str, Any]:
        return {"_preload_content": False, "_request_timeout": self._timeout}

    async def _maybe(self, call: Any) -> dict[str, Any] | None:
        try:
            return dict(await _json(call))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    async def serves(self, group: str, version: str, plural: str) -> bool:
        """Whether the API server serves this resource (discovery: open to every authenticated client)."""
        try:
            found = await _json(self.custom.get_api_resources(group, version, **self._options()))
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return any(resource.get("name") == plural for resource in found.get("resources") or ())

    # --- AlignmentRuns (kopf watches and patches them itself) ---

    async def get_run(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._maybe(
            self.custom.get_namespaced_custom_object(
                API_GROUP, API_VERSION, namespace, PLURAL, name, **self._options()
            )
        )

    async def patch_run_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        await _json(
            self.custom.patch_namespaced_custom_object_status(
                API_GROUP,
                API_VERSION,
                namespace,
                PLURAL,
                name,
                {"status": status},
                _content_type=MERGE_PATCH,
                **self._options(),
            )
        )

    # --- Jobs ---

    async def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._maybe(self.batch.read_namespaced_job(name, namespace, **self._options()))

    async def list_jobs(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        page = await _json(
            self.batch.list_namespaced_job(namespace, label_selector=label_selector, **self._options())
        )
        return list(page.get("items") or [])

    async def create_job(self, namespace: str, job: dict[str, Any]) -> None:
        """Raises ApiException(409) when a Job of that name exists."""
        await _json(self.batch.create_namespaced_job(namespace, job, **self._options()))

    async def patch_job_spec(self, namespace: str, name: str, spec: dict[str, Any]) -> None:
        await _json(
            self.batch.patch_namespaced_job(
                name, namespace, {"spec": spec}, _content_type=MERGE_PATCH, **self._options()
            )
        )

    # --- ConfigMaps (the run's recorded items) ---

    async def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        return await self._maybe(self.core.read_namespaced_config_map(name, namespace, **self._options()))

    async def create_configmap(self, namespace: str, configmap: dict[str, Any]) -> None:
        """Raises ApiException(409) when a ConfigMap of that name exists."""
        await _json(self.core.create_namespaced_config_map(namespace, configmap, **self._options()))

    # --- Pods ---

    async def failed_pods(
        self, namespace: str, label_selector: str, page_size: int = POD_PAGE
    ) -> AsyncIterator[dict[str, Any]]:
        """Failed pods matching the selector, fetched `page_size` at a time (limit/continue)."""
        token: str | None = None
        while True:
            options: dict[str, Any] = {"_continue": token} if token else {}
            page = await _json(
                self.core.list_namespaced_pod(
                    namespace,
                    label_selector=label_selector,
                    field_selector="status.phase=Failed",
                    limit=page_size,
                    **options,
                    **self._options(),
                )
            )
            for pod in page.get("items") or ():
                yield pod
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return
