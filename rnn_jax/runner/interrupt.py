"""Ctrl-C during a run: the first SIGINT asks the loop to stop after the running chunk (which
then saves a checkpoint); a second one raises ``KeyboardInterrupt`` at once."""

from __future__ import annotations

import signal
import sys
import threading


class GracefulStop:
    """While active (main thread only), the first SIGINT sets :attr:`requested`."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\ninterrupt: stopping after this chunk and saving (Ctrl-C again to stop now)", file=sys.stderr, flush=True)

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
