"""The openai backend on real weights: Whisper base converted offline from the bundled CTranslate2 model.

The converted checkpoint must be the same network as the CTranslate2 one (encoder output and decoder
logits compared numerically), carry the right word-timing heads, and align real speech through the
worker's core and through the CLI.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
from pathlib import Path

import ctranslate2
import numpy as np
import pytest
import torch
import whisper
from whisper.model import sinusoids

from tests.conftest import REALDATA
from worker.engine.alignment import Aligner, AlignmentOptions
from worker.engine.ct2_to_openai import checkpoint_alignment_heads, convert, read_model_bin
from worker.engine.models import fetch_model
from worker.inputs.audio import load_audio
from worker.inputs.text import split_words
from worker.settings import Backend, Device

JFK_AUDIO = REALDATA / "en_transcript_only" / "jfk.flac"
JFK_TEXT = (REALDATA / "en_transcript_only" / "jfk.txt").read_text()


@pytest.fixture(scope="session")
def openai_cache(whisper_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache holding base.pt, converted by fetch_model (no network)."""
    cache = tmp_path_factory.mktemp("openai-cache")
    assert fetch_model("base", Backend.OPENAI, cache) == cache / "base.pt"
    return cache


@pytest.fixture(scope="session")
def jfk_mel() -> torch.Tensor:
    audio = torch.from_numpy(load_audio(JFK_AUDIO))
    mel: torch.Tensor = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio), 80)
    return mel[None]


@pytest.fixture(scope="session")
def openai_model(openai_cache: Path) -> whisper.Whisper:
    return whisper.load_model(str(openai_cache / "base.pt"), device="cpu")


