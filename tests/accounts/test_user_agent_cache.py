"""The description of a login's user agent (device, browser, OS) is parsed once per distinct string."""

from accounts import services

PIXEL = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)


def test_a_repeated_user_agent_is_parsed_once_and_described_the_same():
    services._user_agent_description.cache_clear()
    first = services._describe_user_agent(PIXEL)
    assert first == {"device": "Phone (Pixel 8)", "browser": "Chrome Mobile 120.0.0", "os": "Android 14"}
    again = services._describe_user_agent(PIXEL)
    assert again == first and again is not first  # a dict of its own each time: callers may change it
    info = services._user_agent_description.cache_info()
    assert (info.misses, info.hits) == (1, 1)


def test_a_very_long_user_agent_is_described_from_its_first_characters():
    """Only the first USER_AGENT_PARSE_MAX_LENGTH characters are parsed (a 5,000-digit version was a
    500 in the parser) and kept as the cache's key, so a huge header costs one bounded entry."""
    services._user_agent_description.cache_clear()
    long = PIXEL + " x" * 400
    assert services._describe_user_agent(long)["device"] == "Phone (Pixel 8)"
    assert services._describe_user_agent(long + " y" * 5000)["device"] == "Phone (Pixel 8)"
    info = services._user_agent_description.cache_info()
    assert (info.currsize, info.misses, info.hits) == (1, 1, 1)
    assert services._describe_user_agent("") == {"device": "", "browser": "", "os": ""}
