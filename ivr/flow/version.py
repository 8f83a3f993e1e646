"""A flow's version: the first 12 hex digits of the SHA-256 of its file.

Owns ``flow_version``. Call records store it (``stores.records``) and ``ivr serve`` logs it, so
the wording a past caller heard can be found again (``git log`` on the flow file, and ``ivr
diff`` between two versions). Depends on ``flow.spec`` only; reads the file it names.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ivr.flow.spec import Flow

LENGTH = 12


def flow_version(flow: Flow) -> str:
    """The hash of ``flow``'s file as it is on disk; of the parsed flow when there is no file
    (a flow built in code), so every flow has one."""
    try:
        content = Path(flow.file).read_bytes()
    except OSError:
        content = repr(flow).encode("utf-8")
    return hashlib.sha256(content).hexdigest()[:LENGTH]
