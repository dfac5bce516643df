"""The ScaledJob: the old Auto Scaling Group policy's intent, GPU scheduling, the Job's lifecycle, IRSA."""

from __future__ import annotations

from typing import Any

import yaml

from tests.chart.chart import CHART, Helm, of_kind, only, worker_container, worker_template

CI = CHART / "ci"
Objects = list[dict[str, Any]]


def test_trigger_watches_the_queue_the_worker_reads(helm: Helm) -> None:
    objects = helm.template(CI / "07-emulator-values.yaml")
    metadata = only(objects, "ScaledJob")["spec"]["triggers"][0]["metadata"]
    env = only(objects, "ConfigMap")["data"]
    assert metadata["queueURL"] == env["SQS_QUEUE_URL"]
    assert metadata["awsRegion"] == env["AWS_REGION"]
    assert metadata["awsEndpoint"] == env["AWS_ENDPOINT_URL"]


def test_jobs_drain_and_exit(default_objects: Objects) -> None:
    """Each Job stops after its lectures, or after waiting idle: KEDA never has to stop one."""
    env = only(default_objects, "ConfigMap")["data"]
    assert int(env["MAX_MESSAGES"]) >= 1
    assert float(env["IDLE_TIMEOUT_SECONDS"]) > float(env.get("VISIBILITY_TIMEOUT_SECONDS", 120))


def test_a_job_fits_its_lectures(default_objects: Objects) -> None:
    job = only(default_objects, "ScaledJob")["spec"]["jobTargetRef"]
    env = only(default_objects, "ConfigMap")["data"]
    tail = float(env["IDLE_TIMEOUT_SECONDS"]) + float(env["SHUTDOWN_GRACE_SECONDS"])
    start = 15 * 60  # GPU node provisioning and the image pull
    # MAX_MESSAGES 60-minute lectures at 0.2x real time (several times what is measured), or one at real time.
    needed = start + max(int(env["MAX_MESSAGES"]) * 12 * 60, 60 * 60) + tail
    assert needed <= job["activeDeadlineSeconds"] <= 3 * 60 * 60
    assert job["backoffLimit"] == 0
    rules = job["podFailurePolicy"]["rules"]
    disruption = {"type": "DisruptionTarget", "status": "True"}
    assert rules[0] == {"action": "Ignore", "onPodConditions": [disruption]}
    # A lecture that failed for good: the worker exits 1 in drain mode, the Job is Failed, no retry pod.
    assert {
        "action": "FailJob",
        "onExitCodes": {"containerName": "worker", "operator": "In", "values": [1]},
    } in rules
    spec = job["template"]["spec"]
    assert spec["restartPolicy"] == "Never"
    # SIGTERM: the worker finishes or releases its message within SHUTDOWN_GRACE_SECONDS, before SIGKILL.
    assert spec["terminationGracePeriodSeconds"] >= float(env["SHUTDOWN_GRACE_SECONDS"]) + 10


def test_gpu_by_default(default_objects: Objects) -> None:
    """The GPU request and the toleration keep pods on GPU nodes; no label that only exists once a node runs
    GPU feature discovery (Karpenter, EKS Auto Mode and the cluster-autoscaler could not provision for it)."""
    spec = worker_template(default_objects)["spec"]
    assert worker_container(default_objects)["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "nodeSelector" not in spec
    assert "affinity" not in spec
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]


def test_running_alignments_are_not_evicted_by_autoscalers(default_objects: Objects) -> None:
    annotations = worker_template(default_objects)["metadata"]["annotations"]
    assert annotations["karpenter.sh/do-not-disrupt"] == "true"
    assert annotations["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"


def test_custom_gpu_selectors(helm: Helm) -> None:
    objects = helm.template(CI / "04-custom-gpu-values.yaml")
    spec = worker_template(objects)["spec"]
    limits = worker_container(objects)["resources"]["limits"]
    assert limits == {"memory": "24Gi", "nvidia.com/mig-3g.40gb": "1"}
    assert worker_container(objects)["resources"]["requests"]["cpu"] == "3.5"  # `cpu: 3.5` in values
    assert spec["nodeSelector"] == {
        "karpenter.k8s.aws/instance-gpu-manufacturer": "nvidia",
        "karpenter.sh/nodepool": "gpu-alignment",
    }
    assert len(spec["tolerations"]) == 2
    assert spec["priorityClassName"] == "batch-gpu"
    assert only(objects, "ScaledJob")["spec"]["maxReplicaCount"] == 4


def test_cpu_only(helm: Helm) -> None:
    objects = helm.template(CI / "07-emulator-values.yaml")
    spec = worker_template(objects)["spec"]
    assert "nvidia.com/gpu" not in yaml.safe_dump(worker_container(objects)["resources"])
    assert "nodeSelector" not in spec
    assert "tolerations" not in spec


def test_worker_uses_irsa(helm: Helm) -> None:
    objects = helm.template(CI / "02-irsa-role-values.yaml")
    (account,) = of_kind(objects, "ServiceAccount")
    assert account["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/gpu-timestamp-worker"
    }
    assert worker_template(objects)["spec"]["serviceAccountName"] == account["metadata"]["name"]
    auth = only(objects, "TriggerAuthentication")
    assert auth["spec"] == {
        "podIdentity": {
            "provider": "aws",
            "roleArn": "arn:aws:iam::123456789012:role/gpu-timestamp-keda-scaler",
        }
    }
    (trigger,) = only(objects, "ScaledJob")["spec"]["triggers"]
    assert trigger["authenticationRef"] == {"name": auth["metadata"]["name"]}


def test_no_static_credentials_unless_asked(helm: Helm, default_objects: Objects) -> None:
    for objects in (default_objects, helm.template(CI / "03-static-credentials-off-values.yaml")):
        assert only(objects, "TriggerAuthentication")["spec"].keys() == {"podIdentity"}
        assert not of_kind(objects, "Secret")
        rendered = yaml.safe_dump_all(objects)
        assert "AWS_ACCESS_KEY_ID" not in rendered and "AWS_SECRET_ACCESS_KEY" not in rendered
    workload = helm.template(CI / "03-static-credentials-off-values.yaml")
    assert only(workload, "TriggerAuthentication")["spec"]["podIdentity"] == {
        "provider": "aws",
        "identityOwner": "workload",
    }


def test_static_credentials_come_from_an_existing_secret(helm: Helm) -> None:
    objects = helm.template(CI / "07-emulator-values.yaml")
    refs = only(objects, "TriggerAuthentication")["spec"]["secretTargetRef"]
    assert {(r["parameter"], r["name"], r["key"]) for r in refs} == {
        ("awsAccessKeyID", "emulator-credentials", "AWS_ACCESS_KEY_ID"),
        ("awsSecretAccessKey", "emulator-credentials", "AWS_SECRET_ACCESS_KEY"),
    }
    assert {"secretRef": {"name": "emulator-credentials"}} in worker_container(objects)["envFrom"]
    assert not of_kind(objects, "Secret")


def test_notes_say_how_to_watch_it_scale(helm: Helm) -> None:
    notes = helm.notes(CI / "01-default-values.yaml")
    assert "kubectl -n alignment get jobs -l scaledjob.keda.sh/name=dafyomi-gpu-timestamp --watch" in notes
    assert "ApproximateNumberOfMessagesNotVisible" in notes
