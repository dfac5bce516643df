"""The review page in a real headless Chromium: it loads, carries every word, clicking a word seeks
the audio there, the highlighted word follows `currentTime`, suspicious ranges and unheard words
are marked. A harness page served beside it drives it through an iframe and POSTs what it saw back to the
test's server: the test waits on that report, not on a clock."""

from __future__ import annotations

import functools
import html
import http.server
import json
import queue
import subprocess
import tempfile
import threading
import urllib.request
import wave
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.browser import chromium, needs_chromium
from tests.conftest import Cloud
from tests.speech import Speech
from tests.worker.test_outputs import alignment_of
from tests.worker.test_queue_worker import run_worker, send
from worker.cli import main
from worker.engine.alignment import Aligner, SuspiciousRange
from worker.engine.fidelity import TimedWord
from worker.inputs.text import split_words
from worker.publish.outputs import render

TEXT = "רבי יוחנן אמר: הלכה כרבי מאיר.\nOK, אז נמשיך עם הסוגיה של היום\nועוד מילה אחת </script> בסוף"

HARNESS = """<!doctype html><meta charset="utf-8">
<iframe id="page" src="PAGE" width="800" height="600"></iframe>
<script>
const frame = document.getElementById('page');
const once = (target, event) => new Promise(resolve => target.addEventListener(event, resolve, {once: true}));
frame.onload = async () => {
  const d = frame.contentDocument, audio = d.getElementById('audio');
  if (audio.readyState < 1) await once(audio, 'loadedmetadata');
  const words = [...d.querySelectorAll('.w')];
  const now = () => [...d.querySelectorAll('.w.now')].map(s => +s.dataset.i);
  const out = {
    words: words.map(s => s.textContent),
    suspicious: [...d.querySelectorAll('.w.sus')].map(s => +s.dataset.i),
    unspoken: [...d.querySelectorAll('.w.unspoken')].map(s => +s.dataset.i),
    listed: [...d.querySelectorAll('#ranges li')].map(li => li.textContent),
    verdict: d.getElementById('verdict').textContent,
    direction: d.getElementById('text').dir,
    duration: audio.duration,
  };
  if (!location.hash) {  // only loading: the audio at a relative path
    fetch('/report', {method: 'POST', body: JSON.stringify(out)});
    return;
  }
  const seeked = once(audio, 'seeked');
  words[5].click();
  await seeked;
  audio.pause();
  out.clicked = {time: audio.currentTime, now: now()};
  out.follows = [];
  for (const t of [0.05, 2.05, 4.1, 3.0]) {
    const done = once(audio, 'seeked');
    audio.currentTime = t;
    await done;
    out.follows.push([t, now()]);
  }
  fetch('/report', {method: 'POST', body: JSON.stringify(out)});
};
</script>
"""


def write_wav(path: Path, seconds: float) -> Path:
    samples = (0.05 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * 16_000)) / 16_000) * 32767).astype(
        np.int16
    )
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(samples.tobytes())
    return path


def result_file(folder: Path) -> tuple[Path, list[TimedWord]]:
    aligned = alignment_of(TEXT)  # word i spans [0.4 i, 0.4 i + 0.3]
    words = list(aligned.words)
    words[3] = replace(words[3], spoken=False)
    engine = SuspiciousRange(words[7].start, words[9].end, 7, 10, "window failed to align")
    aligned = replace(aligned, words=words, suspicious=(engine,))
    path = folder / "lecture.json"
    path.write_text(render(aligned, TEXT).json, encoding="utf-8")
    return path, words


