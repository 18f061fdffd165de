"""Personal data at rest: sealing rules, keys, access by purpose, blind index, rotation.

The codec itself is `citycredit.shared.personal`; docs/personal-data.md and ADR 0008.
"""

__all__ = ["access", "db", "index", "keys", "records", "rotate", "service"]
