"""Content-addressed video store: a file's path is its sha256, written by rename so it is never half there.

A folder by default; on Databricks the same code writes into a Unity Catalog Volume path (/Volumes/...),
which is a FUSE-mounted folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.mp4"

    def has(self, sha256: str | None) -> bool:
        return bool(sha256) and self.path_for(sha256).is_file()  # type: ignore[arg-type]

    @contextmanager
    def writer(self) -> Iterator[HashingWriter]:
        """A temporary file to stream into; `commit()` moves it to its content address, else it is removed."""
        staging = self.root / ".partial"
        staging.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=staging, suffix=".part")
        writer = HashingWriter(os.fdopen(fd, "wb"), Path(name), self)
        try:
            yield writer
        finally:
            writer.close()
            Path(name).unlink(missing_ok=True)

    @contextmanager
    def staging(self) -> Iterator[Path]:
        """A temporary folder beside the store for a tool that writes files itself (yt-dlp); removed after."""
        staging = self.root / ".partial"
        staging.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(dir=staging, suffix=".dir"))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def adopt(self, path: Path) -> tuple[str, Path]:
        """Move a finished file (on the store's file system) to its content address; (sha256, path)."""
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        sha = digest.hexdigest()
        return sha, self._place(path, sha)

    def _place(self, path: Path, sha256: str) -> Path:
        """Make the finished file durable, then rename it to its content address (atomic)."""
        with path.open("rb") as fh:
            os.fsync(fh.fileno())
        final = self.path_for(sha256)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, final)
        return final


class HashingWriter:
    """Writes bytes to a temporary file while hashing them."""

    def __init__(self, fh: BinaryIO, path: Path, store: MediaStore) -> None:
        self._fh, self.path, self._store = fh, path, store
        self._hash = hashlib.sha256()
        self.bytes = 0

    def write(self, chunk: bytes) -> None:
        self._fh.write(chunk)
        self._hash.update(chunk)
        self.bytes += len(chunk)

    def close(self) -> None:
        """Close the file; it can then be read (probed) before it is committed, or thrown away."""
        if not self._fh.closed:
            self._fh.close()

    def commit(self) -> tuple[str, Path]:
        """Move the finished file to its content address (atomic rename); returns (sha256, path)."""
        self.close()
        sha = self._hash.hexdigest()
        return sha, self._store._place(self.path, sha)