class _Harness(http.server.SimpleHTTPRequestHandler):
    """Serves the folder; the harness POSTs what it saw, which ends the wait (no timers)."""

    reports: queue.Queue[bytes]

    def do_POST(self) -> None:
        self.reports.put(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def seen_in(folder: Path, page: str, interact: bool) -> dict[str, Any]:
    """Open the harness on `page` in headless Chromium and return what it reported."""
    (folder / "harness.html").write_text(HARNESS.replace("PAGE", page), encoding="utf-8")
    reports: queue.Queue[bytes] = queue.Queue()
    handler = type("Handler", (_Harness,), {"reports": reports})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(folder))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/harness.html" + ("#interact" if interact else "")
    with tempfile.TemporaryDirectory() as profile:
        browser = subprocess.Popen(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--mute-audio", "--no-first-run",
             "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={profile}", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            report = reports.get(timeout=90)
        finally:
            browser.terminate()
            browser.wait(30)
            server.shutdown()
            server.server_close()
    seen: dict[str, Any] = json.loads(report)
    return seen


@needs_chromium
def test_the_page_plays_highlights_seeks_and_marks(tmp_path: Path) -> None:
    result, words = result_file(tmp_path)
    audio = write_wav(tmp_path / "lecture audio.wav", 8.0)  # a space: the relative path is URL-quoted
    assert main(["review", str(result), str(audio), "-o", str(tmp_path / "page.html")]) == 0
    assert main(["review", str(result), str(audio), "-o", str(tmp_path / "alone.html"), "--embed-audio"]) == 0
    for name in ("page.html", "alone.html"):
        page = (tmp_path / name).read_text(encoding="utf-8")
        assert "http://" not in page and "https://" not in page  # nothing from the network
    assert 'src="lecture%20audio.wav"' in (tmp_path / "page.html").read_text(encoding="utf-8")

    # By relative path (the default), the audio loads next to the page.
    seen = seen_in(tmp_path, "page.html", interact=False)
    assert seen["duration"] == pytest.approx(8.0, abs=0.05)
    assert seen["words"] == split_words(TEXT)

    # Seeking needs a server that answers range requests (http.server does not): the embedded page.
    seen = seen_in(tmp_path, "alone.html", interact=True)
    assert seen["words"] == split_words(TEXT)
    assert seen["verdict"] == "needs_review"  # 1 of 18 words unheard
    assert seen["direction"] == "rtl"
    assert seen["clicked"]["time"] == pytest.approx(words[5].start, abs=0.05)
    assert seen["clicked"]["now"] == [5]
    expected = [max(i for i, w in enumerate(words) if w.start <= t) for t in (0.05, 2.05, 4.1, 3.0)]
    assert [now for _, now in seen["follows"]] == [[i] for i in expected]
    assert seen["suspicious"] == [3, 7, 8, 9]  # the unheard word is a suspicious range too
    assert seen["unspoken"] == [3]
    assert any("window failed to align" in item for item in seen["listed"])
    assert any("not heard" in item for item in seen["listed"])


def test_an_unreadable_result_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    audio = write_wav(tmp_path / "a.wav", 1.0)
    (tmp_path / "bad.json").write_text("{not json")
    assert main(["review", str(tmp_path / "bad.json"), str(audio)]) == 1
    assert main(["review", str(tmp_path / "missing.json"), str(audio)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"timestamp: error: {tmp_path / 'bad.json'} is not an alignment result (.json written by timestamp)",
        f"timestamp: error: cannot read {tmp_path / 'missing.json'}: No such file or directory",
    ]
    assert not (tmp_path / "bad.review.html").exists()


def test_the_worker_writes_the_page_beside_the_outputs(
    cloud: Cloud, aligner: Aligner, hebrew_lecture: Speech, hebrew_lecture_mp3: Path
) -> None:
    """REVIEW_PAGE=true: `<stem>.review.html` in the output bucket, its audio a presigned URL that
    reads the audio object (from moto, over HTTP) without credentials."""
    audio = hebrew_lecture_mp3.read_bytes()
    cloud.put(cloud.audio_bucket, "berakhot/2a.mp3", audio)
    cloud.put(cloud.text_bucket, "berakhot/2a.txt", hebrew_lecture.text)
    send(cloud, {"audio_key": "berakhot/2a.mp3", "text_key": "berakhot/2a.txt"})
    assert run_worker(cloud, aligner, review_page=True) == 0
    assert cloud.notices()[0]["status"] == "succeeded"
    page = cloud.get(cloud.output_bucket, "berakhot/2a.review.html").decode()
    data = json.loads(
        page.split('<script type="application/json" id="review-data">')[1].split("</script>")[0]
    )
    assert [w[0] for w in data["words"]] == split_words(hebrew_lecture.text)
    src = html.unescape(page.split('<audio id="audio" controls preload="metadata" src="')[1].split('"')[0])
    assert f"/{cloud.audio_bucket}/berakhot/2a.mp3?" in src and "Signature" in src
    with urllib.request.urlopen(src) as response:  # no credentials: the signature is the permission
        assert response.read() == audio
