"""The HTML report in a real browser (headless Chromium, Debian's `chromium` package), at 1280×800."""

import json
import re
import shutil
import subprocess

import pytest
from typer.testing import CliRunner

from kerasll.cli.main import app

pytestmark = pytest.mark.browser

# Appended to a copy of the page: once everything has loaded, write what the checks need into the DOM.
PROBE = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var probe = {images: images.length,
               unloaded: images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).map(function (i) { return i.alt; }),
               scrollWidth: document.documentElement.scrollWidth,
               backticks: document.body.innerText.indexOf("`") >= 0,
               hidden: Math.max.apply(null, [0].concat(Array.prototype.map.call(document.querySelectorAll(".scroll"),
                 function (d) { return d.scrollWidth - d.clientWidth; }))),
               made: (document.querySelector(".made") || {}).textContent || "",
               widest: Math.max.apply(null, Array.prototype.map.call(document.body.children, function (e) {
                 return e.getBoundingClientRect().right; }))};
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(probe);
  document.body.appendChild(pre);
});
</script>"""


def chromium():
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.fail("this test needs Chromium: apt-get install chromium")
    return browser


def open_page(page, tmp_path):
    """What the probe reads off `page` in a 1280×800 window."""
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,800",
                          "--virtual-time-budget=20000", "--dump-dom", probed.as_uri()],
                         capture_output=True, text=True, timeout=180).stdout
    found = re.search(r'<pre id="probe">([^<]*)</pre>', dom)
    assert found, dom[-2000:]
    return json.loads(found.group(1))


def test_html_report_of_the_bundled_zoo_loads_every_figure_and_fits_1280_pixels(tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", "--format", "html", "--source", "embedded", "--out", str(out),
                                      "--zoo", str(tmp_path / "zoo")])
    assert result.exit_code == 0, result.output
    assert result.output.count("Fig. 4 for fashion_mnist skipped") == 1  # each note once
    page = out / "report-fashion_mnist.html"
    probe = open_page(page, tmp_path)
    # Per bundled entry: two landscapes and a histogram, and its certified curves when it was certified; then
    # the overview figures written beside the page (Φ vs AutoAttack, the waterfalls, the ε-curves, certified).
    from kerasll.zoo.store import Zoo

    zoo = Zoo(tmp_path / "zoo")
    entries = len(zoo.entries())
    certified = sum(any(r.get("kind") == "certify" for r in e.evaluations().values()) for e in zoo.entries())
    assert not (tmp_path / "zoo").exists()  # the report drew into --out: the user's zoo is untouched
    overview = sorted(p.name for p in out.glob("*.png"))
    assert entries >= 6 and len(overview) >= 3, (probe, overview)
    assert probe["images"] == 3 * entries + certified + len(overview), (probe, overview, certified)
    assert probe["unloaded"] == [] and probe["scrollWidth"] <= 1280 and probe["widest"] <= 1280, probe
    assert probe["hidden"] == 0, probe  # no table hides columns behind a horizontal scroll at 1280 px
    assert "kerasll 0.1.0" in probe["made"] and "data set fashion_mnist" in probe["made"], probe
    assert not probe["backticks"]  # Markdown rendered, not shown raw
    shot = tmp_path / "shot.png"
    subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1280,800", page.as_uri()], check=True, capture_output=True, timeout=180)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # --no-compute on a fresh zoo draws no landscapes or histograms, and says so once (the certified curves,
    # drawn from stored records with no model run, are still shown).
    bare = CliRunner().invoke(app, ["report", "--format", "html", "--no-compute", "--out", str(tmp_path / "bare"),
                                    "--zoo", str(tmp_path / "zoo2")])
    assert bare.exit_code == 0 and bare.output.count("note: entries without landscapes") == 1, bare.output
    assert open_page(tmp_path / "bare" / "report-fashion_mnist.html", tmp_path)["images"] == len(overview) + certified
