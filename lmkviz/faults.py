"""Named kill points for reliability tests: off unless ``LMKVIZ_KILL_AT`` is set.

``LMKVIZ_KILL_AT="epoch-end:last"`` makes the process kill itself (SIGKILL, as a power
cut or the out-of-memory killer would) the first time it reaches that point;
``"epoch-end:last@3"`` the third time; several points are separated by commas. The
points, in the order an epoch ends (:meth:`lmkviz.training.Trainer.end_epoch`):

    epoch-end:preview    preview.npz written
    epoch-end:record     the epoch record appended to metrics.jsonl
    tmp:last.pt          last.pt's temporary file written, not yet renamed
    epoch-end:last       last.pt replaced (the epoch is committed)
    epoch-end:best       best.pt written (epochs that improved)
    epoch-end:status     status.json updated

Without the variable a kill point costs one dictionary lookup and does nothing.
"""

from __future__ import annotations

import os
import signal

ENV = "LMKVIZ_KILL_AT"

_seen: dict[str, int] = {}


def kill_point(name: str) -> None:
    """SIGKILL this process when ``LMKVIZ_KILL_AT`` names this point (and this visit)."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    for item in spec.split(","):
        point, _, nth = item.strip().partition("@")
        if point != name:
            continue
        _seen[name] = _seen.get(name, 0) + 1
        try:
            wanted = int(nth) if nth else 1
        except ValueError:
            continue
        if _seen[name] == wanted:
            os.kill(os.getpid(), signal.SIGKILL)
