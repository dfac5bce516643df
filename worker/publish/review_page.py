"""A one-file HTML page for checking an alignment: `timestamp review RESULT.json AUDIO -o page.html`.

The page plays the audio and shows the text, each word highlighted while it is spoken; clicking a
word seeks there. The verdict and its reasons head the page; suspicious ranges are marked in the
text (hover for why) and listed (click to seek); words the audio holds no speech for
(`quality.unspoken_words`) are struck through; `page.html#t=SECONDS` opens at that moment. No
network resource: styles, script and data are inline.

The audio is referenced by a path relative to the page by default, so an hour's lecture does not
become an 80 MB page the browser must parse before it can play (`embed=True` inlines it as a data URI
for short clips or a page that must travel alone).
"""

from __future__ import annotations

import base64
import html
import json
import mimetypes
from pathlib import Path
from typing import Any

RTL_LANGUAGES = {"he", "yi", "ar", "fa", "ur", "ps", "sd", "ug", "dv"}

_STYLE = """
body { font: 18px/1.7 system-ui, sans-serif; margin: 0; color: #1b1b1b; background: #fafafa; }
header { position: sticky; top: 0; background: #fff; border-bottom: 1px solid #ddd; padding: .6em 1em;
         z-index: 1; }
header h1 { font-size: 1em; margin: 0 0 .3em; }
audio { width: 100%; }
.verdict { display: inline-block; padding: 0 .5em; border-radius: .3em; color: #fff; font-weight: bold; }
.verdict.ok { background: #2e7d32; } .verdict.needs_review { background: #ef6c00; }
.verdict.failed { background: #c62828; }
.reasons { font-size: .85em; margin: .2em 0; }
#ranges { font-size: .8em; max-height: 6.5em; overflow: auto; margin: .3em 0 0; padding: 0;
          list-style: none; }
#ranges li { cursor: pointer; } #ranges li:hover { text-decoration: underline; }
main { padding: 1em; max-width: 50em; margin: auto; }
main p { margin: 0 0 .6em; }
.w { cursor: pointer; border-radius: .2em; padding: 0 .05em; }
.w:hover { background: #e3f2fd; }
.w.sus { background: #ffe0b2; border-bottom: 2px solid #ef6c00; }
.w.unspoken { text-decoration: line-through; color: #8d6e63; }
.w.now { background: #1565c0; color: #fff; }
.gap { font-size: .75em; color: #ef6c00; border: 1px dashed #ef6c00; border-radius: .3em; padding: 0 .3em;
       margin: 0 .2em; cursor: pointer; }
"""

_SCRIPT = """
const data = JSON.parse(document.getElementById('review-data').textContent);
const audio = document.getElementById('audio');
const main = document.getElementById('text');
const spans = [];
const starts = data.words.map(w => w[1]);
const unspoken = new Set(data.unspoken);
const marks = new Map();  // first word index -> ranges with no words of their own (speech without words)
data.suspicious.forEach((r, k) => {
  if (r.end_word > r.first_word) {
    for (let i = r.first_word; i < r.end_word; i++) (marks.get(i) || marks.set(i, []).get(i)).push(r.reason);
  }
});
function seek(t) { audio.currentTime = t; highlight(); }
let paragraph = null, segment = -1;
data.words.forEach(([word, start, end, seg], i) => {
  data.suspicious.filter(r => r.end_word === r.first_word && r.first_word === i).forEach(r => {
    const gap = document.createElement('span');
    gap.className = 'gap'; gap.textContent = '⚠ ' + r.reason; gap.onclick = () => seek(r.start);
    (paragraph || main).appendChild(gap);
  });
  if (seg !== segment) {
    paragraph = document.createElement('p'); main.appendChild(paragraph); segment = seg;
  }
  const span = document.createElement('span');
  span.className = 'w'; span.textContent = word; span.dataset.i = i;
  span.title = start.toFixed(2) + '–' + end.toFixed(2) + ' s';
  if (marks.has(i)) { span.classList.add('sus'); span.title += ' · ' + marks.get(i).join(' · '); }
  if (unspoken.has(i)) { span.classList.add('unspoken'); span.title += ' · no speech heard for this word'; }
  span.onclick = () => { seek(start); audio.play().catch(() => {}); };
  paragraph.appendChild(span); paragraph.appendChild(document.createTextNode(' '));
  spans.push(span);
});
data.suspicious.filter(r => r.first_word >= data.words.length).forEach(r => {
  const gap = document.createElement('span');
  gap.className = 'gap'; gap.textContent = '⚠ ' + r.reason; gap.onclick = () => seek(r.start);
  (paragraph || main).appendChild(gap);
});
const list = document.getElementById('ranges');
data.suspicious.forEach(r => {
  const item = document.createElement('li');
  item.textContent = fmt(r.start) + '–' + fmt(r.end) + ' ' + r.reason;
  item.onclick = () => seek(r.start);
  list.appendChild(item);
});
function fmt(t) {
  const m = Math.floor(t / 60), s = (t % 60).toFixed(1).padStart(4, '0');
  return m + ':' + s;
}
let current = -1;
function highlight() {
  const t = audio.currentTime;
  let lo = 0, hi = starts.length - 1, found = -1;  // the last word starting at or before t
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (starts[mid] <= t) { found = mid; lo = mid + 1; } else hi = mid - 1;
  }
  if (found === current) return;
  if (current >= 0) spans[current].classList.remove('now');
  current = found;
  document.body.dataset.current = String(found);
  if (found < 0) return;
  spans[found].classList.add('now');
  if (!audio.paused) spans[found].scrollIntoView({block: 'center', behavior: 'smooth'});
}
function frame() { highlight(); if (!audio.paused) requestAnimationFrame(frame); }
audio.addEventListener('play', () => requestAnimationFrame(frame));
['timeupdate', 'seeked', 'loadedmetadata'].forEach(e => audio.addEventListener(e, highlight));
const at = /^#t=([0-9.]+)$/.exec(location.hash);  // a link to a moment: page.html#t=754.2
if (at) audio.addEventListener('loadedmetadata', () => seek(parseFloat(at[1])), {once: true});
document.body.dataset.ready = 'true';
"""


