"""Table upkeep after the stages: compaction of small files and vacuum of old ones."""

from __future__ import annotations

from reels.pipeline.job import Job
from reels.records import StageCounts
from reels.storage.tables import (
    ALL,
)


def maintain(job: Job) -> StageCounts:
    """Compact each table's small files and vacuum the files no recent version needs ([storage] settings).
    Runs after the stages, when nothing else writes; an answered call was merged (or journaled) before."""
    counts = StageCounts("maintain")
    st = job.settings.storage
    for spec in ALL.values():
        done = job.store.maintain(
            spec,
            min_files=st.compact_min_files,
            target_mb=st.target_file_mb,
            retain_hours=st.vacuum_retention_hours,
        )
        counts.add("files_compacted", done.files_compacted)
        counts.add("files_written", done.files_written)
        counts.add("files_vacuumed", done.files_vacuumed)
        if done.note and done.note not in counts.notes:
            counts.notes.append(done.note)
    return counts
