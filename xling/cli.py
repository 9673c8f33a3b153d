"""The command-line boundary shared by xling's entry points.

Every error a user can cause ends the program with one line on stderr naming the
cause, and exit status 2; `--verbose` (or XLING_VERBOSE=1) shows the traceback
instead. An interrupt (Ctrl-C, SIGTERM) is one line too: units written so far are
kept, and re-running the same command resumes.
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
import signal
import sys
import traceback
from collections.abc import Callable

from absl import flags

from xling.errors import XlingError

VERBOSE_ENV = "XLING_VERBOSE"
_VERBOSE = flags.DEFINE_bool("verbose", False, f"Show tracebacks of errors (or set {VERBOSE_ENV}=1).")

# Errors of the user's making: bad config values, missing files, data and checkpoint problems.
USER_ERRORS = (XlingError, FileNotFoundError, NotADirectoryError, PermissionError, ValueError, KeyError)


def verbose() -> bool:
    return bool(os.environ.get(VERBOSE_ENV)) or (flags.FLAGS.is_parsed() and _VERBOSE.value)


def one_line(error: BaseException) -> str:
    """The message of an error as a single readable line."""
    if isinstance(error, KeyError) and not isinstance(error, XlingError) and error.args:
        message = str(error.args[0])  # str(KeyError) would quote and escape it
    else:
        message = str(error)
    message = message.strip()
    if len(message) > 1 and message[0] == message[-1] and message[0] in "'\"" and "\\" in message:
        with contextlib.suppress(ValueError, SyntaxError):  # an error wrapping str(KeyError)
            message = str(ast.literal_eval(message)).strip()
    # ml_collections reports an unknown --config.field as "'field'\nDid you mean ...".
    if key := re.match(r"""^(["'])([\w.]+)\1(?:\n|$)""", message):
        rest = message[key.end() :].strip()
        message = f"the config has no field {key.group(2)!r}" + (
            f" ({rest[0].lower()}{rest[1:]})" if rest else ""
        )
    lines = [x.strip() for x in message.splitlines() if x.strip()]
    if len(lines) > 1:
        # A config file's own error arrives wrapped in its traceback: keep the final line.
        last = lines[-1]
        message = re.sub(r"^\w+(Error|Exception): ", "", last) if "Traceback" in message else "; ".join(lines)
    return message or type(error).__name__


def fail(error: BaseException) -> None:
    """Print `error: ...` (or the traceback when verbose) and exit 2."""
    if verbose():
        traceback.print_exception(error)
    else:
        print(f"error: {one_line(error)}", file=sys.stderr)
    sys.exit(2)


def _terminate(signum, frame):  # SIGTERM ends the run like Ctrl-C: one line, units kept
    raise KeyboardInterrupt


def guarded(body: Callable[[], None], interrupted: str) -> None:
    """Run `body` at the boundary: user errors and interrupts become one line each."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        body()
    except KeyboardInterrupt:
        if verbose():
            traceback.print_exc()
        print(f"interrupted: {interrupted}", file=sys.stderr)
        # Leave without tearing the interpreter down: an interrupt can land while XLA's
        # threads still run a computation, and finalising Python under them can crash
        # (a SIGSEGV at exit was seen under load). Everything worth keeping is already on
        # disk: units and outputs are written atomically when they finish.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    except USER_ERRORS as e:
        fail(e)


def parse_flags(argv: list[str]) -> list[str]:
    """absl's parser with config errors (unknown fields, bad values, a config file's own
    ValueError) reported in one line instead of a traceback."""
    try:
        return flags.FLAGS(argv)
    except (flags.Error, KeyError, AttributeError, TypeError, ValueError) as e:
        if "--verbose" in argv or os.environ.get(VERBOSE_ENV):
            traceback.print_exception(e)
        print(f"error: {one_line(e)}", file=sys.stderr)
        sys.exit(2)
