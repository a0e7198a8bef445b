"""What the profile, hashtag and reel scrapers put in their datasets, for the fake Apify: items built from a
small world of accounts, in the actors' item formats (apify.md §1.3, §1.4, §5), error rows included.

    world = World(now)
    world.account("loafmode", followers=52_000, bio="one loaf of a cat 🐱", related=["purrfectpals"])
    apify.add_actor("apify/instagram-profile-scraper", items=world.profiles)
    apify.add_actor("apify/instagram-hashtag-scraper", items=world.hashtag_posts)
    apify.add_actor("apify/instagram-reel-scraper", items=world.reels)

An account missing from the world gets the actor's `not_found` error row; `private=True` gives a profile
with `private: true` and no posts; `related=[]` (the default) is the empty `relatedProfiles` seen often.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass
class FakeAccount:
    username: str
    followers: int
    bio: str
    captions: list[str]
    related: list[str]
    private: bool
    views: int  # each recent reel's plays
    days_between_posts: float
    last_post_days_ago: float
    hashtags: list[str] = field(default_factory=list)


@dataclass
class World:
    now: datetime
    accounts: dict[str, FakeAccount] = field(default_factory=dict)
    tagged: dict[str, list[str]] = field(default_factory=dict)  # hashtag → accounts whose reels it shows
    block: set[str] = field(default_factory=set)  # accounts the actor answers with a `no_items` row

    def account(
        self,
        username: str,
        *,
        followers: int = 20_000,
        bio: str = "Daily cat reels 🐱",
        captions: list[str] | None = None,
        related: list[str] | None = None,
        private: bool = False,
        views: int = 10_000,
        days_between_posts: float = 2.0,
        last_post_days_ago: float = 1.0,
        hashtags: list[str] | None = None,
    ) -> FakeAccount:
        self.accounts[username] = FakeAccount(
            username,
            followers,
            bio,
            captions if captions is not None else ["Zoomies at 3am #catsofinstagram", "Full loaf 🍞 #cats"],
            related or [],
            private,
            views,
            days_between_posts,
            last_post_days_ago,
            hashtags or [],
        )
        for tag in hashtags or []:
            self.tagged.setdefault(tag, []).append(username)
        return self.accounts[username]

    # -- apify/instagram-profile-scraper --------------------------------------------------------------

    def profiles(self, run_input: dict[str, Any]) -> list[dict[str, Any]]:
        items = []
        for name in run_input["usernames"]:
            account = self.accounts.get(name)
            if name in self.block:
                items.append(
                    {
                        "inputUrl": f"https://www.instagram.com/{name}",
                        "error": "no_items",
                        "errorDescription": "Empty or private data for provided input",
                    }
                )
            elif account is None:
                items.append(
                    {
                        "inputUrl": f"https://www.instagram.com/{name}",
                        "error": "not_found",
                        "errorDescription": "Page not found",
                    }
                )
            else:
                items.append(self._profile(account))
        return items

    def _profile(self, a: FakeAccount) -> dict[str, Any]:
        posts = [] if a.private else [self._post(a, i) for i in range(12)]
        return {
            "inputUrl": f"https://www.instagram.com/{a.username}",
            "id": str(abs(hash(a.username)) % 10**10),
            "username": a.username,
            "url": f"https://www.instagram.com/{a.username}",
            "fullName": a.username.title(),
            "biography": a.bio,
            "externalUrls": [],
            "followersCount": a.followers,
            "followsCount": 310,
            "hasChannel": False,
            "highlightReelCount": 4,
            "isBusinessAccount": True,
            "joinedRecently": False,
            "businessCategoryName": "Pet",
            "private": a.private,
            "verified": False,
            "profilePicUrl": "https://scontent.cdninstagram.com/v/t51/p.jpg",
            "igtvVideoCount": 0,
            "relatedProfiles": [
                {
                    "id": str(abs(hash(r)) % 10**10),
                    "username": r,
                    "full_name": r.title(),
                    "is_verified": False,
                    "is_private": False,
                    "profile_pic_url": "https://scontent.cdninstagram.com/v/t51/r.jpg",
                }
                for r in a.related
            ],
            "postsCount": 480,
            "latestPosts": posts,
        }

    def _post(self, a: FakeAccount, i: int) -> dict[str, Any]:
        at = self.now - timedelta(days=a.last_post_days_ago + i * a.days_between_posts)
        video = i % 4 != 3  # three reels in four posts
        code = f"C{abs(hash((a.username, i))) % 10**9:09d}x"
        caption = a.captions[i % len(a.captions)] if a.captions else ""
        post = {
            "id": str(abs(hash((a.username, i))) % 10**12),
            "type": "Video" if video else "Image",
            "shortCode": code,
            "caption": caption,
            "hashtags": [w[1:] for w in caption.split() if w[:1] == "#"],
            "mentions": [],
            "url": f"https://www.instagram.com/p/{code}/",
            "commentsCount": 12,
            "likesCount": a.views // 20,
            "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "ownerUsername": a.username,
            "isPinned": False,
        }
        if video:
            post |= {"videoViewCount": a.views // 2, "productType": "clips"}  # the older, smaller counter
        return post

    # -- apify/instagram-hashtag-scraper ---------------------------------------------------------------

    def hashtag_posts(self, run_input: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for tag in run_input["hashtags"]:
            owners = self.tagged.get(tag, [])
            if not owners:
                items.append(
                    {
                        "inputUrl": f"https://www.instagram.com/explore/tags/{tag}",
                        "error": "no_items",
                        "errorDescription": "Empty or private data for provided input",
                    }
                )
            for owner in owners[: run_input.get("resultsLimit", 20)]:
                a = self.accounts[owner]
                code = f"H{abs(hash((tag, owner))) % 10**9:09d}x"
                items.append(
                    {
                        "inputUrl": f"https://www.instagram.com/explore/tags/{tag}",
                        "hashtag": tag,
                        "id": str(abs(hash((tag, owner))) % 10**12),
                        "type": "Video",
                        "shortCode": code,
                        "caption": f"#{tag} best cat",
                        "hashtags": [tag],
                        "url": f"https://www.instagram.com/reel/{code}/",
                        "likesCount": a.views // 20,
                        "commentsCount": 3,
                        "videoPlayCount": a.views,
                        "timestamp": (self.now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                        "ownerUsername": owner,
                        "ownerId": str(abs(hash(owner)) % 10**10),
                        "productType": "clips",
                    }
                )
        return items

    # -- apify/instagram-reel-scraper (the trial scrape, and tracked accounts) --------------------------

    def reels(self, run_input: dict[str, Any]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for name in run_input["username"]:
            a = self.accounts.get(name)
            if a is None or a.private:
                items.append(
                    {
                        "inputUrl": f"https://www.instagram.com/{name}",
                        "error": "no_items",
                        "errorDescription": "Empty or private data for provided input",
                    }
                )
                continue
            for i in range(min(run_input.get("resultsLimit", 30), 12)):
                at = self.now - timedelta(days=a.last_post_days_ago + 10 + i * a.days_between_posts)
                code = f"R{abs(hash((name, i))) % 10**9:09d}x"
                items.append(
                    {
                        "id": str(abs(hash((name, i))) % 10**12),
                        "type": "Video",
                        "shortCode": code,
                        "caption": a.captions[i % len(a.captions)] if a.captions else "",
                        "hashtags": [],
                        "url": f"https://www.instagram.com/reel/{code}/",
                        "commentsCount": 10,
                        "likesCount": a.views // 20,
                        "videoPlayCount": a.views * (12 if i == 0 else 1),  # one breakout each
                        "videoViewCount": a.views // 2,
                        "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                        "ownerUsername": name,
                        "videoDuration": 12.5,
                        "videoUrl": f"https://scontent.cdninstagram.com/v/t50/{code}.mp4",
                        "productType": "clips",
                        "isPinned": False,
                    }
                )
        return items
