"""Ctrl-C that an interactive prompt cannot miss.

CPython's ``input()`` with readline waits for a key in ``select()`` and looks at pending
signals only when ``select()`` is interrupted.  A SIGINT that lands while readline is busy
(echoing the last key, say) only sets CPython's flag; ``select()`` then blocks, and the
Ctrl-C takes effect at the next key.  ``reliable_ctrl_c`` closes that gap: the signal wakes a
watcher thread (``signal.set_wakeup_fd``), which sends SIGINT to the main thread again every
``REPEAT_SECONDS`` until the main thread has raised ``KeyboardInterrupt``.

A second gap is the terminal's: Ctrl-C also flushes the keys typed but not yet read.  If that
happens after readline was told a key is waiting and before it reads it, readline blocks in
its own ``pselect()``, which retries after every signal and returns only on a key - the
REPL would hang until the next key.  So the block turns the flush off (``NOFLSH``) and
discards the unread keys itself once it is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import termios
import threading
from collections.abc import Iterator

REPEAT_SECONDS = 0.05


@contextlib.contextmanager
def reliable_ctrl_c() -> Iterator[None]:
    """Within the block, the first Ctrl-C raises ``KeyboardInterrupt`` in the main thread even
    while it waits in C code that missed the signal; later ones are ignored, so clean-up code
    after the interrupt runs to its end.  Call from the main thread."""
    main = threading.main_thread().ident
    raised = threading.Event()
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)

    def on_interrupt(signum, frame) -> None:
        if not raised.is_set():
            raised.set()
            raise KeyboardInterrupt

    def watch() -> None:
        while number := os.read(read_end, 1):  # a byte per caught signal; b"" once the block is left
            while number[0] == signal.SIGINT and not raised.wait(REPEAT_SECONDS):
                signal.pthread_kill(main, signal.SIGINT)

    previous_handler = signal.signal(signal.SIGINT, on_interrupt)
    previous_fd = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    watcher = threading.Thread(target=watch, name="ctrl-c watcher", daemon=True)
    watcher.start()
    try:
        with _unread_keys_kept_on_ctrl_c():
            yield
    finally:
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGINT, previous_handler)
        raised.set()  # a watcher still repeating stops
        os.close(write_end)  # and a waiting one reads b""
        watcher.join()
        os.close(read_end)


@contextlib.contextmanager
def _unread_keys_kept_on_ctrl_c() -> Iterator[None]:
    """On a terminal: Ctrl-C leaves the unread keys for readline to read (``NOFLSH``); they
    are discarded when the block is left, as the terminal would have done."""
    try:
        terminal = sys.stdin.fileno()
        settings = termios.tcgetattr(terminal)
    except (OSError, ValueError, termios.error):  # not a terminal
        yield
        return
    kept = settings.copy()
    kept[3] |= termios.NOFLSH  # the local modes
    termios.tcsetattr(terminal, termios.TCSANOW, kept)
    try:
        yield
    finally:
        termios.tcflush(terminal, termios.TCIFLUSH)
        termios.tcsetattr(terminal, termios.TCSANOW, settings)
