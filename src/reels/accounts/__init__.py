"""Stage 1, accounts: who is scraped. The tracked accounts, where new ones come from, how they score,
and the weekly rotation between them.

In: account names (`[apify] accounts`, the accounts file), profile snapshots (followers, bio, latest
posts), posts found under cat hashtags, tracked captions, and each account's reels' performance.
Out: `Account` rows (status `core`, `explore`, `candidate`, `retired` or `excluded`, with the reason) and
the week's `Change`s. Pure: the scrapes that feed it are `reels.sources` (actors, profiles).
Tables: none here; `reels.pipeline.accounts` reads and writes `accounts` and `account_snapshots`.

- `names`: usernames as the actors take them, and the accounts file;
- `candidates`: related profiles, hashtag owners, caption mentions → new candidates;
- `scoring`: cheap signals → a score in 0..1, or the reason to exclude;
- `rotation`: the policy of `[accounts]` → the week's changes.
"""
