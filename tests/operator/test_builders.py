"""The pure builders: names, the items ConfigMap, the Indexed Job, and their contract with the worker."""

from __future__ import annotations

import copy
import re

import pytest
from timestamp_operator import builders
from timestamp_operator.spec import Item, parse_spec

from tests.operator.conftest import LIMITS, POD_TEMPLATE
from tests.operator.k8s_schemas import k8s_problems

ITEMS = [{"audioKey": f"berakhot/{n:03}.mp3", "textKey": f"berakhot/{n:03}.txt"} for n in range(2, 7)]
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def job_for(**spec: object) -> dict:
    run_spec = parse_spec({"items": ITEMS, **spec})
    return builders.build_job("berakhot-rerun", run_spec, "sha256:x", len(ITEMS), POD_TEMPLATE, LIMITS)


def worker(job: dict) -> dict:
    return builders.worker_container(job["spec"]["template"]["spec"])


@pytest.mark.parametrize(
    "run_name",
    ["berakhot", "a" * 41, "a" * 42, "a" * 253, "shabbat.2025.reported", "x", "run-" + "9" * 60],
)
def test_child_names_are_dns_labels_that_fit_indexed_pods(run_name: str) -> None:
    for name in (builders.job_name(run_name), builders.configmap_name(run_name)):
        assert DNS_LABEL.match(name) and len(name) <= builders.MAX_CHILD_NAME, name
    assert len(builders.label_value(run_name)) <= 63


def test_child_names_are_stable_and_never_shared() -> None:
    assert builders.job_name("berakhot") == "berakhot-align" == builders.job_name("berakhot")
    assert builders.configmap_name("berakhot") == "berakhot-items"
    long_a, long_b = "a" * 60 + "x", "a" * 60 + "y"
    assert builders.job_name(long_a) != builders.job_name(long_b)
    assert builders.job_name("a.b") != builders.job_name("a-b")


def test_the_job_is_a_valid_indexed_job_over_the_items() -> None:
    job = job_for(parallelism=3)
    assert k8s_problems(job, "job-batch-v1.json") == []
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 5, 3)
    assert (spec["backoffLimitPerIndex"], spec["suspend"]) == (2, False)
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert job["metadata"]["name"] == "berakhot-rerun-align"
    assert job["metadata"]["labels"]["timestamp.dafyomi.io/run"] == "berakhot-rerun"


def test_parallelism_never_exceeds_the_items_and_suspend_is_passed_on() -> None:
    spec = job_for(parallelism=64, suspend=True)["spec"]
    assert (spec["parallelism"], spec["suspend"]) == (5, True)


def test_the_worker_runs_batch_mode_on_the_mounted_items() -> None:
    job = job_for()
    container = worker(job)
    assert container["command"] == [
        "timestamp",
        "batch",
        "/etc/alignment-run/items.json",
        "--outcome-file",
        "/dev/termination-log",
    ]
    assert "args" not in container
    assert {"name": "alignment-run-items", "mountPath": "/etc/alignment-run", "readOnly": True} in container[
        "volumeMounts"
    ]
    volumes = job["spec"]["template"]["spec"]["volumes"]
    assert {"name": "alignment-run-items", "configMap": {"name": "berakhot-rerun-items"}} in volumes
    assert (container["terminationMessagePath"], container["terminationMessagePolicy"]) == (
        "/dev/termination-log",
        "FallbackToLogsOnError",
    )


def test_the_chart_template_is_kept_and_not_modified() -> None:
    before = copy.deepcopy(POD_TEMPLATE)
    job = job_for()
    assert before == POD_TEMPLATE
    pod = job["spec"]["template"]
    assert pod["spec"]["nodeSelector"] == POD_TEMPLATE["spec"]["nodeSelector"]
    assert pod["spec"]["tolerations"] == POD_TEMPLATE["spec"]["tolerations"]
    assert worker(job)["envFrom"] == POD_TEMPLATE["spec"]["containers"][0]["envFrom"]
    assert worker(job)["securityContext"] == POD_TEMPLATE["spec"]["containers"][0]["securityContext"]
    assert {"name": "tmp", "emptyDir": {}} in pod["spec"]["volumes"]
    # The pods keep the chart's labels (its component among them) and gain the run's.
    assert pod["metadata"]["labels"] == {
        **POD_TEMPLATE["metadata"]["labels"],
        "timestamp.dafyomi.io/run": "berakhot-rerun",
    }


def test_overrides_become_worker_env_and_resources() -> None:
    job = job_for(
        overrides={
            "model": "large-v3",
            "tokenStep": 50,
            "resources": {"requests": {"memory": "16Gi"}, "limits": {"memory": "24Gi"}},
        }
    )
    env = worker(job)["env"]
    assert [e for e in env if e["name"] == "WHISPER_MODEL"] == [
        {"name": "WHISPER_MODEL", "value": "large-v3"}
    ]
    assert {"name": "TOKEN_STEP", "value": "50"} in env and {"name": "HOME", "value": "/tmp"} in env
    assert worker(job)["resources"] == {
        "requests": {"cpu": "2", "memory": "16Gi"},
        "limits": {"nvidia.com/gpu": 1, "memory": "24Gi"},
    }
    assert k8s_problems(job, "job-batch-v1.json") == []


