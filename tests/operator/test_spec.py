"""The spec model: what a run may say, the messages that name a problem, the worker's own limits."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from timestamp_operator.spec import InvalidSpec, Overrides, parse_spec

from worker.settings import Backend
from worker.settings import Settings as WorkerSettings

ITEMS = [{"audioKey": "berakhot/002.mp3", "textKey": "berakhot/002.txt"}]


def test_a_list_run_with_overrides() -> None:
    spec = parse_spec(
        {
            "items": ITEMS,
            "overrides": {
                "model": "large-v3",
                "backend": "openai",
                "language": "he",
                "tokenStep": 100,
                "resources": {"limits": {"memory": "24Gi", "nvidia.com/gpu": 1}},
            },
            "parallelism": 3,
        }
    )
    assert spec.items and spec.items[0].text_key == "berakhot/002.txt"
    assert spec.selection is None and spec.parallelism == 3 and spec.suspend is False
    assert spec.overrides.worker_env() == {
        "WHISPER_MODEL": "large-v3",
        "WHISPER_BACKEND": "openai",
        "LANGUAGE": "he",
        "TOKEN_STEP": "100",
    }
    assert spec.overrides.resources and spec.overrides.resources.limits == {
        "memory": "24Gi",
        "nvidia.com/gpu": 1,
    }


def test_a_selection_run_takes_the_defaults() -> None:
    spec = parse_spec({"selection": {"prefix": "berakhot/", "maxItems": 10}})
    assert spec.selection and (spec.selection.pattern, spec.selection.max_items) == ("*.txt", 10)
    assert spec.overrides.worker_env() == {}


def test_unset_overrides_set_no_variable() -> None:
    assert Overrides(language="yi").worker_env() == {"LANGUAGE": "yi"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({}, "spec: set exactly one of `items` (an explicit list) or `selection` (an S3 prefix)"),
        (
            {"items": ITEMS, "overrides": {"tokenStep": 0}},
            "spec.overrides.tokenStep: Input should be greater than or equal to 1",
        ),
        ({"items": [{"audioKey": "a.mp3"}]}, "spec.items[0].textKey: Field required"),
        (
            {"selection": {"prefix": "x/", "maxItems": 1, "glob": "*"}},
            "spec.selection.glob: Extra inputs are not permitted",
        ),
        (
            {"items": [*ITEMS, {**ITEMS[0], "audioKey": "other.mp3"}]},
            "spec: items[1].textKey 'berakhot/002.txt' is listed twice",
        ),
        ({"items": ITEMS, "parallelism": 65}, "spec.parallelism: Input should be less than or equal to 64"),
    ],
)
def test_problems_are_named_by_their_field(spec: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidSpec) as raised:
        parse_spec(spec)
    assert str(raised.value) == message


def test_many_problems_are_summarised() -> None:
    bad = {"items": ITEMS, "overrides": {"tokenStep": 0, "language": "HE", "backend": "x", "model": ""}}
    with pytest.raises(InvalidSpec) as raised:
        parse_spec(bad)
    assert str(raised.value).count("spec.overrides.") == 3 and str(raised.value).endswith("(and 1 more)")


@pytest.mark.parametrize(
    ("variable", "field", "value"),
    [
        ("token_step", "tokenStep", 1001),
        ("language", "language", "HEB"),
        ("whisper_model", "model", ""),
        ("whisper_backend", "backend", "ct2"),
    ],
)
def test_an_override_the_worker_would_refuse_is_refused(variable: str, field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        WorkerSettings(**{variable: value})  # type: ignore[arg-type]
    with pytest.raises(InvalidSpec):
        parse_spec({"items": ITEMS, "overrides": {field: value}})


def test_numbers_and_flags_are_not_read_from_strings() -> None:
    for spec in ({"parallelism": "2"}, {"suspend": "true"}, {"overrides": {"tokenStep": "200"}}):
        with pytest.raises(InvalidSpec):
            parse_spec({"items": ITEMS, **spec})


def test_every_backend_of_the_worker_is_accepted() -> None:
    for backend in Backend:
        assert (
            parse_spec({"items": ITEMS, "overrides": {"backend": backend.value}}).overrides.backend is backend
        )
