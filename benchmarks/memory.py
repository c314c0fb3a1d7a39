"""Peak resident memory of one benchmark step (Linux ``/proc``).

``VmHWM`` is a process's peak RSS since it started, or since its peak was reset by writing
``5`` to ``/proc/self/clear_refs``, so each step of a long run can report its own peak.
Elsewhere both functions do nothing and the figure is ``None`` (shown as "n/a").
"""

from __future__ import annotations

import re


def reset_peak() -> None:
    """Start measuring this process's peak RSS afresh."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        pass


def peak_mb(pid: int | str = "self") -> float | None:
    """Peak RSS in MB of ``pid`` (this process by default) since it started or was reset."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            found = re.search(r"^VmHWM:\s+(\d+)\s+kB", fh.read(), re.MULTILINE)
    except OSError:
        return None
    return int(found.group(1)) / 1024 if found else None


def shown(mb: float | None) -> str:
    """A peak as the tables show it."""
    return "n/a" if mb is None else f"{mb:,.0f} MB"
