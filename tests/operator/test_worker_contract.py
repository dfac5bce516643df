"""The operator's Job against the real worker: the pod's command, items file and env, run as a process.

What the Job controller would run in pod I is run here (the container's command and env, the items
file mounted from the ConfigMap, JOB_COMPLETION_INDEX=I), against moto's S3. The exit code must be
the one the Job's podFailurePolicy expects, and what the pod would leave as its termination message
must explain the failure in the run's status.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from timestamp_operator import builders, progress
from timestamp_operator.spec import Item, parse_spec

from tests.conftest import Cloud
from tests.operator.conftest import LIMITS, POD_TEMPLATE

ITEMS = [{"audioKey": "berakhot/002.mp3", "textKey": "berakhot/002.txt"}]


def run_pod(
    job: dict[str, Any], configmap: dict[str, Any], index: int, env: dict[str, str], tmp: Path
) -> tuple[int, str]:
    """Run pod `index` of the Job as a process; its exit code and its termination message."""
    container = builders.worker_container(job["spec"]["template"]["spec"])
    items = tmp / builders.ITEMS_KEY
    items.write_text(configmap["data"][builders.ITEMS_KEY])
    outcome = tmp / "termination-log"
    mounted = {
        f"{builders.ITEMS_DIR}/{builders.ITEMS_KEY}": str(items),
        builders.TERMINATION_LOG: str(outcome),
    }
    command = [mounted.get(arg, arg) for arg in container["command"]]
    command[0] = str(Path(sys.executable).parent / command[0])  # `timestamp`, as installed in the image
    pod_env = {e["name"]: e["value"] for e in container["env"]}
    result = subprocess.run(
        command,
        env={**os.environ, **env, **pod_env, "JOB_COMPLETION_INDEX": str(index)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    # terminationMessagePolicy FallbackToLogsOnError: the file, else the end of the logs.
    message = outcome.read_text() if outcome.exists() and outcome.read_text() else result.stderr[-2048:]
    return result.returncode, message


def failed_pod(index: int, exit_code: int, message: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {builders.JOB_NAME_LABEL: "r-align", builders.INDEX_KEY: str(index)}},
        "status": {
            "phase": "Failed",
            "containerStatuses": [
                {"name": "worker", "state": {"terminated": {"exitCode": exit_code, "message": message}}}
            ],
        },
    }


def build(run_spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    spec = parse_spec(run_spec)
    items = [Item(audio_key=i["audioKey"], text_key=i["textKey"]) for i in ITEMS]
    job = builders.build_job("r", spec, "sha256:x", len(items), POD_TEMPLATE, LIMITS)
    return job, builders.build_items_configmap("r", items)


def fail_rules(job: dict[str, Any], action: str) -> list[int]:
    rules = job["spec"]["podFailurePolicy"]["rules"]
    return [
        code for r in rules if r["action"] == action for code in r.get("onExitCodes", {}).get("values", [])
    ]


def test_a_model_override_the_image_lacks_fails_the_whole_job(tmp_path: Path) -> None:
    job, configmap = build({"items": ITEMS, "overrides": {"model": "no-such-model"}})
    cache = tmp_path / "cache"
    cache.mkdir()
    code, message = run_pod(job, configmap, 0, {"WHISPER_CACHE": str(cache), "DEVICE": "cpu"}, tmp_path)
    assert code in fail_rules(job, "FailJob")  # every item would fail alike: stop at once
    reason, _ = progress.pod_failure(failed_pod(0, code, message))
    assert "WHISPER_MODEL: 'no-such-model'" in reason


def test_a_missing_lecture_fails_its_item_only_with_the_workers_reason(cloud: Cloud, tmp_path: Path) -> None:
    cloud.put(cloud.text_bucket, "berakhot/002.txt", "שלום עולם")  # its audio is missing
    job, configmap = build({"items": ITEMS})
    code, message = run_pod(job, configmap, 0, cloud.env, tmp_path)
    assert code in fail_rules(job, "FailIndex")  # permanent: not retried, the other items go on
    reason, exit_code = progress.pod_failure(failed_pod(0, code, message))
    assert exit_code == 1 and "berakhot/002.mp3" in reason