@pytest.fixture(scope="session")
def openai_encoded(openai_model: whisper.Whisper, jfk_mel: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        encoded: torch.Tensor = openai_model.encoder(jfk_mel)
    return encoded


@pytest.fixture(scope="session")
def ct2_model(whisper_cache: Path) -> ctranslate2.models.Whisper:
    return ctranslate2.models.Whisper(
        str(whisper_cache / "faster-whisper-base"), device="cpu", compute_type="float32", intra_threads=2
    )


def test_fetch_leaves_only_the_checkpoint(openai_cache: Path) -> None:
    assert sorted(p.name for p in openai_cache.iterdir()) == ["base.pt"]  # no CT2 copy, no .partial
    checkpoint = torch.load(openai_cache / "base.pt", map_location="cpu", weights_only=True)
    assert checkpoint["dims"] == {
        "n_mels": 80,
        "n_audio_ctx": 1500,
        "n_audio_state": 512,
        "n_audio_head": 8,
        "n_audio_layer": 6,
        "n_vocab": 51865,
        "n_text_ctx": 448,
        "n_text_state": 512,
        "n_text_head": 8,
        "n_text_layer": 6,
    }
    # Kept in float16, as stored by CTranslate2 (and as openai ships its own checkpoints).
    assert {t.dtype for t in checkpoint["model_state_dict"].values()} == {torch.float16}


def test_every_weight_is_mapped_and_only_zero_key_biases_are_dropped(
    whisper_cache: Path, openai_model: whisper.Whisper
) -> None:
    ct2 = read_model_bin(whisper_cache / "faster-whisper-base" / "model.bin")
    assert (ct2.spec, ct2.revision) == ("WhisperSpec", 3)
    assert ct2.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    # openai's key projections have no bias: CTranslate2's fused key-bias slices are all zero.
    fused_key_biases = [
        (f"{side}/layer_{i}/self_attention/linear_0", 1) for side in ("encoder", "decoder") for i in range(6)
    ] + [(f"decoder/layer_{i}/attention/linear_1", 0) for i in range(6)]
    for name, part in fused_key_biases:
        bias = ct2[f"{name}/bias"]
        assert not bias.reshape(-1, 512)[part].any(), name
    # Every other stored number is in the openai model: element counts add up exactly.
    ct2_floats = sum(v.numel() for v in ct2.variables.values() if v.is_floating_point())
    ours = sum(v.numel() for v in openai_model.state_dict().values())
    assert ours == ct2_floats - 512 * len(fused_key_biases)
    # The stored encoder positions are openai's sinusoids (to float16 precision).
    assert torch.allclose(openai_model.encoder.positional_embedding, sinusoids(1500, 512), atol=1e-3)


def test_encoder_matches_ctranslate2(
    ct2_model: ctranslate2.models.Whisper, openai_encoded: torch.Tensor, jfk_mel: torch.Tensor
) -> None:
    theirs = np.array(ct2_model.encode(ctranslate2.StorageView.from_array(jfk_mel.numpy()), to_cpu=True))
    ours = openai_encoded.numpy()
    assert ours.shape == theirs.shape == (1, 1500, 512)
    # Same float16 weights, both computed in float32: only summation order differs (measured 8e-4
    # on outputs of magnitude up to 24); a mis-mapped tensor gives differences of order 1 or more.
    assert np.abs(ours - theirs).max() < 5e-3


def test_decoder_logits_match_ctranslate2(
    ct2_model: ctranslate2.models.Whisper,
    openai_model: whisper.Whisper,
    openai_encoded: torch.Tensor,
    jfk_mel: torch.Tensor,
) -> None:
    tokenizer = whisper.tokenizer.get_tokenizer(True, language="en", task="transcribe")
    prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    features = ctranslate2.StorageView.from_array(jfk_mel.numpy())
    result = ct2_model.generate(features, [prompt], beam_size=1, return_logits_vocab=True)[0]
    tokens = result.sequences_ids[0]
    assert tokenizer.decode(tokens).strip() == JFK_TEXT.strip()
    theirs = np.stack([np.array(step).reshape(-1) for step in result.logits[0]])
    with torch.no_grad():
        logits = openai_model.decoder(torch.tensor([prompt + tokens]), openai_encoded)
    ours = logits[0, len(prompt) - 1 :].numpy()
    ours = ours[: len(theirs)]
    # CTranslate2 reports suppressed tokens (blank, special symbols) as -FLT_MAX; compare the rest.
    kept = theirs > -1e30
    assert kept.mean() > 0.99
    assert np.abs(ours - theirs)[kept].max() < 2e-3  # measured 1.1e-4 on logits up to ~40
    assert (ours.argmax(-1) == theirs.argmax(-1)).all()


def test_aligner_uses_the_checkpoint_heads_and_aligns_real_speech(
    openai_cache: Path, whisper_cache: Path
) -> None:
    aligner = Aligner.load("base", Backend.OPENAI, openai_cache, Device.CPU, "float32")
    config = json.loads((whisper_cache / "faster-whisper-base" / "config.json").read_text())
    # whisper.load_model(path) alone would use every head of layers 3-5; base's are these eight.
    heads = aligner._model.alignment_heads.indices().T.tolist()
    assert heads == config["alignment_heads"]
    assert heads == [[3, 1], [4, 2], [4, 3], [4, 7], [5, 1], [5, 2], [5, 4], [5, 6]]
    alignment = aligner.align(JFK_AUDIO, JFK_TEXT, AlignmentOptions(language="en"))
    assert [w.word for w in alignment.words] == split_words(JFK_TEXT)
    assert alignment.repairs.total == 0
    americans = next(w for w in alignment.words if w.word.startswith("Americans"))
    assert americans.start <= 1.8 <= americans.end  # the upstream Whisper test's timing fact


def test_cli_fetches_and_aligns_with_the_openai_backend(tmp_path: Path, openai_cache: Path) -> None:
    cache = openai_cache  # fetch-model converted into it already (the fixture); here it finds it
    env = {**os.environ, "WHISPER_CACHE": str(cache)}
    fetched = subprocess.run(
        ["timestamp", "fetch-model", "base", "--backend", "openai", "--cache", str(cache)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout.strip() == str(cache / "base.pt")
    text = tmp_path / "jfk.txt"
    text.write_text(JFK_TEXT)
    done = subprocess.run(
        [
            "timestamp",
            "align",
            str(JFK_AUDIO),
            str(text),
            "--out-dir",
            str(tmp_path / "out"),
            "--backend",
            "openai",
            "--device",
            "cpu",
            "--language",
            "en",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads((tmp_path / "out" / "jfk.json").read_text())
    words = [w["word"].strip() for s in document["segments"] for w in s["words"]]
    assert words == split_words(JFK_TEXT)


def test_refuses_other_binary_versions_and_specs(tmp_path: Path) -> None:
    def model_bin(version: int, spec: str) -> Path:
        name = spec.encode() + b"\0"
        data = struct.pack("<I", version) + struct.pack("<H", len(name)) + name
        data += struct.pack("<III", 1, 0, 0)  # revision, no variables, no aliases
        folder = tmp_path / f"{spec}-{version}"
        folder.mkdir()
        (folder / "model.bin").write_bytes(data)
        return folder

    with pytest.raises(ValueError, match="binary version 5"):
        convert(model_bin(5, "WhisperSpec"), tmp_path / "a.pt")
    with pytest.raises(ValueError, match="not a Whisper model"):
        convert(model_bin(6, "TransformerSpec"), tmp_path / "b.pt")
    assert not list(tmp_path.glob("*.pt*"))


def test_official_checkpoints_without_stored_heads_get_openais_table(tmp_path: Path) -> None:
    dims = {"n_text_layer": 6, "n_text_head": 8}
    for name in ("base", "custom"):
        torch.save({"dims": dims, "model_state_dict": {}}, tmp_path / f"{name}.pt")
    assert checkpoint_alignment_heads(tmp_path / "base.pt") == [
        (3, 1), (4, 2), (4, 3), (4, 7), (5, 1), (5, 2), (5, 4), (5, 6)
    ]  # fmt: skip
    assert checkpoint_alignment_heads(tmp_path / "custom.pt") is None  # openai's default stays
