"""The report as one self-contained HTML page: a sortable leaderboard and the figures embedded.

No network access and no files beside it: styles, the sorting script and the
PNG figures (base64) are all inside the page, so it can be mailed or archived.
"""

import base64
import html
import re
from pathlib import Path

from kerasll.zoo.report import PAPER_PHI_NOTE, HEADERS, PAPER_COLUMNS, evaluated, pct, preamble, ratio, table_cells

# Columns sorted as numbers ("—" sorts last); the others as text.
NUMERIC = {"epochs", "Φ", "Φ (sum)", "Φ ÷ none", "Φ FGSM", "clean %", "PGD %", "AutoAttack %", "paper Φ",
           "paper Φ ÷ none", "paper clean %", "paper PGD %"}
WRAPPED = {"flags", "test images", "defense"}  # text columns that wrap, so the table fits a 1280-pixel window

STYLE = """
* { box-sizing: border-box; }
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1500px; color: #222; padding: 0 1em; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 14px; }
.made { color: #555; font-size: 14px; border: 1px solid #ddd; background: #fafafa; padding: 6px 10px; }
.made span { margin-right: 1.5em; }
code { background: #f3f3f3; padding: 0 3px; border-radius: 3px; font-size: 90%; }
h2 { margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.flag { border-left: 4px solid #e0a800; background: #fffbea; padding: 6px 10px; margin: 8px 0; }
.flag b { font-family: monospace; }
.entry { margin: 1.5em 0; }
.entry .figs { display: flex; gap: 10px; flex-wrap: wrap; }
.entry .figs figure { margin: 0; flex: 1 1 45%; min-width: 420px; }
figcaption { font-size: 13px; color: #555; }
th, td { border-bottom: 1px solid #ddd; padding: 6px 6px; text-align: right; }
td { white-space: nowrap; } th { vertical-align: bottom; }
td.wrap { white-space: normal; min-width: 9em; max-width: 16em; text-align: left; font-size: 13px; }
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


def inline_markdown(text):
    """One line of the reports' Markdown as HTML: `code`, **bold** and [text](url); everything else escaped."""
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)
    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', out)


def _figure(path, caption):
    return f"<figure>{embedded_png(path)}<figcaption>{inline_markdown(caption)}</figcaption></figure>"


def _flags(rows):
    """Each fired AutoAttack flag, explained where it is shown: what was seen and what to try."""
    parts, notes = [], []
    for r in rows:
        if r.get("adaptive"):  # the adaptive checks that ran, and the surrogate transfer came from
            on = f' ({r["adaptive_samples"]:,} test images)' if r.get("adaptive_samples") else ""
            notes.append(f'<p class="note">Adaptive checks on <code>{html.escape(r["name"])}</code>{on}: '
                         f'{html.escape(r["adaptive"])}.</p>')
        for f in [*(r.get("flag_details") or []), *(r.get("adaptive_flags") or [])]:
            parts.append(f'<div class="flag" id="flag-{html.escape(r["name"])}-{html.escape(f["code"])}">'
                         f'<b>{html.escape(f["code"])}</b> on <code>{html.escape(r["name"])}</code>: '
                         f'{inline_markdown(f["message"])}. <i>Try:</i> {inline_markdown(f["hint"])}.</div>')
    return (parts or ['<p class="note">No AutoAttack self-check fired on any entry.</p>']) + notes


def _table(headers, rows, table_id, numeric=NUMERIC):
    head = "".join(f'<th data-type="{"number" if h in numeric else "text"}">{html.escape(h)}</th>' for h in headers)
    cell = lambda h, c: f'<td class="wrap">{html.escape(c)}</td>' if h in WRAPPED else f"<td>{html.escape(c)}</td>"  # noqa: E731
    body = "\n".join("<tr>" + "".join(cell(h, c) for h, c in zip(headers, cells)) + "</tr>" for cells in rows)
    return (f'<div class="scroll"><table class="sortable" id="{table_id}"><thead><tr>{head}</tr></thead>\n'
            f'<tbody>\n{body}\n</tbody></table></div>')


def _certified_table(certified):
    radii = list(dict.fromkeys(k for c in certified for k in c.result["certified_accuracy"] if float(k) > 0))
    headers = ("entry", "σ", "images", "n", "smoothed clean %", *(f"r={r} %" for r in radii), "abstain %",
               "mean radius")
    body = [[c.label, f"{c.sigma:g}", str(c.result["samples"]), str(c.settings.n),
             pct(c.result["clean_accuracy"]), *(pct(c.result["certified_accuracy"].get(r)) for r in radii),
             pct(c.result["abstention_rate"]), f"{c.mean_radius:.3f}"] for c in certified]
    return _table(headers, body, "certified", numeric=set(headers[1:]))


