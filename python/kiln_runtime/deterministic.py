"""Deterministic randomness seeded by the run id: the same sequence as the JS runtime."""
from __future__ import annotations

from typing import Callable

_M = 0xFFFFFFFF


def _hash32(text: str, salt: int) -> int:
    h = (0x811C9DC5 ^ salt) & _M
    units = text.encode("utf-16-le")
    for i in range(0, len(units), 2):
        h ^= units[i] | (units[i + 1] << 8)
        h = (h * 0x01000193) & _M
    return h


def seeded_random(seed: str) -> Callable[[], float]:
    """An sfc32 generator of numbers in [0, 1), seeded by ``seed``."""
    state = [_hash32(seed, 1), _hash32(seed, 2), _hash32(seed, 3), _hash32(seed, 4)]

    def next_random() -> float:
        a, b, c, d = state
        t = (a + b) & _M
        a = b ^ (b >> 9)
        b = (c + (c << 3)) & _M
        c = ((c << 21) | (c >> 11)) & _M
        d = (d + 1) & _M
        t = (t + d) & _M
        c = (c + t) & _M
        state[0], state[1], state[2], state[3] = a, b, c, d
        return t / 4294967296

    return next_random


def uuid_from(random: Callable[[], float]) -> str:
    """A UUID in v4 format whose bits come from ``random``."""
    data = [int(random() * 256) for _ in range(16)]
    data[6] = (data[6] & 0x0F) | 0x40
    data[8] = (data[8] & 0x3F) | 0x80
    h = "".join("%02x" % b for b in data)
    return "%s-%s-%s-%s-%s" % (h[0:8], h[8:12], h[12:16], h[16:20], h[20:])
