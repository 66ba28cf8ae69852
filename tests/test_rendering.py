"""The HTML report renders in a real browser (headless Chromium, Debian's `chromium` package)."""

import shutil
import subprocess

import numpy as np
import pytest
from typer.testing import CliRunner

from kerasll.cli.main import app

pytestmark = pytest.mark.slow


def test_html_report_renders_in_headless_chromium(tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.fail("this test needs Chromium: apt-get install chromium")
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", "--format", "html", "--out", str(out), "--zoo", str(tmp_path / "zoo")])
    assert result.exit_code == 0, result.output  # the bundled entries are reported
    page = out / "report-fashion_mnist.html"
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                    "--window-size=1280,800", page.as_uri()], check=True, capture_output=True, timeout=120)
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (800, 1280)
    dark = pixels.mean(-1) < 0.5  # text and lines drawn on the white page
    rows_with_ink = np.flatnonzero(dark.any(1))
    assert dark.mean() > 0.005 and len(rows_with_ink) > 100  # a heading and a table, not a blank page
