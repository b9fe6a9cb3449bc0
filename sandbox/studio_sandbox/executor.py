"""Execute a notebook's code cells in this process with IPython, producing the outputs a Jupyter kernel would.

Runs inside a grading sandbox, in a process forked for one submission (``worker``). No kernel, no ZMQ: the
cell runs in an ``InteractiveShell`` whose display hook, display publisher, ``sys.stdout``/``sys.stderr`` and
traceback printer write nbformat outputs (``stream``, ``execute_result``, ``display_data``, ``error``) with
execution counts, as nbclient would record them. Each cell has a time limit (``CellTimeoutError``, like
nbgrader's) and a cap on the output it may keep (the rest is cut with a note), so an infinite loop or a
gigabyte of printing costs the submission its points, not the grader its memory.

It also watches for what a test relies on being changed under it: built-in functions replaced, or student code
hooking the interpreter (trace functions, IPython event callbacks). Those are reported as ``flags`` with a plain
reason; the grader decides.
"""

from __future__ import annotations

import builtins
import signal
import sys
from typing import Any

from IPython.core.displayhook import DisplayHook
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell

MAX_OUTPUT_BYTES = 1_000_000  # kept per cell; what is printed beyond is dropped
# Methods of the shell a notebook could replace on the instance to fake a test's result.
MACHINERY = {"run_cell", "run_code", "run_ast_nodes", "_showtraceback", "showtraceback", "transform_cell"}
TRUNCATED = "\n[output cut: this cell printed more than {limit} characters]\n"


class CellTimeoutError(BaseException):
    """Raised into a cell that runs longer than its limit (a BaseException: ``except Exception`` won't hide it)."""


class _Outputs:
    """The outputs of the cell being executed, with a size budget."""

    def __init__(self, limit: int):
        self.items: list[dict[str, Any]] = []
        self.limit = limit
        self.used = 0
        self.cut = False

    def _take(self, n: int) -> bool:
        if self.used + n > self.limit:
            self.cut = True
            return False
        self.used += n
        return True

    def stream(self, name: str, text: str) -> None:
        if self.cut:
            return
        if not self._take(len(text)):
            room = max(0, self.limit - self.used)
            text = text[:room] + TRUNCATED.format(limit=self.limit)
            self.used = self.limit
        last = self.items[-1] if self.items else None
        if last and last["output_type"] == "stream" and last["name"] == name:
            last["text"] += text
        else:
            self.items.append({"output_type": "stream", "name": name, "text": text})

    def rich(self, output_type: str, data: dict, metadata: dict, count: int | None = None) -> None:
        size = sum(len(v) if isinstance(v, str) else len(repr(v)) for v in data.values())
        if self.cut:
            return
        if not self._take(size):  # the first output past the budget: a note says so, once
            self.items.append({"output_type": "stream", "name": "stderr", "text": TRUNCATED.format(limit=self.limit)})
            return
        out = {"output_type": output_type, "data": data, "metadata": metadata}
        if output_type == "execute_result":
            out["execution_count"] = count
        self.items.append(out)


class _Stream:
    def __init__(self, outputs: _Shell, name: str):
        self._shell, self.name = outputs, name

    def write(self, text) -> int:
        text = str(text)
        self._shell.outputs.stream(self.name, text)
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return "utf-8"


class _DisplayHook(DisplayHook):
    def write_output_prompt(self):
        pass

    def write_format_data(self, format_dict, md_dict=None):
        self.shell.outputs.rich("execute_result", dict(format_dict), dict(md_dict or {}), self.shell.execution_count)

    def finish_displayhook(self):
        sys.stdout.flush()


class _DisplayPublisher(DisplayPublisher):
    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
        self.shell.outputs.rich("display_data", dict(data), dict(metadata or {}))

    def clear_output(self, wait=False):
        self.shell.outputs.items.clear()


class _Shell(InteractiveShell):
    outputs: _Outputs
    displayhook_class = _DisplayHook
    display_pub_class = _DisplayPublisher

    def _showtraceback(self, etype, evalue, stb):
        self.outputs.items.append(
            {
                "output_type": "error",
                "ename": getattr(etype, "__name__", str(etype)),
                "evalue": str(evalue),
                "traceback": list(stb),
            }
        )

    def enable_gui(self, gui=None):
        pass