def _words(document: dict[str, Any]) -> list[list[Any]]:
    return [
        [w["word"].strip(), w["start"], w["end"], index]
        for index, segment in enumerate(document["segments"])
        for w in segment["words"]
    ]


def audio_source(audio: Path, page: Path, embed: bool) -> str:
    """A data URI of the audio, or its path relative to the page's folder (URL-quoted)."""
    if embed:
        media = mimetypes.guess_type(audio.name)[0] or "application/octet-stream"
        return f"data:{media};base64,{base64.b64encode(audio.read_bytes()).decode()}"
    from os.path import relpath
    from urllib.parse import quote

    return quote(Path(relpath(audio.resolve(), page.resolve().parent)).as_posix())


def render_page(document: dict[str, Any], audio_src: str, title: str) -> str:
    quality = document.get("quality", {})
    data = {
        "words": _words(document),
        "unspoken": quality.get("unspoken_words", []),
        "suspicious": quality.get("suspicious", []),
    }
    verdict = quality.get("verdict", "unknown")
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in quality.get("reasons", []))
    direction = "rtl" if document.get("language") in RTL_LANGUAGES else "ltr"
    # JSON inside <script>: "</" must not close the element early.
    payload = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="{html.escape(str(document.get("language", "")))}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Review: {html.escape(title)}</title><style>{_STYLE}</style></head>
<body>
<header>
<h1>{html.escape(title)}
<span class="verdict {html.escape(verdict)}" id="verdict">{html.escape(verdict)}</span>
<small>{len(data["words"])} words, {len(data["suspicious"])} suspicious range(s)</small></h1>
<ul class="reasons">{reasons}</ul>
<audio id="audio" controls preload="metadata" src="{html.escape(audio_src)}"></audio>
<ul id="ranges"></ul>
</header>
<main id="text" dir="{direction}"></main>
<script type="application/json" id="review-data">{payload}</script>
<script>{_SCRIPT}</script>
</body>
</html>
"""


class PageError(Exception):
    """An input of the page is missing or is not an alignment result."""


def write_page(result: Path, audio: Path, out: Path, embed: bool = False) -> Path:
    try:
        document = json.loads(result.read_text(encoding="utf-8"))
        segments = document["segments"]
    except OSError as error:
        raise PageError(f"cannot read {result}: {error.strerror}") from error
    except (ValueError, KeyError, TypeError) as error:
        raise PageError(f"{result} is not an alignment result (.json written by timestamp)") from error
    if not isinstance(segments, list):
        raise PageError(f"{result} is not an alignment result (.json written by timestamp)")
    if not audio.is_file():
        raise PageError(f"audio {audio} does not exist")
    page = render_page(document, audio_source(audio, out, embed), result.stem)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