def test_exit_codes_decide_retries() -> None:
    rules = job_for()["spec"]["podFailurePolicy"]["rules"]
    by_action = {rule["action"]: rule for rule in rules}
    assert by_action["FailJob"]["onExitCodes"]["values"] == [builders.EXIT_CONFIG]
    assert by_action["FailIndex"]["onExitCodes"]["values"] == [builders.EXIT_PERMANENT]
    assert all(r["onExitCodes"]["containerName"] == "worker" for r in rules if "onExitCodes" in r)
    assert by_action["Ignore"]["onPodConditions"] == [{"type": "DisruptionTarget", "status": "True"}]
    # Transient failures (75) and crashes match no rule: they are retried up to backoffLimitPerIndex.
    assert builders.EXIT_TRANSIENT not in [
        v for r in rules for v in r.get("onExitCodes", {}).get("values", [])
    ]


def test_exit_codes_are_the_workers() -> None:
    from worker import cli
    from worker.cloud import batch

    assert (builders.EXIT_PERMANENT, builders.EXIT_TRANSIENT) == (batch.EXIT_PERMANENT, batch.EXIT_TRANSIENT)
    assert builders.EXIT_CONFIG == cli.EXIT_CONFIG
    assert str(batch.TERMINATION_LOG) == builders.TERMINATION_LOG


def test_the_items_file_is_the_workers_batch_format() -> None:
    from worker.cloud.batch import BatchItems

    items = [Item(audio_key=i["audioKey"], text_key=i["textKey"]) for i in ITEMS]
    configmap = builders.build_items_configmap("berakhot-rerun", items)
    assert k8s_problems(configmap, "configmap-v1.json") == []
    assert configmap["immutable"] is True
    document = configmap["data"][builders.ITEMS_KEY]
    parsed = BatchItems.model_validate_json(document).items
    assert [(j.audio_key, j.text_key) for j in parsed] == [(i.audio_key, i.text_key) for i in items]
    assert builders.parse_items_document(document) == items


def test_only_suspend_and_parallelism_follow_a_started_job() -> None:
    job = job_for(parallelism=2)
    assert builders.job_spec_changes(job, parse_spec({"items": ITEMS, "parallelism": 2})) == {}
    changes = builders.job_spec_changes(job, parse_spec({"items": ITEMS, "parallelism": 9, "suspend": True}))
    assert changes == {"parallelism": 5, "suspend": True}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[a, b", "not YAML"),
        ("- a list", "a mapping"),
        ("spec: {containers: [{name: other}]}", "exactly one container named 'worker'"),
        ("spec: {containers: [{name: worker}, {name: worker}]}", "exactly one container"),
    ],
)
def test_an_unusable_pod_template_is_refused(text: str, problem: str) -> None:
    with pytest.raises(builders.PodTemplateError, match=problem):
        builders.load_pod_template(text)


def test_the_pod_template_loads() -> None:
    import yaml

    assert builders.load_pod_template(yaml.safe_dump(POD_TEMPLATE)) == POD_TEMPLATE


def test_an_item_list_too_big_for_a_configmap_is_refused() -> None:
    fits = [Item(audio_key=f"b/{n:04}.mp3", text_key=f"b/{n:04}.txt") for n in range(5000)]
    assert len(builders.items_document(fits).encode()) < builders.MAX_ITEMS_BYTES
    long = [Item(audio_key="a" * 200 + f"{n}.mp3", text_key="t" * 200 + f"{n}.txt") for n in range(5000)]
    with pytest.raises(builders.TooManyItems, match="split the run"):
        builders.items_document(long)


def test_a_hung_pod_and_a_finished_job_do_not_hold_their_gpus_forever() -> None:
    job = job_for()
    assert job["spec"]["template"]["spec"]["activeDeadlineSeconds"] == LIMITS.item_deadline_seconds
    assert job["spec"]["activeDeadlineSeconds"] == LIMITS.run_deadline_seconds
    assert job["spec"]["ttlSecondsAfterFinished"] == LIMITS.ttl_seconds_after_finished
    assert k8s_problems(job, "job-batch-v1.json") == []


def test_a_jobs_gpus_count_until_it_finishes() -> None:
    job = job_for(parallelism=3)
    assert builders.job_gpus(job) == 3  # 3 pods x the worker's 1 GPU, suspended or not
    job["spec"]["suspend"] = True
    assert builders.job_gpus(job) == 3  # reserved: resuming must not exceed the cap
    job["status"] = {"conditions": [{"type": "Failed", "status": "True"}]}
    assert builders.job_gpus(job) == 0


def test_the_items_digest_is_on_the_configmap_and_names_its_content() -> None:
    items = [Item(audio_key=i["audioKey"], text_key=i["textKey"]) for i in ITEMS]
    configmap = builders.build_items_configmap("r", items)
    digest = configmap["metadata"]["annotations"][builders.ITEMS_DIGEST]
    assert digest == builders.items_digest(configmap["data"][builders.ITEMS_KEY])
    assert (
        digest
        != builders.build_items_configmap("r", items[:-1])["metadata"]["annotations"][builders.ITEMS_DIGEST]
    )