def new_shell() -> _Shell:
    """An IPython shell set up as a kernel's: inline figures, colours as Jupyter shows them, no history file."""
    # The singleton: IPython's display() publishes through InteractiveShell.instance().
    shell = _Shell.instance(colors="Linux", history_length=0, history_load_length=0)
    shell.history_manager.enabled = False
    # Tracebacks name the file (cell), line and code of each frame, as Python's own do. IPython's default
    # "Context" mode analyses every frame's source around it: 0.07 s per error here, several times that under
    # gVisor, where most wrong submissions spend most of their time.
    shell.InteractiveTB.set_mode("Plain")
    shell.outputs = _Outputs(MAX_OUTPUT_BYTES)
    return shell


def _on_timeout(signum, frame):
    raise CellTimeoutError("the cell ran longer than its time limit and was stopped")


class Watch:
    """What tests rely on, noted before any student code runs; ``changes()`` says what was altered since,
    ``restore()`` puts it back before a test runs."""

    def __init__(self, shell: _Shell):
        self.shell = shell
        self.builtins = dict(vars(builtins))
        self.trace, self.profile = sys.gettrace(), sys.getprofile()
        self.events = {name: list(cbs) for name, cbs in shell.events.callbacks.items()}
        # The machinery that runs a test and records its failure: the shell's classes and its hooks.
        self.classes = {
            cls: dict(vars(cls)) for cls in (*type(shell).__mro__, _DisplayHook, _DisplayPublisher, _Outputs, _Stream)
        }
        self.hooks = (shell.displayhook, shell.display_pub, sys.displayhook, sys.excepthook)

    def changes(self, judged: bool = False) -> list[str]:
        """``judged``: the tests run in a judge (``worker``), where no object of the notebook's decides ``==``: a
        class with its own ``==`` is then honest work, not a flag."""
        found = []
        patched = set(vars(self.shell)) & MACHINERY
        if patched or any(dict(vars(cls)) != saved for cls, saved in self.classes.items()):
            found.append("the notebook changed IPython's own machinery (what runs tests and records failures)")
        if (self.shell.displayhook, self.shell.display_pub, sys.displayhook, sys.excepthook) != self.hooks:
            found.append("the notebook replaced the display hook or the exception hook")
        if self.shell.custom_exceptions:
            found.append("the notebook installed its own exception handler (set_custom_exc), which can hide failures")
        now = vars(builtins)
        for name, value in self.builtins.items():
            if now.get(name) is not value and not name.startswith("_"):
                found.append(f"Python's built-in `{name}` was replaced")
        if sys.gettrace() is not self.trace or sys.getprofile() is not self.profile:
            found.append("a trace or profile function was installed (it can see and change what tests do)")
        for name, cbs in self.shell.events.callbacks.items():
            if list(cbs) != self.events.get(name, []):
                found.append(f"an IPython '{name}' event callback was registered")
        for name, value in [] if judged else list(self.shell.user_ns.items()):
            cls = value if isinstance(value, type) else None
            if cls is not None and cls.__module__ == "__main__" and "__eq__" in vars(cls):
                found.append(
                    f"the notebook defines `{name}` with its own == (a test comparing with one of them "
                    "may pass whatever its value)"
                )
        return found

    def restore(self) -> None:
        """Put back what tests rely on: the built-ins, no trace function, IPython's events as they were."""
        vars(builtins).update(self.builtins)
        sys.settrace(self.trace)
        sys.setprofile(self.profile)
        for name, cbs in self.events.items():
            self.shell.events.callbacks[name][:] = cbs


def run_cell(shell: _Shell, source: str, timeout: float) -> tuple[list[dict], int | None, bool]:
    """Execute one code cell; returns (outputs, execution_count, had_error)."""
    shell.outputs = _Outputs(MAX_OUTPUT_BYTES)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Stream(shell, "stdout"), _Stream(shell, "stderr")
    previous = signal.signal(signal.SIGALRM, _on_timeout)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        result = shell.run_cell(source, store_history=True, silent=False)
    except CellTimeoutError as e:  # raised outside the cell's own code (IPython's machinery): same report
        shell.outputs.items.append(
            {
                "output_type": "error",
                "ename": "CellTimeoutError",
                "evalue": str(e),
                "traceback": [f"CellTimeoutError: {e}"],
            }
        )
        result = None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        sys.stdout, sys.stderr = saved
    error = result is None or not result.success
    count = shell.execution_count - 1 if result is not None else shell.execution_count
    return shell.outputs.items, count, error
