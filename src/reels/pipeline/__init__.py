"""The wiring: the stages over the tables, in the order a run calls them, and what they share.

Each stage function takes a `Job` (settings, store, media store, run id, clock), reads from the tables
only what it needs, calls the pure stage code of its package, and merges its results back on the table
keys, so every stage can run alone, again, or after a crash without duplicating or paying twice.
In: a `Job` and the stage's inputs (a source, an HTTP client, an analyzer). Out: `StageCounts`.
Tables: per stage module (the stage package it calls → the tables it writes):

    intake     ingest, ingest_ads    sources        → reels, reel_snapshots, quarantine, ads
    labels     label                 label          → reels (label columns), ads
    downloads  download              media          → media (and the video files)
    analyses   analyze               analysis       → analyses (journaled answer by answer)
    overlap    download_and_analyze  media, analysis  both at once: each video analyzed once stored
    batches    analyze_in_batches    analysis       → gemini_batches, analyses (Gemini's Batch API)
    findings   insights, playbook    insights       → insights, playbook
    publish    report                report         → the HTML report
    upkeep     maintain              storage        → compacted, vacuumed tables

Beside them: `job` (the Job), `journal` (paid answers made durable before their merge), `runs` (the
`runs` table), `ledger` (the `scrapes` table), `status` (what the tables hold), and `components`, the
composition root that builds the concrete sources, analyzers and stores from the settings.
"""

from reels.pipeline.analyses import analyze, answered_notes, journal_folder
from reels.pipeline.downloads import download, reels_to_download
from reels.pipeline.findings import insights, playbook
from reels.pipeline.intake import ingest, ingest_ads
from reels.pipeline.job import Job, Progress, no_progress, post_keys
from reels.pipeline.labels import label
from reels.pipeline.overlap import download_and_analyze
from reels.pipeline.publish import report
from reels.pipeline.upkeep import maintain

__all__ = [
    "Job",
    "Progress",
    "analyze",
    "answered_notes",
    "download",
    "download_and_analyze",
    "ingest",
    "ingest_ads",
    "insights",
    "journal_folder",
    "label",
    "maintain",
    "no_progress",
    "playbook",
    "post_keys",
    "reels_to_download",
    "report",
]
