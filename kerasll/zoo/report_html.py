"""The report as one self-contained HTML page: a sortable leaderboard and the figures embedded.

No network access and no files beside it: styles, the sorting script and the
PNG figures (base64) are all inside the page, so it can be mailed or archived.
"""

import base64
import html
from pathlib import Path

from kerasll.zoo.report import HEADERS, preamble, table_cells

# Columns sorted as numbers ("—" sorts last); the others as text.
NUMERIC = {"epochs", "Φ", "Φ (sum)", "Φ FGSM", "clean %", "PGD %", "AutoAttack %", "paper clean %", "paper PGD %"}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; padding: 0 1em; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { border-bottom: 1px solid #ddd; padding: 6px 8px; text-align: right; white-space: nowrap; }
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2), th:nth-child(3), td:nth-child(3) { text-align: left; }
th { background: #f4f4f4; cursor: pointer; user-select: none; position: sticky; top: 0; }
th[aria-sort=ascending]::after { content: " ▲"; } th[aria-sort=descending]::after { content: " ▼"; }
tr:hover td { background: #fafafa; }
figure { margin: 2em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
p.note { color: #555; }
"""

SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var numeric = th.dataset.type === "number";
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var key = function (row) {
      var text = row.cells[col].textContent.trim();
      if (!numeric) return text.toLowerCase();
      var value = parseFloat(text);
      return isNaN(value) ? null : value;
    };
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x === null) return 1;
      if (y === null) return -1;
      return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""


def embedded_png(path):
    """An <img> whose source is the PNG itself (base64), so the page needs no other file."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(Path(path).stem)}" src="data:image/png;base64,{data}">'


def write_html(rows, dataset, out_dir, fig):
    """report-<dataset>.html: the leaderboard (click a header to sort) and Fig. 4 embedded."""
    path, rhos = fig
    head = "".join(f'<th data-type="{"number" if h in NUMERIC else "text"}">{html.escape(h)}</th>' for h in HEADERS)
    body = "\n".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in table_cells(r)) + "</tr>" for r in rows)
    parts = [f"<h1>kerasll report: {html.escape(dataset)}</h1>"]
    parts += [f'<p class="note">{html.escape(p)}</p>' for p in preamble(dataset)]
    parts.append(f'<table class="sortable" id="leaderboard"><thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>')
    if path:
        caption = "Fig. 4 — Φ vs PGD accuracy. Spearman ρ per family: " + ", ".join(
            f"{k}: {v:.2f}" for k, v in sorted(rhos.items()))
        parts.append(f"<figure>{embedded_png(path)}<figcaption>{html.escape(caption)}</figcaption></figure>")
    else:
        parts.append(f'<p class="note">{html.escape(rhos)}</p>')
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>kerasll report: '
            f'{html.escape(dataset)}</title><style>{STYLE}</style></head>\n<body>\n' + "\n".join(parts)
            + f"\n<script>{SCRIPT}</script>\n</body></html>\n")
    out = Path(out_dir) / f"report-{dataset}.html"
    out.write_text(page, encoding="utf-8")
    return out
