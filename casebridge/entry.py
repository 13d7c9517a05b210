"""How Casebridge's processes end: run the command, then leave without interpreter finalization.

The Temporal client's native threads can outlive ``asyncio.run`` and abort a finalizing interpreter
("PyGILState_Release: thread state must be current", temporalio/sdk-python#300), which would turn a
command that did its work, or a worker that stopped cleanly, into exit status -6. Everything written
is flushed first; the exit status is the command's own (SystemExit's code, 130 on Ctrl-C, 1 on an
uncaught error, whose traceback is printed).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn


def run_then_exit(command: Callable[[], object]) -> NoReturn:
    code: int | str | None
    try:
        command()
        code = 0
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        traceback.print_exc()
        code = 1
    if isinstance(code, str):
        sys.stderr.write(f"{code}\n")
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
