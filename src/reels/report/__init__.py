"""Stage 7, report: what the tables hold → one self-contained HTML page (no server, no external files).

In: a `ReportData` (the run, the reels shown, their analyses, the findings and playbook, counts grouped
by the engine). Out: the page as a string (`render.render_report`). Pure: no table, file or clock here.
Tables: none here; `reels.pipeline.publish` reads `runs`, `reels`, `media`, `analyses`, `insights`,
`playbook` and `quarantine`, and writes the page to `[paths] report`.

- `render`: the view model and the Jinja2 template (`templates/report.html`, autoescaped);
- `charts`: the inline SVG charts.
"""
