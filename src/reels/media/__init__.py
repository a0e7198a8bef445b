"""Stage 4, media: the videos, fetched at once from the CDN (its links expire within days), with
Instaloader/yt-dlp as fallbacks, validated, and kept content-addressed on disk.

In: `Reel`s with a `media_url`; the `[download]` settings (allowed hosts, size cap, retries).
Out: one `MediaFile` per reel (ok, failed, expired, refused, invalid, gone, with the reason), and the
video in the media store (`store.MediaStore`). Only https to allowed hosts, never a private address.
Tables: none here; `reels.pipeline.downloads` reads `reels` and `media` and writes `media`.
"""
