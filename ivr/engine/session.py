"""The state of one call between two webhooks: what the engine carries, and a store keeps.

Owns ``CallSession``. The engine owns the meaning of ``state``, ``data``, ``seq`` and
``last_reply``; the stores (``ivr.stores.sessions``) only keep them. Plain data: no IO.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class CallSession:
    """The state of one call between two webhooks.

    ``seq`` is the number of the next webhook step expected and ``last_reply`` the TwiML sent
    for step ``seq - 1``, so a duplicate delivery can be answered with the same reply.
    ``version`` belongs to the store: it counts saves and detects lost updates.
    """

    call_sid: str
    flow: str
    state: str
    lang: str
    data: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    seq: int = 0
    last_reply: str | None = None
    ended_at: datetime | None = None
    version: int = 0
