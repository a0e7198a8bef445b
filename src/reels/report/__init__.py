"""Stage 7, report: what the tables hold → one self-contained HTML page (no server, no external files).

In: a `ReportData` (the run, the reels shown and every reel's narrow columns, their analyses, the findings
and playbook, thumbnails as data: URIs, counts grouped by the engine). Out: the page as a string
(`render.render_report`). Pure: no table, file or clock here.
Tables: none here; `reels.pipeline.publish` reads `runs`, `reels`, `media` (and the thumbnails beside the
videos), `analyses`, `insights`, `playbook`, `accounts` and `quarantine`, and writes the page to
`[paths] report`.

- `render`: the view model and the Jinja2 template (`templates/report.html`, autoescaped);
- `sections`: the playbook with its numbers, the gallery cards, the accounts, the health groups;
- `trends`: the week, reels per posting week, what is rising among viral reels;
- `charts`: the inline SVG charts.
"""
