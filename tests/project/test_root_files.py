"""Files browsers ask for at the site root, served by WhiteNoise (WHITENOISE_ROOT)."""

from __future__ import annotations

import struct


def test_favicon_is_a_real_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    body = b"".join(response.streaming_content)
    # An ICO header (reserved 0, type 1) listing images whose sizes browsers use for tabs.
    reserved, kind, count = struct.unpack("<HHH", body[:6])
    assert (reserved, kind) == (0, 1) and count >= 1
    sizes = {body[6 + 16 * i] or 256 for i in range(count)}
    assert {16, 32} <= sizes
    assert len(body) < 20_000
    assert "max-age" in response.get("Cache-Control", "")
