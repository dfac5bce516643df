"""The AlignmentRun resource as strict models: the spec a user writes, the status the operator writes.

Field names are the resource's camelCase names (aliases); Python code uses snake_case. The CRD's
openAPIV3Schema (charts/gpu-timestamp/files/crd-alignmentrun.yaml) says the same in OpenAPI, so the
API server rejects most mistakes at `kubectl apply`; this model is the operator's own check (it also
covers what OpenAPI cannot say, and clusters whose CRD is older). tests/operator checks the two agree.
The worker's overrides reuse the worker's own field constraints, so a run cannot pass a value the
worker would refuse at start-up.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from worker.settings import Backend
from worker.settings import Settings as WorkerSettings

API_GROUP = "timestamp.dafyomi.io"
API_VERSION = "v1alpha1"
KIND = "AlignmentRun"
PLURAL = "alignmentruns"

MAX_ITEMS = 5000  # one Job completion each; the list must also fit a ConfigMap (see builders.MAX_ITEMS_BYTES)
# An explicit list lives in the run's spec, which kubectl's last-applied annotation (256 KiB for all
# annotations) carries whole: ~1,000 items of typical keys fit. Bigger sets are a `selection`.
MAX_LISTED_ITEMS = 1000
MAX_KEY_LENGTH = 1024  # S3's own limit
MAX_PARALLELISM = 64
GPU = "nvidia.com/gpu"

# Kubernetes' resource.Quantity, as its OpenAPI schema states it.
QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


def _worker_constraints(name: str) -> Any:
    """The worker setting's own type and constraints (e.g. LANGUAGE's pattern, TOKEN_STEP's bounds),
    strict: a YAML "200" is not the number 200, as the CRD's schema says too."""
    field = WorkerSettings.model_fields[name]
    return Annotated[field.annotation, *field.metadata, Strict()]


if TYPE_CHECKING:  # what a type checker can see of them
    WhisperModel: TypeAlias = str
    Language: TypeAlias = str
    TokenStep: TypeAlias = int
else:
    WhisperModel = _worker_constraints("whisper_model")
    Language = _worker_constraints("language")
    TokenStep = _worker_constraints("token_step")
Key = Annotated[str, StringConstraints(min_length=1, max_length=MAX_KEY_LENGTH)]
Quantity = Annotated[StrictInt, Field(ge=0)] | Annotated[str, StringConstraints(pattern=QUANTITY_PATTERN)]
ResourceName = Annotated[str, StringConstraints(min_length=1, max_length=253)]


class CamelModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_name=True, validate_by_alias=True, extra="forbid", frozen=True
    )


class Item(CamelModel):
    audio_key: Key
    text_key: Key


def _valid_glob(pattern: str) -> str:
    if "\x00" in pattern:
        raise ValueError("must not contain NUL")
    return pattern


class Selection(CamelModel):
    """Text files under `prefix` in the text bucket whose key matches `pattern` (first `maxItems`, by key)."""

    prefix: Annotated[str, StringConstraints(min_length=1, max_length=MAX_KEY_LENGTH)]
    # fnmatch-style glob on the whole key; `*` also matches `/`.
    pattern: Annotated[str, StringConstraints(min_length=1, max_length=256), AfterValidator(_valid_glob)] = (
        "*.txt"
    )
    max_items: Annotated[StrictInt, Field(ge=1, le=MAX_ITEMS)]


class Resources(CamelModel):
    requests: dict[ResourceName, Quantity] = Field(default_factory=dict)
    limits: dict[ResourceName, Quantity] = Field(default_factory=dict)


class Overrides(CamelModel):
    """Per-run settings for the worker; unset ones keep the chart's worker configuration."""

    model: WhisperModel | None = None  # WHISPER_MODEL
    backend: Backend | None = None  # WHISPER_BACKEND
    language: Language | None = None  # LANGUAGE
    token_step: TokenStep | None = None  # TOKEN_STEP
    resources: Resources | None = None  # merged over the worker container's resources

    def worker_env(self) -> dict[str, str]:
        """The worker environment variables these overrides set."""
        values = {
            "WHISPER_MODEL": self.model,
            "WHISPER_BACKEND": self.backend.value if self.backend else None,
            "LANGUAGE": self.language,
            "TOKEN_STEP": None if self.token_step is None else str(self.token_step),
        }
        return {name: value for name, value in values.items() if value is not None}


