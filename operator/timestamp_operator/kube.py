"""A small Kubernetes API client for what the handlers do beyond kopf's own patching.

kopf's API access is internal, so the handlers need a client of their own for: create a Job or a
ConfigMap, read a Job, list a Job's pods, patch a run's status from a Job event. This one is plain
aiohttp (already kopf's transport, so nothing new to install) and logs in exactly as kopf does
when no client library is installed: `kopf.login_with_service_account` in a pod, else
`kopf.login_with_kubeconfig` (KUBECONFIG or ~/.kube/config: how tests point it at KMock). On a 401
it logs in again once (service account tokens are rotated on disk).
"""

from __future__ import annotations

import json
import ssl
from typing import Any

import aiohttp
import kopf

MERGE_PATCH = "application/merge-patch+json"


class ApiError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message = status, reason, message

    @property
    def transient(self) -> bool:
        return self.status in (408, 429) or self.status >= 500


def path(
    api: str, namespace: str, plural: str, name: str | None = None, subresource: str | None = None
) -> str:
    """E.g. path("apis/batch/v1", "ns", "jobs", "x") -> /apis/batch/v1/namespaces/ns/jobs/x."""
    parts = [api, "namespaces", namespace, plural, name, subresource]
    return "/" + "/".join(part for part in parts if part)


class KubeClient:
    def __init__(self, settings: kopf.OperatorSettings) -> None:
        self._settings = settings
        self._server = ""
        self._session: aiohttp.ClientSession | None = None

    async def login(self) -> None:
        info = kopf.login_with_service_account(settings=self._settings) or kopf.login_with_kubeconfig(
            settings=self._settings
        )
        if info is None:
            raise kopf.PermanentError("no Kubernetes credentials: no service account token and no kubeconfig")
        await self.close()
        context: ssl.SSLContext | bool = info.as_ssl_context() if info.server.startswith("https:") else False
        self._server = info.server.rstrip("/")
        self._session = aiohttp.ClientSession(
            headers={**info.as_http_headers(), "Accept": "application/json"},
            connector=aiohttp.TCPConnector(ssl=context),
            timeout=aiohttp.ClientTimeout(total=self._settings.networking.request_timeout or 60),
            trust_env=info.trust_env,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(self, method: str, url_path: str, **kwargs: Any) -> Any:
        for attempt in (1, 2):
            if self._session is None:
                await self.login()
            assert self._session is not None
            async with self._session.request(method, self._server + url_path, **kwargs) as response:
                if response.status == 401 and attempt == 1:
                    await self.login()
                    continue
                text = await response.text()
                try:
                    body = json.loads(text) if text else None
                except ValueError:
                    body = text
                if response.status >= 400:
                    details = body if isinstance(body, dict) else {}
                    raise ApiError(
                        response.status,
                        str(details.get("reason") or response.reason),
                        str(details.get("message") or body),
                    )
                return body
        raise AssertionError("unreachable")

    async def get(self, url_path: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return dict(await self._request("GET", url_path))
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    async def list(self, url_path: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        params = {"labelSelector": label_selector} if label_selector else {}
        return list((await self._request("GET", url_path, params=params) or {}).get("items") or [])

    async def create(self, url_path: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create; raises ApiError(409) when an object of that name exists."""
        return dict(await self._request("POST", url_path, json=body))

    async def patch(self, url_path: str, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body)
        return dict(await self._request("PATCH", url_path, data=data, headers={"Content-Type": MERGE_PATCH}))
