"""Hebrew cue lines that begin with a Latin word display right to left in a real browser.

Chromium loads the VTT through <video><track> and parses its cues (`track.cues`); each cue's
`getCueAsHTML()` is then laid out with the CSS the WebVTT rendering rules give a cue box
(`unicode-bidi: plaintext`: each line takes its direction from its first strong character), and the
page reports where each character landed. In a right-to-left line the first word is the rightmost
and the closing punctuation the leftmost.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.browser import dump_dom, needs_chromium, served
from tests.worker.test_outputs import alignment_of
from worker.publish.outputs import PublishOptions, render

pytestmark = needs_chromium

TEXT = "OK, אז נמשיך עם הסוגיה.\nZoom הוא הכלי שבו נשתמש היום בשיעור, ונראה את דברי הראשונים בסוגיה…\n"

PAGE = """<!doctype html><meta charset="utf-8"><body>
<video width="640" height="360"><track id="t" kind="subtitles" srclang="he" src="cues.vtt" default></video>
<pre id="result">pending</pre>
<script>
const element = document.getElementById('t');
element.track.mode = 'hidden';  // loads and parses the track without a media resource
function measure(cue) {
  const box = document.createElement('div');
  box.style.cssText = 'unicode-bidi: plaintext; width: 600px; font: 20px sans-serif; white-space: pre-line';
  box.appendChild(cue.getCueAsHTML());
  document.body.appendChild(box);
  const chars = [];
  const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.data.length; i++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const rect = range.getBoundingClientRect();
      if (rect.width > 0) chars.push([node.data[i], rect.left, Math.round(rect.top)]);
    }
  }
  box.remove();
  return chars;
}
element.addEventListener('load', () => {
  document.getElementById('result').textContent = JSON.stringify(Array.from(element.track.cues).map(measure));
});
element.addEventListener('error', () => { document.getElementById('result').textContent = 'track error'; });
</script>
"""


def rendered_lines(vtt: str, folder: Path) -> list[list[tuple[str, float]]]:
    """Each displayed line of each cue as (character, x) pairs, in the text's logical order."""
    (folder / "cues.vtt").write_text(vtt, encoding="utf-8")
    (folder / "page.html").write_text(PAGE, encoding="utf-8")
    with served(folder) as base:
        dom = dump_dom(base + "page.html")
    found = re.search(r'<pre id="result">(.*?)</pre>', dom, re.S)
    assert found and found.group(1).startswith("["), f"the page did not report cues: {dom[-500:]}"
    lines: list[list[tuple[str, float]]] = []
    for cue in json.loads(html.unescape(found.group(1))):
        by_row: dict[int, list[Any]] = {}
        for char, x, top in cue:
            by_row.setdefault(top, []).append((char, x))
        lines.extend(by_row[top] for top in sorted(by_row))
    return lines


def direction(line: list[tuple[str, float]]) -> str:
    """rtl when the line's first Latin letter sits right of its first Hebrew letter."""
    latin = next(x for char, x in line if char.isascii() and char.isalpha())
    hebrew = next(x for char, x in line if "\u05d0" <= char <= "\u05ea")
    return "rtl" if latin > hebrew else "ltr"


def latin_first(lines: list[list[tuple[str, float]]]) -> list[list[tuple[str, float]]]:
    chosen = [line for line in lines if next(c for c, _ in line if c.isalpha()).isascii()]
    assert len(chosen) == 2, "both Latin-first lines reached the browser"
    return chosen


@pytest.mark.parametrize("name", ["vtt", "words.vtt"])
def test_latin_first_hebrew_lines_display_right_to_left(tmp_path: Path, name: str) -> None:
    vtt = render(alignment_of(TEXT), TEXT, options=PublishOptions(formats=(name, "json"))).files[name]
    lines = latin_first(rendered_lines(vtt, tmp_path))
    assert [direction(line) for line in lines] == ["rtl", "rtl"]
    ok_line = lines[0]
    x_of = {char: x for char, x in ok_line}
    assert x_of["O"] > x_of["א"] > x_of["."]  # "OK," at the right, the full stop at the far left


def test_without_the_mark_the_browser_lays_them_out_left_to_right(tmp_path: Path) -> None:
    # The control: the same cues without RLM are the bug the mark fixes (so the test above can fail).
    vtt = render(alignment_of(TEXT), TEXT, options=PublishOptions(rtl_mark=False)).vtt
    lines = latin_first(rendered_lines(vtt, tmp_path))
    assert [direction(line) for line in lines] == ["ltr", "ltr"]
