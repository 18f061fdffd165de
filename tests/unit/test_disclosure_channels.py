"""Every channel the code writes to the disclosure log has a Chinese label for the subject's
查询记录 (kernel/disclosure.py::CHANNEL_LABELS)."""

from __future__ import annotations

import re
from pathlib import Path

import citycredit
from citycredit.kernel.disclosure import CHANNEL_LABELS, channel_label
from citycredit.sharing.model import Channel

SRC = Path(citycredit.__file__).parent


def test_every_channel_written_has_a_label() -> None:
    written = set()
    for path in SRC.rglob("*.py"):
        written |= set(re.findall(r'\bchannel="([a-z_]+)"', path.read_text("utf-8")))
        written |= set(re.findall(r'\bchannel: str = "([a-z_]+)"', path.read_text("utf-8")))
    written |= {f"sharing_{ch.value}" for ch in Channel}  # sharing.service: f"sharing_{…}"
    # not reads: objections' and repairs' filing channels, a subscription's delivery channel
    written -= {"online", "window", "pull"}
    assert {"api", "institution", "self", "download", "export", "province"} <= written
    missing = sorted(ch for ch in written if ch not in CHANNEL_LABELS)
    assert not missing, missing
    assert channel_label("unknown_channel") == "unknown_channel"