def made_line(dataset, zoo_path=None):
    """When, by what and from which data set the page was made: one header line (how many images, and which,
    each number comes from is in the table's "images" column)."""
    import kerasll
    from kerasll.zoo.metadata import git_commit, now

    commit = git_commit()
    parts = [f"made {now()}", f"kerasll {kerasll.__version__}" + (f" (commit {commit[:10]})" if commit else ""),
             f"data set {dataset}", "test images per number: the table's test images column"]
    if zoo_path is not None:
        parts.append(f"zoo {zoo_path}")
    return '<p class="made">' + "".join(f"<span>{html.escape(p)}</span>" for p in parts) + "</p>"


def write_html(part, out_dir, zoo_path=None):
    """report-<dataset>.html from a `reporting.DatasetReport`: a header saying when and from what it was
    made, the sortable leaderboard, the paper's numbers beside ours, the flags explained, the overview
    figures, Fig. 4 and every evaluated entry's landscapes, all in one file."""
    dataset = part.dataset
    rows = [r for r in part.rows if evaluated(r)]
    waiting = [r for r in part.rows if not evaluated(r)]
    # Our columns, less Φ (sum), which the table beside the paper shows: the leaderboard fits 1,280 pixels.
    keep = [i for i, h in enumerate(HEADERS[:-PAPER_COLUMNS]) if h != "Φ (sum)"]
    parts = [f"<h1>kerasll report: {html.escape(dataset)}</h1>", made_line(dataset, zoo_path)]
    parts += [f'<p class="note">{inline_markdown(p)}</p>' for p in preamble(dataset) if p != PAPER_PHI_NOTE]
    parts.append(_table([HEADERS[i] for i in keep], [[table_cells(r)[i] for i in keep] for r in rows], "leaderboard"))
    if waiting:
        parts.append('<p class="note">Not evaluated yet (no numbers to show): '
                     + ", ".join(f"<code>{html.escape(r['name'])}</code>" for r in waiting)
                     + " — run <code>kerasll eval NAME --flatness</code>.</p>")
    beside = [r for r in rows if r["paper_setting"]]
    if beside:
        parts.append("<h2>Beside the paper</h2>")
        parts.append(f'<p class="note">{inline_markdown(PAPER_PHI_NOTE)}</p>')
        parts.append(_table(("entry", "defense", "paper setting", "paper Φ", "Φ (sum)", "paper Φ ÷ none", "Φ ÷ none",
                             "paper clean %", "clean %", "paper PGD %", "PGD %"),
                            [[r["name"], r["defense_label"], r["paper_setting"], f"{r['paper_phi']:.1f}",
                              "—" if r["phi_sum"] is None else f"{r['phi_sum']:.1f}", ratio(r["paper_phi_ratio"]),
                              ratio(r["phi_ratio"]), pct(r["paper_clean_accuracy"]), pct(r["clean_accuracy"]),
                              pct(r["paper_pgd_accuracy"]), pct(r["pgd_accuracy"])]
                             for r in beside], "paper"))
    if part.certified:
        parts.append("<h2>Certified robustness (randomized smoothing)</h2>")
        parts.append('<p class="note">Cohen et al.\'s CERTIFY (<code>kerasll certify</code>): the smoothed '
                     "classifier's accuracy, the share of images it certifies correctly at each L2 radius, how often "
                     "it abstains, and the mean certified radius (0 for a wrong or abstained image). Unlike the "
                     "attacks' numbers above, these are lower bounds.</p>")
        parts.append(_certified_table(part.certified))
    parts += ["<h2>Flags</h2>", *_flags(rows)]
    parts.append("<h2>Overview</h2>")
    parts += [_figure(path, f"**{title}.** {caption}") for title, path, caption in part.overview]
    if part.fig4.path:
        parts.append(_figure(part.fig4.path, "**Fig. 4: Φ vs PGD accuracy** per defense family. Spearman ρ: " + ", ".join(
            f"{k}: {v:.2f}" for k, v in sorted(part.fig4.rhos.items()))))
    else:
        parts.append(f'<p class="note">{inline_markdown(part.fig4.note)}</p>')
    if part.entry_figures:
        parts.append("<h2>Each entry: likelihood landscapes and histogram</h2>")
        parts.append('<p class="note">Test image 0; Δlog p̃ over a square of half-width ε around it, along two random '
                     "directions and along the FGSM direction; the histogram compares log p̃ of clean and randomly "
                     "perturbed test images.</p>")
    for r in rows:
        shown = part.entry_figures.get(r["name"], [])
        if shown:
            figs = "".join(_figure(path, title) for title, path in shown)
            parts.append(f'<div class="entry"><h3><code>{html.escape(r["name"])}</code> '
                         f'({html.escape(r["defense_label"])})</h3><div class="figs">{figs}</div></div>')
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>kerasll report: '
            f'{html.escape(dataset)}</title><style>{STYLE}</style></head>\n<body>\n' + "\n".join(parts)
            + f"\n<script>{SCRIPT}</script>\n</body></html>\n")
    out = Path(out_dir) / f"report-{dataset}.html"
    out.write_text(page, encoding="utf-8")
    return out
