"""Work-arounds for defects of the Qt bindings the app runs on: what was found, how it is checked, what is done.

PySide6 6.12.0 (its abi3 wheels) hands out ``None``, ``True`` and ``False`` without adding a reference to them:
a method that returns nothing (``setText``, ``setValue``, ``QMediaPlayer.play``, ``processEvents`` ...) returns
``None`` that way and ``Signal.emit`` returns ``True`` that way. On CPython 3.12+ those objects are immortal and
that is harmless; on CPython 3.10/3.11 every such call takes one reference away from them for good, and after a
few thousand calls (measured here: 5 000 ``emit`` calls, or 20 000 ``QLabel.setText`` calls) CPython aborts with
"Fatal Python error: bool_dealloc" / "none_dealloc". A GUI session makes that many calls in minutes (indexing
progress alone emits twenty signals a second).

:func:`protect_singletons` measures both leaks and, only where there is one, gives those objects a reserve of
references as large as 3.12's immortal objects have, so they can never reach zero. Every entry point that runs
Qt calls it first: ``run_gui``, the GUI tests, the screenshot and benchmark scripts.
"""

from __future__ import annotations

import ctypes
import sys

RESERVE = 1 << 40  # references; at a million leaking calls a second that is twelve days
PROBE_CALLS = 64
SINGLETONS = (None, True, False, NotImplemented)  # what a binding may hand out as if immortal

_protected = False


def leaked_references() -> dict[str, int]:
    """References of ``None`` lost per Qt call returning nothing and of ``True`` per ``Signal.emit`` (0: fine)."""
    from PySide6.QtCore import QObject, QPoint, Signal

    class _Probe(QObject):
        ping = Signal()

    probe, point = _Probe(), QPoint()

    def lost(obj: object, call) -> int:
        before = sys.getrefcount(obj)
        for _ in range(PROBE_CALLS):
            call()
        return max(0, round((before - sys.getrefcount(obj)) / PROBE_CALLS))

    return {"None": lost(None, lambda: point.setX(1)), "True": lost(True, probe.ping.emit)}


def protect_singletons() -> bool:
    """Make ``None``/``True``/``False`` outlive the bindings' leaks (see the module docstring); True when needed.

    Idempotent. Does nothing on CPython 3.12+ (those objects are immortal), on other interpreters, or when the
    installed bindings do not leak.
    """
    global _protected
    if _protected or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    if not any(leaked_references().values()):
        return False
    for obj in SINGLETONS:
        # ob_refcnt is the first field of every CPython object (a Py_ssize_t): raise it in place, once.
        ctypes.c_ssize_t.from_address(id(obj)).value += RESERVE
    _protected = True
    return True
