"""What crosses between a submission's process and the process that judges it (issue 16: verdicts decided outside
the student's interpreter). The grading worker's judge mode uses it (``c.SandboxedExecute.judge = True``;
docs/judge.md).

Two processes, two uids, one socket between them. The *holder* is the student's process: it has run the student's
cells and holds their objects. The *judge* runs the test cells, and no student code ever runs in it. What a test
touches of the student's work crosses to the judge only as:

- **plain data**: None, bool, int, float, complex, str, bytes, and lists, tuples, dicts, sets and frozensets of
  them; numpy arrays of a non-object dtype (as their bytes). The holder converts (an ``int`` subclass crosses as
  its int value, a numpy scalar as its ``item()``): whatever it sends is the student's answer, exactly as if their
  function had returned that value. The judge builds its own objects from the wire, with its own types, so ``==``,
  ordering, hashing, ``len``, truth and ``isinstance`` of those are Python's, never the student's;
- **a reference** to anything else (functions, classes, instances, modules): a :class:`Proxy` in the judge, whose
  calls, attribute reads and writes run in the holder and answer with plain data or more references. A proxy
  decides nothing in the judge: it equals only itself, hashes by identity, is true, and has no order. ``len()``,
  ``iter()``, ``repr()``, ``str()`` and ``isinstance(x, <proxy of a class>)`` are asked of the holder and
  answered as data, as a method of the student's would be. A function of a test's given to the student's code is
  called back in the judge; a module, or a function or class of an installed one, is the judge's own import.

A call copies its arguments in and out: the holder calls with fresh copies and sends back what they hold after
the call, and the judge puts that back into its own lists, dicts and sets, so tests of functions that change
their arguments in place keep working. What the student's code prints during a call comes back with the answer
and is printed in the judge, where the test (and its output capture) sees it.

An exception the student's code raises becomes, in the judge, an exception of the judge's own making: the
nearest built-in class (``ValueError`` for ``class MyError(ValueError)``), with the student's arguments as plain
data; its class name is kept as data (``student_type``), never run.

The wire is JSON lines (``json`` never builds anything but dicts, lists, str, int, float, bool and None); the
holder's answers are bounded in size by the socket reader (:class:`studio_sandbox.worker._Lines`).
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import io
import itertools
import re
import socket
import time
import types
from typing import Any

MAX_DEPTH = 64
MAX_TEXT = 100_000  # characters of a repr() or str() of the student's object
TAG = "$"
PLAIN = (type(None), bool, int, float, str)
# Built-in exception classes a student's exception may become in the judge, by name.
BUILTIN_EXCEPTIONS = {
    name: cls for name, cls in vars(builtins).items() if isinstance(cls, type) and issubclass(cls, BaseException)
}


class CrossingError(Exception):
    """What came over the wire is not what the protocol allows (the judge trusts none of it)."""


# --- the holder's side (the student's process) -------------------------------------------------------------------


class Holder:
    """The student's objects the judge holds references to, and the answers to the judge's requests."""

    def __init__(self, namespace: dict):
        self.namespace = namespace
        self.objects: dict[int, Any] = {}
        self._ids = itertools.count(1)
        self.sock: socket.socket | None = None  # the judge's, while serving
        self.lines = None

    # encoding: the student's values as plain data, or references
    def encode(self, value: Any, depth: int = 0) -> Any:
        return _encode(value, self._not_data, depth)

    def _not_data(self, value: Any, depth: int) -> Any:
        converted = _as_plain(value)
        if converted is not None:
            return converted if isinstance(converted, dict) else self.encode(converted, depth)
        ref = next(self._ids)
        self.objects[ref] = value
        kind = "class" if isinstance(value, type) else "function" if callable(value) else "object"
        name = getattr(value, "__qualname__", None) if kind != "object" else type(value).__qualname__
        wire = {TAG: "ref", "id": ref, "kind": kind, "name": name if isinstance(name, str) else "?"}
        # A module, or a function or class of one (not the notebook's): the judge imports its own, where it can.
        if isinstance(value, types.ModuleType):
            wire["import"] = [value.__name__, ""]
        elif kind != "object" and getattr(value, "__module__", "__main__") not in ("__main__", None):
            wire["import"] = [str(value.__module__), str(name)]
        return wire

    def decode(self, wire: Any, depth: int = 0) -> Any:
        """The judge's arguments, as fresh objects of the holder's (references back to the student's own; a function
        of the judge's as a stand-in that asks the judge to call it)."""
        if depth > MAX_DEPTH:
            raise CrossingError(f"nested deeper than {MAX_DEPTH}")
        if isinstance(wire, dict) and wire.get(TAG) == "ref":
            return self.objects[wire["id"]]
        if isinstance(wire, dict) and wire.get(TAG) == "callback":
            return _Callback(self, int(wire["id"]), str(wire.get("name", "?")))
        return _decode_data(wire, lambda w, d: self.decode(w, d), depth)

    def callback(self, ref: int, args: tuple, kwargs: dict) -> Any:
        """Call the judge's function ``ref`` (a test gave it to the student's code): the judge runs it, with what the
        student's code passed as plain data, and answers as it answers any request."""
        from .worker import _send

        _send(
            self.sock,
            {
                "callback": ref,
                "args": [self.encode(a) for a in args],
                "kwargs": {k: self.encode(v) for k, v in kwargs.items()},
            },
        )
        reply = self.lines.read(time.monotonic() + 3600)
        if not isinstance(reply, dict):
            raise CrossingError("the judge did not answer")
        if "raised" in reply:
            raised = reply["raised"]
            cls = BUILTIN_EXCEPTIONS.get(str(raised.get("type")), Exception)
            raise (cls if issubclass(cls, Exception) else Exception)(*[self.decode(a) for a in raised.get("args", [])])
        return self.decode(reply.get("value"))

    def answer(self, request: dict) -> dict:
        """One request of the judge's: the value (or the exception) and what was printed meanwhile."""
        out = io.StringIO()
        op = request.get("op")
        after: dict[str, Any] = {}
        try:
            with contextlib.redirect_stdout(out):
                if op == "get":
                    if request["name"] not in self.namespace:
                        raise NameError(f"name {request['name']!r} is not defined")
                    value = self.namespace[request["name"]]
                elif op == "call":
                    args = [self.decode(a) for a in request.get("args", [])]
                    kwargs = {k: self.decode(v) for k, v in request.get("kwargs", {}).items()}
                    try:
                        value = self.objects[request["ref"]](*args, **kwargs)
                    finally:  # copy out: what the arguments hold now, raised or not
                        after = {
                            "args": [self.encode(a) for a in args],
                            "kwargs": {k: self.encode(v) for k, v in kwargs.items()},
                        }
                elif op == "getattr":
                    value = getattr(self.objects[request["ref"]], request["name"])
                elif op == "setattr":
                    setattr(self.objects[request["ref"]], request["name"], self.decode(request["value"]))
                    value = None
                elif op == "len":
                    value = int(len(self.objects[request["ref"]]))
                elif op == "iter":
                    value = list(self.objects[request["ref"]])
                elif op == "isinstance":
                    value = bool(isinstance(self.decode(request["value"]), self.objects[request["ref"]]))
                elif op in ("repr", "str"):
                    value = str((repr if op == "repr" else str)(self.objects[request["ref"]]))[:MAX_TEXT]
                elif op == "setname":  # a test rebinds one of the notebook's names (nbgrader's docs course does)
                    self.namespace[request["name"]] = self.decode(request["value"])
                    value = None
                elif op == "delname":
                    self.namespace.pop(request["name"], None)
                    value = None
                elif op == "release":
                    for ref in request.get("refs", []):
                        self.objects.pop(ref, None)
                    value = None
                else:
                    raise CrossingError(f"no such request: {op!r}")
            return {"rid": request.get("rid"), "value": self.encode(value), "stdout": out.getvalue(), **after}
        except BaseException as e:  # noqa: BLE001 -- the student's exception (SystemExit too) is the answer
            return {"rid": request.get("rid"), "raised": self.encode_exception(e), "stdout": out.getvalue(), **after}

    def encode_exception(self, e: BaseException) -> dict:
        if isinstance(e, CallTimeout):  # ours, not the student's: said in our words
            return {"type": "TimeoutError", "student_type": "CellTimeoutError", "args": [str(e)]}
        builtin = next((c.__name__ for c in type(e).__mro__ if BUILTIN_EXCEPTIONS.get(c.__name__) is c), "Exception")
        try:
            args = [self.encode(a) for a in e.args]
        except Exception:  # noqa: BLE001 -- arguments that do not cross: their text only
            args = [str(a)[:1000] for a in e.args]
        return {"type": builtin, "student_type": type(e).__qualname__, "args": args}


def _encode(value: Any, not_data, depth: int) -> Any:
    """``value`` on the wire: the built-in data types as themselves (tagged), anything else as ``not_data`` says."""
    if depth > MAX_DEPTH:
        raise CrossingError(f"nested deeper than {MAX_DEPTH}")
    t = type(value)
    if t in PLAIN:
        return value
    if t is complex:
        return {TAG: "complex", "v": [value.real, value.imag]}
    if t in (bytes, bytearray):
        return {TAG: "bytes", "v": base64.b64encode(bytes(value)).decode()}
    if t in (list, tuple, set, frozenset):
        return {TAG: t.__name__, "v": [_encode(x, not_data, depth + 1) for x in value]}
    if t is dict:
        pairs = [[_encode(k, not_data, depth + 1), _encode(v, not_data, depth + 1)] for k, v in value.items()]
        return {TAG: "dict", "v": pairs}
    return not_data(value, depth)


def _as_plain(value: Any) -> Any:
    """A value of a type the judge does not take, as plain data where it stands for some (subclasses of the
    built-in types, numpy scalars and arrays); else None."""
    for base in (bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset):
        if isinstance(value, base):
            return base(value) if base is not dict else dict(value.items())
    module = type(value).__module__ or ""
    if module == "numpy" or module.startswith("numpy."):
        import numpy

        if isinstance(value, numpy.generic):
            return value.item()
        if isinstance(value, numpy.ndarray) and value.dtype != object:
            data = numpy.ascontiguousarray(value)
            return {
                TAG: "ndarray",
                "dtype": data.dtype.str,
                "shape": list(data.shape),
                "v": base64.b64encode(data.tobytes()).decode(),
            }
    return None


def _decode_data(wire: Any, item, depth: int) -> Any:
    if type(wire) in PLAIN:
        return wire
    if isinstance(wire, list):  # the wire's own arrays never stand for data: every container is tagged
        raise CrossingError("an untagged list")
    if not isinstance(wire, dict):
        raise CrossingError(f"not data: {type(wire).__name__}")
    tag, v = wire.get(TAG), wire.get("v")
    if tag == "complex":
        return complex(float(v[0]), float(v[1]))
    if tag == "bytes":
        return base64.b64decode(v)
    if tag in ("list", "tuple", "set", "frozenset"):
        items = [item(x, depth + 1) for x in v]
        return {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}[tag](items)
    if tag == "dict":
        return {item(k, depth + 1): item(x, depth + 1) for k, x in v}
    if tag == "ndarray":
        import numpy

        dtype = numpy.dtype(wire["dtype"])
        if dtype.hasobject:
            raise CrossingError("an array of objects")
        return numpy.frombuffer(base64.b64decode(v), dtype=dtype).reshape(wire["shape"]).copy()
    raise CrossingError(f"unknown tag {tag!r}")


class _Callback:
    """In the student's process: a function a test gave to the student's code. Calling it asks the judge."""

    def __init__(self, holder: Holder, ref: int, name: str):
        self._holder, self._ref, self.__name__ = holder, ref, name

    def __call__(self, *args, **kwargs):
        return self._holder.callback(self._ref, args, kwargs)

    def __repr__(self) -> str:
        return f"<the test's function {self.__name__}>"


class CallTimeout(BaseException):
    """Raised into the student's code that runs longer than a request may (``except Exception`` won't hide it)."""


def _on_alarm(signum, frame):
    raise CallTimeout("the submission's code ran longer than the test's time limit and was stopped")


def serve(sock: socket.socket, holder: Holder, deadline: float, per_request: float) -> None:
    """The holder's loop: answer the judge's requests until it says ``{"op": "done"}`` (or closes its end, or the
    deadline passes); each answer's student code may run ``per_request`` seconds."""
    import signal

    from .worker import MessageTooLarge, _Lines, _send

    lines = _Lines(sock)
    holder.sock, holder.lines = sock, lines
    while True:
        try:
            request = lines.read(deadline)
        except (OSError, MessageTooLarge):
            return
        if not isinstance(request, dict) or request.get("op") == "done":
            return
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, per_request)
        try:
            answer = holder.answer(request)
        except CallTimeout:  # between the student's code and the answer: the same report
            answer = {
                "rid": request.get("rid"),
                "raised": holder.encode_exception(CallTimeout("stopped")),
                "stdout": "",
            }
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        try:
            _send(sock, answer)
        except (OSError, CrossingError, TypeError, ValueError):
            return


