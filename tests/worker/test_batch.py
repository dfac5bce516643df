"""Batch mode (the operator's Jobs): `timestamp batch ITEMS_FILE` against moto's S3."""

import json
import os
import subprocess
from pathlib import Path

from tests.conftest import Cloud
from tests.speech import Speech


def batch(cloud: Cloud, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["timestamp", "batch", *args],
        env={**os.environ, **cloud.env, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_batch_reports_each_item_and_exits_by_the_worst_outcome(
    cloud: Cloud, hebrew_lecture: Speech, hebrew_lecture_mp3: Path, tmp_path: Path
) -> None:
    cloud.put(cloud.audio_bucket, "a/1.mp3", hebrew_lecture_mp3.read_bytes())
    cloud.put(cloud.text_bucket, "t/1.txt", hebrew_lecture.text)
    items = tmp_path / "items.json"
    items.write_text(
        json.dumps(
            {
                "items": [
                    {"audio_key": "a/1.mp3", "text_key": "t/1.txt"},
                    {"audio_key": "a/2.mp3", "text_key": "t/2.txt"},
                ]
            }
        )
    )
    outcome = tmp_path / "termination-log"

    done = batch(cloud, str(items), "--outcome-file", str(outcome))
    assert done.returncode == 1, done.stderr
    # PREFETCH (default on): the first item fetched while the model loaded, the second while the
    # first aligned; the second's failure ahead was met again at its turn, with the same fate
    assert "inputs of t/1.txt fetched ahead" in done.stderr
    assert "fetching the inputs of t/2.txt ahead failed" in done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(n["text_key"], n["status"]) for n in lines] == [("t/1.txt", "succeeded"), ("t/2.txt", "failed")]
    assert lines[1]["error_kind"] == "permanent"
    assert json.loads(outcome.read_text())["text_key"] == "t/2.txt"
    assert {"t/1.vtt", "t/1.json"} <= cloud.keys(cloud.output_bucket)
    assert [n["status"] for n in cloud.notices()] == ["succeeded", "failed"]

    only_first = batch(
        cloud, str(items), "--outcome-file", str(outcome), JOB_COMPLETION_INDEX="0", PREFETCH="false"
    )
    assert only_first.returncode == 0, only_first.stderr
    assert len(only_first.stdout.splitlines()) == 1
    assert json.loads(outcome.read_text())["status"] == "succeeded"
    assert "ahead" not in only_first.stderr


def test_a_bad_items_file_or_index_is_one_line(cloud: Cloud, tmp_path: Path) -> None:
    items = tmp_path / "items.json"
    items.write_text(json.dumps({"items": [{"audio_key": "a.mp3"}]}))
    done = batch(cloud, str(items))
    assert done.returncode == 1
    assert done.stderr.strip() == f"timestamp: error: items file {items}: items.0.text_key: Field required"
    items.write_text(json.dumps({"items": [{"audio_key": "a.mp3", "text_key": "a.txt"}]}))
    done = batch(cloud, str(items), "--index", "3")
    assert done.stderr.strip() == f"timestamp: error: index 3 is out of range: {items} has 1 item(s)"
