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
               widths: images.filter(function (i) { return i.alt.indexOf("landscape-") === 0; }).map(function (i) {
                 return i.naturalWidth; }),
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
    assert len(set(probe["widths"])) == 1, probe["widths"]  # every landscape figure of one size
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


def test_a_long_flags_cell_wraps_within_1280_pixels(tmp_path):
    """An entry with adaptive checks (on fewer images than its AutoAttack) and a fired flag: the flags column
    wraps instead of pushing the table past a 1280-pixel window, and says on how many images the checks ran."""
    import shutil

    from kerasll.evaluation.settings import attack_settings
    from kerasll.zoo.results import ResultId
    from kerasll.zoo.store import REPO_ZOO, Zoo

    zoo = Zoo(tmp_path / "zoo")
    shutil.copytree(REPO_ZOO / "fmnist-lenet-at", zoo.path / "fmnist-lenet-at", ignore=shutil.ignore_patterns("records"))
    checked = attack_settings("fashion_mnist", "autoattack", budget_check=True, transfer="fmnist-lenet-none")
    rid = ResultId(checked, 200, "")
    flag = {"code": "transfer", "message": "the surrogate's examples broke 9 of the 95 images the white-box "
            "attacks left robust, more than noise", "hint": "evaluate with transfer and budget checks"}
    zoo.get("fmnist-lenet-at").write_evaluation(rid.key(), rid.fields() | {
        "clean_accuracy": 0.9, "robust_accuracy": 0.43, "flags": [flag], "created": "1",
        "adaptive": {"budget_check": {"broken": 0, "robust_before": 95}, "transfer": {"broken": 9, "robust_before": 95}}})
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", "--format", "html", "--no-compute", "--out", str(out),
                                      "--zoo", str(zoo.path)])
    assert result.exit_code == 0, result.output
    page = out / "report-fashion_mnist.html"
    assert "adaptive checks on 200 images: budget ×2 broke 0/95; transfer from fmnist-lenet-none broke 9/95" \
        in page.read_text()
    probe = open_page(page, tmp_path)
    assert probe["hidden"] == 0 and probe["scrollWidth"] <= 1280 and probe["widest"] <= 1280, probe