# --- the judge's side (the trusted process) ----------------------------------------------------------------------


class Judge:
    """The judge's end of the socket: asks the holder, and builds its answers from the wire."""

    def __init__(self, sock: socket.socket, timeout: float = 30.0):
        from .worker import _Lines

        self.sock, self.lines, self.timeout = sock, _Lines(sock), timeout
        self.callbacks: dict[int, Any] = {}  # the judge's functions given to the student's code, by id
        self.asked = 0  # requests sent: each answer names the one it answers
        # What the student's code printed during a request: printed here (the worker's judge holds it back from the
        # cell's own output: studio_sandbox.judged).
        self.printed = lambda text: print(text, end="")

    def ask(self, request: dict, given: tuple[tuple, dict] | None = None) -> Any:
        """The holder's answer to ``request``; ``given``: a call's own arguments, which get what they hold after."""
        from .worker import MessageTooLarge, _send

        self.asked += 1
        request = {**request, "rid": self.asked}
        try:
            _send(self.sock, request)
            deadline = time.monotonic() + self.timeout
            reply = self.lines.read(deadline)
            # The student's code calls a test's function; or an answer comes late, to a request the judge gave up on
            # (a test stopped at its time limit while the student's code ran on): skipped.
            while isinstance(reply, dict) and ("callback" in reply or reply.get("rid") != self.asked):
                if "callback" in reply:
                    _send(self.sock, self._run_callback(reply))
                reply = self.lines.read(deadline)
        except (OSError, MessageTooLarge):  # its end closed, no answer in time, or too much of one
            reply = None
        if not isinstance(reply, dict):
            raise CrossingError("the submission's process gave no answer")
        text = reply.get("stdout")
        if isinstance(text, str) and text:
            self.printed(text)
        if given is not None:
            self._copy_out(given, reply)
        if "raised" in reply:
            raise self._exception(reply["raised"])
        return self.decode(reply.get("value"))

    def get(self, name: str) -> Any:
        """The student's ``name``: plain data, or a proxy."""
        return self.ask({"op": "get", "name": name})

    def set_name(self, name: str, value: Any) -> None:
        """The test rebinds one of the notebook's names: so does the notebook (its functions look names up there)."""
        try:
            self.ask({"op": "setname", "name": name, "value": self.encode(value)})
        except TypeError:  # a value of the judge's that cannot cross: the notebook's name is left as it was
            pass

    def del_name(self, name: str) -> None:
        self.ask({"op": "delname", "name": name})

    def _run_callback(self, request: dict) -> dict:
        """A test's function, called by the student's code: run here (it is the test's), with plain data."""
        function = self.callbacks.get(request.get("callback"))
        try:
            if function is None:
                raise CrossingError("no such function of the test's")
            args = [self.decode(a) for a in request.get("args", [])]
            kwargs = {str(k): self.decode(v) for k, v in (request.get("kwargs") or {}).items()}
            return {"value": self.encode(function(*args, **kwargs))}
        except Exception as e:  # noqa: BLE001 -- raised in the test's function: raised in the student's call
            builtin = next(
                (c.__name__ for c in type(e).__mro__ if BUILTIN_EXCEPTIONS.get(c.__name__) is c), "Exception"
            )
            return {"raised": {"type": builtin, "args": [a for a in e.args if type(a) in PLAIN]}}

    def decode(self, wire: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise CrossingError(f"nested deeper than {MAX_DEPTH}")
        if isinstance(wire, dict) and wire.get(TAG) == "ref":
            if not isinstance(wire.get("id"), int) or wire.get("kind") not in ("class", "function", "object"):
                raise CrossingError("a malformed reference")
            own = _importable(wire.get("import"))
            if own is not None:
                return own
            return Proxy(self, wire["id"], wire["kind"], str(wire.get("name"))[:200])
        return _decode_data(wire, self.decode, depth)

    def encode(self, value: Any, depth: int = 0) -> Any:
        """The judge's own values for the holder: plain data, or proxies the holder gave out."""
        return _encode(value, self._not_data, depth)

    def _not_data(self, value: Any, depth: int) -> Any:
        if type(value) is Proxy:
            return {TAG: "ref", "id": object.__getattribute__(value, "_ref")}
        plain = _as_plain(value)
        if isinstance(plain, dict) and plain.get(TAG) == "ndarray":
            return plain
        if callable(value) and not isinstance(value, type):  # a test's function: called back here
            ref = len(self.callbacks) + 1
            self.callbacks[ref] = value
            return {TAG: "callback", "id": ref, "name": str(getattr(value, "__name__", "function"))[:100]}
        raise TypeError(f"a {type(value).__qualname__} cannot be given to the submission's code (plain data only)")

    def _copy_out(self, given: tuple[tuple, dict], reply: dict) -> None:
        after_args, after_kwargs = reply.get("args"), reply.get("kwargs")
        if isinstance(after_args, list) and len(after_args) == len(given[0]):
            for mine, theirs in zip(given[0], after_args, strict=True):
                _update(mine, self.decode(theirs))
        if isinstance(after_kwargs, dict):
            for key, mine in given[1].items():
                if key in after_kwargs:
                    _update(mine, self.decode(after_kwargs[key]))

    def _exception(self, raised: Any) -> BaseException:
        if not isinstance(raised, dict):
            return CrossingError("a malformed exception")
        cls = BUILTIN_EXCEPTIONS.get(str(raised.get("type")), Exception)
        if not issubclass(cls, Exception):  # SystemExit, KeyboardInterrupt...: nothing the judge stops for
            cls = Exception
        try:
            args = [self.decode(a) for a in raised.get("args", [])]
        except CrossingError:
            args = []
        try:
            error = cls(*args)
        except Exception:  # noqa: BLE001 -- e.g. UnicodeDecodeError wants five arguments
            error = cls()
        error.student_type = str(raised.get("student_type"))[:200]
        return error


MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def _importable(where: Any) -> Any:
    """The judge's own module (or a function or class of it) that the student's stands for, imported here from the
    installed packages; None where there is none (the notebook's own, a file of the student's): a proxy then."""
    import importlib
    import sys

    if not (isinstance(where, list) and len(where) == 2 and all(isinstance(w, str) for w in where)):
        return None
    module, qualname = where
    if not MODULE_NAME.fullmatch(module) or (qualname and not MODULE_NAME.fullmatch(qualname)):
        return None
    if any(part.startswith("_") for part in qualname.split(".") if qualname):
        return None
    if "" in sys.path or "." in sys.path:  # never a module from the working folder
        return None
    try:
        value = importlib.import_module(module)
        for part in qualname.split(".") if qualname else []:
            value = getattr(value, part)
    except Exception:  # noqa: BLE001 -- not installed here, or not found in it: a proxy
        return None
    return value


def _update(mine: Any, theirs: Any) -> None:
    """Put what a mutable argument holds after the call back into the judge's own object."""
    if (type(mine), type(theirs)) in ((list, list), (bytearray, bytes)):
        mine[:] = theirs
    elif type(mine) is type(theirs) and type(mine) in (dict, set):
        mine.clear()
        mine.update(theirs)


class Proxy:
    """One of the student's objects, held by reference. Its calls and attributes are answered by the holder; it
    decides nothing in the judge (equality is identity, it is true, it has no order)."""

    __slots__ = ("_judge", "_ref", "_kind", "_name")

    def __init__(self, judge: Judge, ref: int, kind: str, name: str):
        for slot, value in (("_judge", judge), ("_ref", ref), ("_kind", kind), ("_name", name)):
            object.__setattr__(self, slot, value)

    def __call__(self, *args, **kwargs):
        judge = object.__getattribute__(self, "_judge")
        request = {
            "op": "call",
            "ref": object.__getattribute__(self, "_ref"),
            "args": [judge.encode(a) for a in args],
            "kwargs": {k: judge.encode(v) for k, v in kwargs.items()},
        }
        return judge.ask(request, given=(args, kwargs))

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)  # the judge's own protocols never reach the student's objects
        judge = object.__getattribute__(self, "_judge")
        return judge.ask({"op": "getattr", "ref": object.__getattribute__(self, "_ref"), "name": name})

    def __setattr__(self, name: str, value: Any) -> None:
        judge = object.__getattribute__(self, "_judge")
        judge.ask(
            {"op": "setattr", "ref": object.__getattribute__(self, "_ref"), "name": name, "value": judge.encode(value)}
        )

    def __len__(self) -> int:
        judge = object.__getattribute__(self, "_judge")
        n = judge.ask({"op": "len", "ref": object.__getattribute__(self, "_ref")})
        if type(n) is not int or n < 0:
            raise CrossingError("a length that is not a whole number")
        return n

    def __iter__(self):
        judge = object.__getattribute__(self, "_judge")
        items = judge.ask({"op": "iter", "ref": object.__getattribute__(self, "_ref")})
        return iter(items if type(items) is list else [])

    def __instancecheck__(self, value: Any) -> bool:
        judge = object.__getattribute__(self, "_judge")
        answer = judge.ask(
            {"op": "isinstance", "ref": object.__getattribute__(self, "_ref"), "value": judge.encode(value)}
        )
        return answer is True

    def __eq__(self, other: Any) -> bool:
        return other is self

    def __ne__(self, other: Any) -> bool:
        return other is not self

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        """The student's own repr() of it (a test may check it), as text."""
        return self._text("repr")

    def __str__(self) -> str:
        return self._text("str")

    def _text(self, op: str) -> str:
        judge = object.__getattribute__(self, "_judge")
        try:
            text = judge.ask({"op": op, "ref": object.__getattribute__(self, "_ref")})
        except Exception:  # noqa: BLE001 -- its repr raised, or did not answer: ours
            text = None
        if type(text) is not str:
            kind, name = object.__getattribute__(self, "_kind"), object.__getattribute__(self, "_name")
            return f"<the submission's {kind} {name}>"
        return text
