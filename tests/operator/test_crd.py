"""The AlignmentRun CRD: a valid, structural CRD; it accepts examples/ and refuses malformed runs;
it agrees with the operator's spec model; the chart renders exactly this file."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from timestamp_operator.spec import API_GROUP, API_VERSION, KIND, PLURAL, InvalidSpec, parse_spec

from tests.chart.chart import find_helm
from tests.operator.k8s_schemas import REPO, cel_problems, crd_problems, k8s_problems, load_crd, run_schema

EXAMPLES = sorted((REPO / "examples").glob("alignmentrun-*.yaml"))
ITEMS = [{"audioKey": "berakhot/002.mp3", "textKey": "berakhot/002.txt"}]
JUNCTORS = ("allOf", "anyOf", "oneOf", "not")
# Inside a junctor a structural schema may only restate value validations (k8s.io/apiextensions).
FORBIDDEN_IN_JUNCTORS = {"type", "default", "description", "additionalProperties", "nullable", "properties"}
INT_OR_STRING = [{"type": "integer"}, {"type": "string"}]


def run(spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": KIND, "metadata": {"name": "r"}, "spec": spec}


def test_the_crd_is_a_valid_kubernetes_object() -> None:
    assert k8s_problems(load_crd(), "customresourcedefinition-apiextensions-v1.json") == []


def test_names_and_subresources() -> None:
    crd = load_crd()
    assert crd["metadata"]["name"] == f"{PLURAL}.{API_GROUP}"
    assert crd["spec"]["group"] == API_GROUP and crd["spec"]["scope"] == "Namespaced"
    names = crd["spec"]["names"]
    assert (names["kind"], names["plural"], names["shortNames"]) == (KIND, PLURAL, ["arun"])
    (version,) = crd["spec"]["versions"]
    assert version["name"] == API_VERSION and version["served"] and version["storage"]
    assert version["subresources"] == {"status": {}}


def _schema_at(schema: dict[str, Any], json_path: str) -> dict[str, Any]:
    for part in json_path.strip(".").split("."):
        schema = schema["properties"][part]
    return schema


def test_printer_columns_show_phase_done_failed_age_and_exist_in_the_schema() -> None:
    (version,) = load_crd()["spec"]["versions"]
    columns = version["additionalPrinterColumns"]
    assert [c["name"] for c in columns if not c.get("priority")] == ["Phase", "Done", "Failed", "Age"]
    schema = run_schema()
    for column in columns:
        if column["jsonPath"] != ".metadata.creationTimestamp":
            assert _schema_at(schema, column["jsonPath"])["type"] == column["type"]


def _structural_problems(schema: dict[str, Any], where: str = "", in_junctor: bool = False) -> list[str]:
    problems = []
    if in_junctor:
        problems += [f"{where}: {key} inside a junctor" for key in FORBIDDEN_IN_JUNCTORS & set(schema)]
    elif "type" not in schema and not schema.get("x-kubernetes-int-or-string"):
        problems.append(f"{where}: no type")
    if "properties" in schema and "additionalProperties" in schema:
        problems.append(f"{where}: properties and additionalProperties together")
    if "$ref" in schema:
        problems.append(f"{where}: $ref")
    for key, sub in (schema.get("properties") or {}).items():
        problems += _structural_problems(sub, f"{where}.{key}", in_junctor)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            problems += _structural_problems(schema[key], f"{where}.{key}", in_junctor)
    if schema.get("x-kubernetes-int-or-string") and schema.get("anyOf") == INT_OR_STRING:
        schema = {key: value for key, value in schema.items() if key != "anyOf"}  # the allowed exception
    for junctor in JUNCTORS:
        for index, sub in enumerate(
            schema.get(junctor, []) if junctor != "not" else [schema.get("not") or {}]
        ):
            if sub:
                problems += _structural_problems(sub, f"{where}.{junctor}[{index}]", in_junctor=True)
    return problems


def test_the_schema_is_structural_and_strict() -> None:
    schema = run_schema()
    assert _structural_problems(schema) == []
    text = yaml.safe_dump(schema)
    assert "x-kubernetes-preserve-unknown-fields" not in text  # unknown fields are refused, not kept
    assert schema["properties"]["metadata"] == {"type": "object"}


def test_defaults_are_valid_and_match_the_model() -> None:
    spec = run_schema()["properties"]["spec"]["properties"]
    defaults = {"parallelism": 1, "suspend": False}
    assert {k: spec[k]["default"] for k in defaults} == defaults
    assert spec["selection"]["properties"]["pattern"]["default"] == "*.txt"
    model = parse_spec({"selection": {"prefix": "p/", "maxItems": 1}})
    assert (model.parallelism, model.suspend, model.selection and model.selection.pattern) == (
        1,
        False,
        "*.txt",
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_examples_are_accepted_by_the_crd_and_the_operator(example: Path) -> None:
    manifest = yaml.safe_load(example.read_text())
    assert crd_problems(manifest) == []
    assert (manifest["apiVersion"], manifest["kind"]) == (f"{API_GROUP}/{API_VERSION}", KIND)
    parse_spec(manifest["spec"])


def test_there_are_examples_of_each_kind() -> None:
    names = {e.name for e in EXAMPLES}
    assert {"alignmentrun-list.yaml", "alignmentrun-prefix.yaml", "alignmentrun-larger-model.yaml"} <= names


# (spec, what the API server's message must mention); each is refused by the CRD and by the operator.
MALFORMED = {
    "neither-source": ({"parallelism": 2}, "valid under"),
    "both-sources": ({"items": ITEMS, "selection": {"prefix": "a/", "maxItems": 1}}, "valid under"),
    "empty-items": ({"items": []}, "items"),
    "item-without-text": ({"items": [{"audioKey": "a.mp3"}]}, "textKey"),
    "duplicate-text": ({"items": [ITEMS[0], {**ITEMS[0], "audioKey": "b.mp3"}]}, "duplicate"),
    "unknown-item-field": ({"items": [{**ITEMS[0], "language": "he"}]}, "unknown field"),
    "unknown-spec-field": ({"items": ITEMS, "priority": 1}, "unknown field"),
    "selection-without-max": ({"selection": {"prefix": "a/"}}, "maxItems"),
    "too-many": ({"selection": {"prefix": "a/", "maxItems": 5001}}, "5000"),
    "empty-prefix": ({"selection": {"prefix": "", "maxItems": 1}}, "prefix"),
    "zero-parallelism": ({"items": ITEMS, "parallelism": 0}, "parallelism"),
    "parallelism-as-text": ({"items": ITEMS, "parallelism": "2"}, "parallelism"),
    "bad-backend": ({"items": ITEMS, "overrides": {"backend": "whisper.cpp"}}, "backend"),
    "bad-language": ({"items": ITEMS, "overrides": {"language": "Hebrew"}}, "language"),
    "bad-token-step": ({"items": ITEMS, "overrides": {"tokenStep": 1001}}, "tokenStep"),
    "bad-quantity": ({"items": ITEMS, "overrides": {"resources": {"limits": {"memory": "lots"}}}}, "memory"),
    "suspend-as-text": ({"items": ITEMS, "suspend": "yes"}, "suspend"),
}


@pytest.mark.parametrize(("spec", "mentioned"), MALFORMED.values(), ids=list(MALFORMED))
def test_malformed_runs_are_refused_by_the_crd_and_the_operator(spec: dict[str, Any], mentioned: str) -> None:
    problems = crd_problems(run(spec))
    assert problems, "the CRD accepted it"
    assert mentioned in " ".join(problems)
    with pytest.raises(InvalidSpec):
        parse_spec(spec)


def test_a_run_needs_a_spec() -> None:
    assert crd_problems({"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": KIND, "metadata": {"name": "r"}})


@pytest.mark.parametrize(
    "spec",
    [
        {
            "items": ITEMS,
            "overrides": {"model": "large-v3", "backend": "openai", "language": "yi", "tokenStep": 1},
        },
        {
            "items": ITEMS,
            "overrides": {"tokenStep": 1000, "resources": {"requests": {"cpu": 2, "memory": "1.5Gi"}}},
        },
        {"selection": {"prefix": "x", "maxItems": 5000, "pattern": "x/[0-9]*.txt"}, "parallelism": 64},
        {"items": ITEMS * 1, "suspend": True},
    ],
)
def test_the_crd_and_the_model_agree_on_valid_runs(spec: dict[str, Any]) -> None:
    assert crd_problems(run(spec)) == []
    parse_spec(copy.deepcopy(spec))


def test_the_chart_renders_this_crd_only_when_enabled() -> None:
    helm = find_helm()  # the chart tests' helm: fetched into .tools/bin when absent

    def rendered(*values: str) -> list[dict[str, Any]]:
        args = [
            helm,
            "template",
            "t",
            str(REPO / "charts" / "gpu-timestamp"),
            "--api-versions",
            "keda.sh/v1alpha1",  # a cluster with KEDA (the chart refuses to install without it)
            "--set",
            "worker.env.SQS_QUEUE_URL=https://sqs.us-east-1.amazonaws.com/1/q",
        ]
        for value in values:
            args += ["--set", value]
        output = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        return [d for d in yaml.safe_load_all(output) if d and d.get("kind") == "CustomResourceDefinition"]

    assert rendered("operator.enabled=true") == [load_crd()]
    assert rendered("operator.enabled=true", "operator.crd.create=false") == []
    assert rendered("operator.enabled=false") == []


def test_uninstalling_the_chart_keeps_the_crd_and_every_run() -> None:
    assert load_crd()["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


SELECTED = {"selection": {"prefix": "berakhot/", "maxItems": 10}}
# (old spec, edited spec, what the API server's message says; None: accepted)
EDITS = {
    "suspend": ({"items": ITEMS}, {"items": ITEMS, "suspend": True}, None),
    "parallelism": ({**SELECTED, "parallelism": 1}, {**SELECTED, "parallelism": 8}, None),
    "same-overrides": (
        {"items": ITEMS, "overrides": {"model": "large-v3"}},
        {"items": ITEMS, "overrides": {"model": "large-v3"}, "suspend": True},
        None,
    ),
    "item-changed": ({"items": ITEMS}, {"items": [{**ITEMS[0], "audioKey": "b.mp3"}]}, "items are immutable"),
    "item-added": ({"items": ITEMS}, {"items": [*ITEMS, {"audioKey": "c.mp3", "textKey": "c.txt"}]}, "items"),
    "selection-changed": (
        SELECTED,
        {"selection": {"prefix": "shabbat/", "maxItems": 10}},
        "selection is immutable",
    ),
    "items-to-selection": ({"items": ITEMS}, SELECTED, "cannot be added or removed"),
    "overrides-changed": (
        {"items": ITEMS, "overrides": {"model": "base"}},
        {"items": ITEMS, "overrides": {"model": "large-v3"}},
        "overrides are immutable",
    ),
    "overrides-added": (
        {"items": ITEMS},
        {"items": ITEMS, "overrides": {"tokenStep": 50}},
        "cannot be added",
    ),
    "overrides-removed": (
        {"items": ITEMS, "overrides": {"tokenStep": 50}},
        {"items": ITEMS},
        "cannot be added",
    ),
}


@pytest.mark.parametrize(("old", "new", "refused"), EDITS.values(), ids=list(EDITS))
def test_cel_rules_keep_what_a_run_aligns_immutable(
    old: dict[str, Any], new: dict[str, Any], refused: str | None
) -> None:
    assert cel_problems(run(old)) == []  # creating either is fine: the rules compare with the old run
    assert cel_problems(run(new)) == []
    problems = cel_problems(run(new), run(old))
    if refused is None:
        assert problems == []
    else:
        assert problems and refused in " ".join(problems)


def test_an_explicit_list_holds_1000_items_and_steers_bigger_sets_to_selection() -> None:
    listed = [{"audioKey": f"b/{n}.mp3", "textKey": f"b/{n}.txt"} for n in range(1001)]
    assert crd_problems(run({"items": listed[:1000]})) == []
    assert crd_problems(run({"items": listed}))  # maxItems: 1000
    with pytest.raises(InvalidSpec, match="align more with `selection`"):
        parse_spec({"items": listed})
    description = run_schema()["properties"]["spec"]["properties"]["items"]["description"]
    assert "selection" in description
