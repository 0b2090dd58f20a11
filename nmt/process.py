"""Process setup shared by the ``nmt`` command and the benchmark scripts: a quiet TensorFlow
import and one ``error:`` line instead of a traceback.

Start-up time decides where imports go.  Importing TensorFlow takes seconds, so the modules a
command passes through before it knows it needs TensorFlow import the TensorFlow-based modules
inside the function that uses them, after ``quiet_tensorflow()``; ``pyproject.toml`` lists them
(ruff's ``PLC0415`` is waived for them alone), and every other module imports at the top.
``tests/test_cli.py`` checks that importing the command imports neither TensorFlow nor Keras,
``tests/test_quick.py`` that the first translation of a few lines does not.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from collections.abc import Callable

from nmt.errors import NmtError

DEBUG = os.environ.get("NMT_DEBUG", "") not in ("", "0")  # full tracebacks and TensorFlow's own logs


def quiet_tensorflow() -> None:
    """Import TensorFlow without its chatter on stderr, whatever the caller's environment says.

    TF_CPP_MIN_LOG_LEVEL=3 is forced (a user's common 2 still lets C++ error lines such as
    failed CUDA probes through on every command).  TF 2.21 also logs through absl before
    absl is initialised, which ignores that variable; so stderr is parked in a file during
    the import and replayed only if the import fails.  ``NMT_DEBUG=1`` shows everything.
    """
    if DEBUG or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as parked:
        os.dup2(parked.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            parked.seek(0)
            sys.stderr.write(parked.read().decode("utf-8", "replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def report_errors(command: Callable[[], int | None]) -> int:
    """Run ``command`` and turn a user error into one ``error:`` line and exit status 2, or
    the error's own ``exit_status`` (``NMT_DEBUG=1`` also prints its traceback); the scripts
    in benchmarks/ use it too."""
    try:
        return command() or 0
    except NmtError as error:
        if DEBUG:
            traceback.print_exc()
        print(f"error: {error}", file=sys.stderr)
        return getattr(error, "exit_status", 2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
