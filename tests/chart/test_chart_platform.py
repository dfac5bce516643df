"""What platform teams expect of the chart: KEDA's labels, proxies, digests, spreading, network policy,
a GPU quota, `helm test`, keeping the CRD, and a readable refusal without KEDA."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from tests.chart.chart import CHART, Helm, HelmError, of_kind, only, worker_container, worker_template

CI = CHART / "ci"
DEFAULT = CI / "01-default-values.yaml"
CUSTOM = CI / "04-custom-gpu-values.yaml"
Objects = list[dict[str, Any]]


def test_keda_labels_its_jobs_not_helm(default_objects: Objects) -> None:
    """KEDA copies the ScaledJob's labels onto its Jobs: Helm's are excluded; pods carry no Helm labels."""
    scaled_job = only(default_objects, "ScaledJob")
    excluded = scaled_job["metadata"]["annotations"]["scaledjob.keda.sh/job-excluded-labels"].split(",")
    copied = {k: v for k, v in scaled_job["metadata"]["labels"].items() if k not in excluded}
    assert "app.kubernetes.io/managed-by" not in copied and "helm.sh/chart" not in copied
    pod_labels = worker_template(default_objects)["metadata"]["labels"]
    assert "app.kubernetes.io/managed-by" not in pod_labels and "helm.sh/chart" not in pod_labels
    assert pod_labels["app.kubernetes.io/component"] == "worker"


def test_extra_env_volumes_runtime_spread_and_digest(helm: Helm) -> None:
    objects = helm.template(CUSTOM)
    container, spec = worker_container(objects), worker_template(objects)["spec"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["HTTPS_PROXY"] == "http://proxy.internal:3128"
    assert env["AWS_STS_REGIONAL_ENDPOINTS"] == "regional"
    assert {"name": "proxy-ca", "mountPath": "/etc/ssl/proxy", "readOnly": True} in container["volumeMounts"]
    assert {"name": "proxy-ca", "configMap": {"name": "proxy-ca"}} in spec["volumes"]
    assert spec["runtimeClassName"] == "nvidia"
    (spread,) = spec["topologySpreadConstraints"]
    assert spread["labelSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "dafyomi"  # templated
    repository = "123456789012.dkr.ecr.us-east-1.amazonaws.com/gpu-timestamp"
    assert container["image"].startswith(f"{repository}:0.1.0@sha256:")


def test_digest_alone_pins_the_image(helm: Helm) -> None:
    digest = "sha256:" + "a" * 64
    objects = helm.template(DEFAULT, set_json=(f'image={{"repository": "r/x", "digest": "{digest}"}}',))
    assert worker_container(objects)["image"] == f"r/x@{digest}"


def test_network_policy_blocks_the_metadata_service(helm: Helm, default_objects: Objects) -> None:
    assert not of_kind(default_objects, "NetworkPolicy")
    policy = only(helm.template(CUSTOM), "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in policy
    assert policy["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "worker"
    egress = policy["egress"]
    https = [r for r in egress if {"port": 443, "protocol": "TCP"} in r.get("ports", [])]
    assert [b["ipBlock"] for r in https for b in r["to"]] == [
        {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}
    ]
    assert any({"port": 53, "protocol": "UDP"} in r.get("ports", []) for r in egress)
    reachable = [b["ipBlock"] for r in egress for b in r.get("to", [])]
    assert not any(b["cidr"].startswith("169.254.169.254") for b in reachable)


def test_gpu_quota_caps_the_namespace(helm: Helm) -> None:
    quota = only(helm.template(CUSTOM), "ResourceQuota")
    assert quota["spec"]["hard"] == {"requests.nvidia.com/mig-3g.40gb": "4"}  # maxReplicaCount 4 × 1 GPU


def test_helm_test_reads_the_queue_as_the_worker(default_objects: Objects) -> None:
    (pod,) = of_kind(default_objects, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["serviceAccountName"] == worker_template(default_objects)["spec"]["serviceAccountName"]
    (container,) = pod["spec"]["containers"]
    assert container["image"] == worker_container(default_objects)["image"]
    assert container["envFrom"] == worker_container(default_objects)["envFrom"]
    assert "get_queue_attributes" in container["command"][-1]
    assert "nvidia.com/gpu" not in yaml.safe_dump(container["resources"])


def test_the_crd_survives_uninstall(helm: Helm) -> None:
    crd = only(helm.template(CI / "05-operator-values.yaml"), "CustomResourceDefinition")
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_without_keda_the_install_stops_readably(helm: Helm) -> None:
    with pytest.raises(
        HelmError, match=r"KEDA is not installed: this cluster serves no keda\.sh/v1alpha1 API"
    ):
        helm.template(DEFAULT, keda=False)
    objects = helm.template(DEFAULT, set_json=('keda={"requireCRDs": false}',), keda=False)
    assert only(objects, "ScaledJob")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ("worker: {resources: {requests: {cpu: lots}}}", "at '/worker/resources/requests/cpu'"),
        ("worker: {extraEnv: [{value: x}]}", "missing property 'name'"),
        ("image: {digest: latest}", "at '/image/digest'"),
        ("networkPolicy: {httpsCidrs: [s3.amazonaws.com]}", "at '/networkPolicy/httpsCidrs/0'"),
        ("gpuQuota: {enabled: true, gpus: 1}", "gpuQuota.gpus (1) is below"),
    ],
)
def test_bad_platform_values_are_refused(helm: Helm, tmp_path: Path, values: str, message: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(values + "\n")
    with pytest.raises(HelmError) as refused:
        helm.template(DEFAULT, bad)
    assert message in str(refused.value)


def test_helm_test_reports_the_queue_or_why_not(helm: Helm, moto_endpoint: str) -> None:
    sqs = boto3.client(
        "sqs", endpoint_url=moto_endpoint, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    url = sqs.create_queue(QueueName=f"hook-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    for body in ("a", "b"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    objects = helm.template(
        CI / "07-emulator-values.yaml",
        set_json=(f'worker.env.SQS_QUEUE_URL="{url}"', f'worker.env.AWS_ENDPOINT_URL="{moto_endpoint}"'),
    )
    (pod,) = of_kind(objects, "Pod")
    (container,) = pod["spec"]["containers"]
    # The pod's environment: the worker's ConfigMap, its env, and what the emulator Secret holds.
    env = dict(only(objects, "ConfigMap")["data"]) | {e["name"]: e["value"] for e in container["env"]}
    env |= {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "PATH": os.environ["PATH"]}
    assert container["command"][0] == "python"  # the image's venv python; here the project's
    command = [sys.executable, *container["command"][1:]]

    found = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == f"{url}: 2 waiting, 0 in flight"
    missing = url.rsplit("/", 1)[0] + "/no-such-queue"
    refused = subprocess.run(command, env=env | {"SQS_QUEUE_URL": missing}, capture_output=True, text=True)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1].startswith(f"the worker cannot read {missing}: ")
