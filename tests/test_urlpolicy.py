import pytest

from reels.config import DownloadSettings
from reels.errors import DownloadRefused
from reels.media.urlpolicy import check_address, check_url

DEFAULT = DownloadSettings()


@pytest.mark.parametrize(
    "url",
    [
        "https://scontent-fra3-2.cdninstagram.com/o1/v/x.mp4?oe=690DB876",
        "https://video.xx.fbcdn.net/v/t42/x.mp4",
        "https://CDNINSTAGRAM.COM./x.mp4",
    ],
)
def test_allowed(url: str) -> None:
    check_url(url, DEFAULT)


@pytest.mark.parametrize(
    "url",
    [
        "http://scontent.cdninstagram.com/x.mp4",  # plain http
        "file:///etc/passwd",
        "ftp://scontent.cdninstagram.com/x.mp4",
        "gopher://127.0.0.1:6379/_INFO",
        "https://evil.com/x.mp4",
        "https://cdninstagram.com.evil.com/x.mp4",
        "https://evilcdninstagram.com/x.mp4",
        "https://127.0.0.1/x.mp4",
        "https://2130706433/x.mp4",  # 127.0.0.1 as one decimal number
        "https://0x7f000001/x.mp4",  # hex
        "https://017700000001/x.mp4",  # octal
        "https://127.1/x.mp4",  # short form
        "https://[::1]/x.mp4",
        "https://[::ffff:127.0.0.1]/x.mp4",
        "https://169.254.169.254/latest/meta-data/",  # cloud metadata
        "https://10.0.0.1/x.mp4",
        "https://192.168.1.1/x.mp4",
        "https://172.16.0.1/x.mp4",
        "https://0.0.0.0/x.mp4",
        "https://user:pw@scontent.cdninstagram.com/x.mp4",
        "https:///x.mp4",
        "https://scontent.cdninstagram.com:99999/x.mp4",
    ],
)
def test_refused_before_any_connection(url: str) -> None:
    with pytest.raises(DownloadRefused):
        check_url(url, DEFAULT)


def test_a_listed_ip_literal_is_the_only_way_to_reach_it() -> None:
    settings = DownloadSettings(allowed_hosts=("127.0.0.1",), allow_http=True)
    check_url("http://127.0.0.1:8080/x.mp4", settings)
    with pytest.raises(DownloadRefused):
        check_url("http://127.0.0.2:8080/x.mp4", settings)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.0.0.53",
        "10.0.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",  # AWS/GCP/Azure metadata
        "100.100.100.200",  # Alibaba metadata (carrier-grade NAT range)
        "192.0.0.192",  # Oracle Cloud metadata
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fd00:ec2::254",  # AWS IPv6 metadata
        "::ffff:10.0.0.1",  # IPv4-mapped
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "ff02::1",
        "not-an-ip",
    ],
)
def test_resolved_addresses_refused(address: str) -> None:
    with pytest.raises(DownloadRefused):
        check_address("cdn.example", address, DEFAULT)


@pytest.mark.parametrize("address", ["157.240.1.174", "31.13.64.1", "2a03:2880:f10c:83:face:b00c:0:25de"])
def test_public_addresses_accepted(address: str) -> None:
    check_address("scontent.cdninstagram.com", address, DEFAULT)


def test_a_listed_private_address_may_be_reached_by_name() -> None:
    check_address("cdn.test", "10.0.0.1", DownloadSettings(allowed_hosts=("10.0.0.1", "test")))