class AlignmentRunSpec(CamelModel):
    items: Annotated[list[Item], Field(min_length=1)] | None = None
    selection: Selection | None = None
    overrides: Overrides = Field(default_factory=Overrides)
    parallelism: Annotated[StrictInt, Field(ge=1, le=MAX_PARALLELISM)] = 1
    suspend: StrictBool = False

    @model_validator(mode="after")
    def _one_source_of_items(self) -> AlignmentRunSpec:
        if (self.items is None) == (self.selection is None):
            raise ValueError("set exactly one of `items` (an explicit list) or `selection` (an S3 prefix)")
        if self.items is not None and len(self.items) > MAX_LISTED_ITEMS:
            raise ValueError(TOO_MANY_LISTED)
        seen: set[str] = set()
        for index, item in enumerate(self.items or ()):
            if item.text_key in seen:
                raise ValueError(f"items[{index}].textKey {item.text_key!r} is listed twice")
            seen.add(item.text_key)
        return self


TOO_MANY_LISTED = (
    f"items: {MAX_LISTED_ITEMS} at most in a list; align more with `selection` "
    f"(an S3 prefix + pattern, up to {MAX_ITEMS} keys)"
)


def gpus_asked(overrides: Overrides) -> int | None:
    """The GPU count `overrides.resources` asks for per pod (limits over requests), if any."""
    resources = overrides.resources
    if resources is None:
        return None
    value = resources.limits.get(GPU, resources.requests.get(GPU))
    if value is None:
        return None
    text = str(value)
    if not text.isdigit():
        raise InvalidSpec(f"spec.overrides.resources: {GPU} must be a whole number of GPUs, not {text!r}")
    return int(text)


class InvalidSpec(ValueError):
    """The spec cannot be run; the message names the field(s) and what is wrong."""


def parse_spec(spec: Any) -> AlignmentRunSpec:
    """The validated spec, or raise InvalidSpec with a message like `spec.selection.maxItems: ...`."""
    try:
        return AlignmentRunSpec.model_validate(dict(spec or {}))
    except ValidationError as error:
        raise InvalidSpec(describe_errors(error)) from error


def describe_errors(error: ValidationError, limit: int = 3) -> str:
    problems = []
    for problem in error.errors()[:limit]:
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in problem["loc"])
        message = problem["msg"].removeprefix("Value error, ")
        problems.append(f"spec{where}: {message}")
    more = error.error_count() - limit
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


# --- status ---


class Phase(StrEnum):
    PENDING = "Pending"  # accepted, no pod started yet (or waiting to resolve the selection)
    RUNNING = "Running"
    SUSPENDED = "Suspended"  # spec.suspend: no pods run until it is cleared
    SUCCEEDED = "Succeeded"  # every item aligned
    PARTIALLY_FAILED = "PartiallyFailed"  # finished; some items aligned, some failed
    FAILED = "Failed"  # invalid spec, or finished with no item aligned

    @property
    def terminal(self) -> bool:
        return self in (Phase.SUCCEEDED, Phase.PARTIALLY_FAILED, Phase.FAILED)


class FailedItem(CamelModel):
    index: int
    audio_key: str | None = None
    text_key: str | None = None
    reason: str
    exit_code: int | None = None


class Condition(CamelModel):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    last_transition_time: str
    observed_generation: int | None = None


class SelectionRecord(CamelModel):
    """How a selection was resolved (once; the item list itself is in the run's ConfigMap)."""

    bucket: str
    prefix: str
    pattern: str
    matched: int
    truncated: bool  # more keys matched than maxItems; the first maxItems (by key) are aligned
    resolved_at: str
