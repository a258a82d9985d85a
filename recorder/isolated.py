"""Reading untrusted episode files in a child process, with a timeout, so that a damaged file is reported
as unreadable instead of crashing or hanging the program that reads it.

Fuzzing the reader with mutated files (`benchmarks/fuzz_reader.py`) found damaged HDF5 files on which
the HDF5 library itself misbehaves: it raises errors h5py does not translate into an exception the
reader catches, aborts or segfaults the process, spins inside the library without returning, or
asks for more memory than the machine has. None of that can be caught in-process. So `IsolatedReader`
keeps one child process (a fresh Python, started once) that runs the job on each file and sends back
the answer as JSON (never a pickle: the child has just read an untrusted file); when the child dies or does not answer within `timeout_s`, it is killed, the file is
reported with the problem kind `unreadable` and the reason, and a fresh child takes the next file.
The child's address space is capped (`memory_limit_gb`) so a runaway allocation fails there, not on
the machine. Jobs are named (`JOBS`), not pickled functions: the child only ever runs these. The child
runs with `faulthandler`, so a crash names where it happened: the problem says the signal and the
innermost Python frame of the crashed thread (e.g. `in _hl/dataset.py line 758 (read_direct)`).

`mvla dataset check` (`inspect`), `mvla dataset stats` (`info`) and the trainer's index (`summaries`)
all read every file this way, and so does the app that drives the robot: the saver's count of the data
folder (`info`) and the episodes screen (`inspect`, and `episode` to open one). An episode's arrays come
back through a `.npz` file the child writes in a folder the parent made, loaded without pickles.
This module never modifies an episode file. Why one module of this size: the child's jobs and the
parent's readers of their answers are two halves of one JSON protocol, safest read together.
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

from recorder.check import FileReport, Problem, inspect_file
from recorder.episode import Episode, EpisodeMeta
from recorder.errors import EpisodeFileError
from recorder.intervention import Intervention, StepCounts
from recorder.reader import EpisodeHeader, read_episode, read_header

if TYPE_CHECKING:
    from recorder.stats import EpisodeInfo

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MEMORY_GB = 16.0
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])
# A frame of faulthandler's dump: `  File "/x/h5py/_hl/dataset.py", line 758 in read_direct`.
_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<func>\S+)')


@dataclass(frozen=True)
class Answer:
    """A job's answer: `ok` with the job's own JSON (`body`), `error` when the job raised, or
    `unreadable` when the child crashed or did not answer in time; `why` says what went wrong."""

    status: Literal["ok", "error", "unreadable"]
    why: str = ""
    body: dict[str, Any] | None = None  # the job's answer when ok: JSON from the child

    @property
    def message(self) -> str:
        """The one line of a failed job's answer."""
        return self.why if self.status == "unreadable" else f"reading it raised {self.why}"

    def ok(self) -> dict[str, Any]:
        """The job's answer; only called after checking the status."""
        if self.status != "ok" or self.body is None:
            raise ValueError(f"no answer: {self.message}")
        return self.body


@dataclass(frozen=True)
class Summary:
    """The `summary` job's answer: the full check of a file and, when it is sound, its header."""

    report: FileReport
    header: EpisodeHeader | None


# ---- the child ----------------------------------------------------------------------------------------
# Answers travel as JSON, never pickles: the child has read an untrusted file, and a library bug that
# file triggers must not be able to hand the parent code to run.


def _report_json(report: FileReport) -> dict:
    data = asdict(report)
    data["path"] = str(report.path)
    return data


def _report_from(data: dict) -> FileReport:
    problems = [Problem(p["kind"], p["message"]) for p in data.pop("problems")]
    counts = data.pop("intervention", None)
    intervention = StepCounts(**counts) if counts is not None else None
    return FileReport(Path(data.pop("path")), problems=problems, intervention=intervention, **data)


def _inspect(path: Path) -> dict:
    return {"report": _report_json(inspect_file(path))}


def _meta_json(meta: EpisodeMeta) -> dict:
    """The metadata as JSON; of the other root attributes only plain values travel."""
    data = asdict(meta)
    data["attrs"] = {k: v for k, v in data["attrs"].items() if isinstance(v, (str, int, float, bool))}
    return data


def _summary(path: Path) -> dict:
    report = inspect_file(path)
    header = None
    if report.ok:
        try:
            header = read_header(path)
        except EpisodeFileError as exc:
            report.problems.append(Problem(exc.kind, exc.detail))
    out: dict[str, Any] = {"report": _report_json(report), "header": None}
    if header is not None:
        out["header"] = {
            "layout": header.layout,
            "frames": header.frames,
            "event_types": header.event_types,
            "meta": _meta_json(header.meta),
            "actions": header.actions.tolist(),
            "intervention": header.intervention.to_json() if header.intervention is not None else None,
        }
    return out


def _episode(path: Path, out: str) -> dict:
    """`read_episode`: the arrays into the `.npz` file `out`, the rest in the answer; the reader's own
    refusal (an `EpisodeFileError`) travels as `problem`."""
    try:
        episode = read_episode(path)
    except EpisodeFileError as exc:
        return {"problem": {"kind": exc.kind, "detail": exc.detail}}
    if episode.timestamps is None:
        np.savez(out, images=episode.images, actions=episode.actions)
    else:
        np.savez(out, images=episode.images, actions=episode.actions, timestamps=episode.timestamps)
    return {
        "episode": {
            "layout": episode.layout,
            "name": episode.name,
            "event_types": episode.event_types,
            "meta": _meta_json(episode.meta),
            "intervention": episode.intervention.to_json() if episode.intervention is not None else None,
        }
    }


def _info(path: Path) -> dict:
    from recorder.stats import episode_info

    data = asdict(episode_info(path))
    data["path"] = str(path)
    return {"info": data}


JOBS: dict[str, Callable[..., dict]] = {
    "inspect": _inspect,
    "summary": _summary,
    "info": _info,
    "episode": _episode,
}


def _serve(memory_limit_gb: float | None) -> None:
    """The child's loop: one JSON request per line on stdin, one JSON answer per line on stdout."""
    if memory_limit_gb:
        import resource

        limit = int(memory_limit_gb * 2**30)
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)  # never above a limit already in force
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    out = sys.stdout
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = {"status": "ok", **JOBS[request["job"]](Path(request["path"]), **request["params"])}
        except MemoryError:
            answer = {
                "status": "error",
                "why": "reading it needs more memory than the limit (a damaged size field?)",
            }
        except Exception as exc:  # the boundary: whatever the library raised becomes the file's problem
            last = traceback.extract_tb(exc.__traceback__)[-1:]
            where = f" in {Path(last[0].filename).name}" if last else ""
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            answer = {"status": "error", "why": f"{type(exc).__name__}{where}: {text}"}
        out.write(json.dumps(answer) + "\n")
        out.flush()


# ---- the parent ---------------------------------------------------------------------------------------


class IsolatedReader:
    """Runs the named jobs of `JOBS` on files in a child process; see the module docstring."""

    def __init__(
        self, timeout_s: float = DEFAULT_TIMEOUT_S, memory_limit_gb: float | None = DEFAULT_MEMORY_GB
    ) -> None:
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.timeout_s = timeout_s
        self.memory_limit_gb = memory_limit_gb
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[bytes] | None = None
        self.restarts = 0  # children replaced after a crash or a hang

    def __enter__(self) -> IsolatedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> subprocess.Popen[str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([_PACKAGE_ROOT, *filter(None, [env.get("PYTHONPATH")])])
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the child, closed in _kill
        limit = "" if self.memory_limit_gb is None else repr(float(self.memory_limit_gb))
        code = f"from recorder.isolated import _serve; _serve({limit or 'None'})"
        self._proc = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            text=True,
            bufsize=1,
        )
        return self._proc

    def _kill(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait(5.0)
            for stream in (self._proc.stdin, self._proc.stdout):
                if stream is not None:
                    stream.close()
        if self._stderr is not None:
            self._stderr.close()
        self._proc = self._stderr = None

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            try:
                if self._proc.stdin is not None:
                    self._proc.stdin.close()  # the child's loop ends on EOF
                self._proc.wait(2.0)
            except (OSError, subprocess.TimeoutExpired):
                pass  # _kill below ends it
        self._kill()

    def _error_lines(self) -> list[str]:
        if self._stderr is None:
            return []
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace")
        return [line.strip() for line in text.splitlines() if line.strip()]

    def run(self, job: str, path: Path, **params: str) -> Answer:
        """The job's `Answer`. `params` are the job's keyword arguments besides the path (JSON values)."""
        if job not in JOBS:
            raise ValueError(f"unknown job {job!r}; known: {', '.join(JOBS)}")
        proc = self._proc
        if proc is None or proc.poll() is not None:
            proc = self._start()
        line: str | None
        try:
            if proc.stdin is None or proc.stdout is None:
                raise OSError("the reading process has no pipes")
            proc.stdin.write(json.dumps({"job": job, "path": str(path), "params": params}) + "\n")
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], self.timeout_s)
            line = proc.stdout.readline() if ready else None
        except (OSError, ValueError):
            line = ""
        if line:
            answer = json.loads(line)
            status = answer.pop("status")
            return Answer(status, answer.pop("why", ""), answer if status == "ok" else None)
        if line is None:
            why = f"reading it did not finish within {self.timeout_s:g} s (the HDF5 library hangs on it)"
        else:
            try:
                code = proc.wait(2.0)
            except subprocess.TimeoutExpired:
                code = None
            lines = self._error_lines()
            if code is not None and code < 0:
                try:
                    name = signal.Signals(-code).name
                except ValueError:
                    name = f"signal {-code}"
                why = f"reading it crashed the HDF5 library ({name})"
                site = _crash_site(lines)
            else:
                why = f"reading it killed the reading process (exit status {code})"
                site = ""
            if site:
                why += f" {site}"
            elif lines:
                why += f": {lines[-1][:200]}"
        self.restarts += 1
        self._kill()
        return Answer("unreadable", why)

    def inspect(self, path: Path) -> FileReport:
        """`recorder.check.inspect_file` of `path`, never crashing nor hanging the caller."""
        answer = self.run("inspect", path)
        if answer.status != "ok":
            return _unreadable(path, answer)
        return _report_from(answer.ok()["report"])

    def info(self, path: Path) -> EpisodeInfo:
        """`recorder.stats.episode_info` of `path` (frames None, unreadable, when the child failed)."""
        from recorder.naming import parse_episode_name
        from recorder.stats import EpisodeInfo

        answer = self.run("info", path)
        if answer.status == "ok":
            data = answer.ok()["info"]
            data["path"] = Path(data["path"])
            return EpisodeInfo(**data)
        parsed = parse_episode_name(Path(path).name)
        names = (parsed.scenario, parsed.pattern, parsed.distance) if parsed else (None, None, None)
        return EpisodeInfo(Path(path), *names, None, None)

    def summary(self, path: Path) -> Summary:
        answer = self.run("summary", path)
        if answer.status != "ok":
            return Summary(_unreadable(path, answer), None)
        body = answer.ok()
        found = body["header"]
        header = None
        if found is not None:
            header = EpisodeHeader(
                path=Path(path),
                layout=found["layout"],
                frames=found["frames"],
                event_types=found["event_types"],
                meta=EpisodeMeta(**found["meta"]),
                actions=np.asarray(found["actions"], np.float32).reshape(-1, 3),
                intervention=_intervention_from(found.get("intervention")),
            )
        return Summary(_report_from(body["report"]), header)

    def episode(self, path: Path) -> Episode:
        """`recorder.reader.read_episode` of `path`: the same `Episode` (of the other root attributes,
        only plain values) or the same `EpisodeFileError`; a file that crashes or hangs the child is an
        `EpisodeFileError` of kind `unreadable`, one line."""
        path = Path(path)
        with tempfile.TemporaryDirectory(prefix="mvla-episode-") as folder:
            out = Path(folder) / "episode.npz"
            answer = self.run("episode", path, out=str(out))
            if answer.status != "ok":
                raise EpisodeFileError(path, "unreadable", answer.message)
            body = answer.ok()
            if "problem" in body:
                raise EpisodeFileError(path, body["problem"]["kind"], body["problem"]["detail"])
            try:
                with np.load(out, allow_pickle=False) as arrays:
                    images, actions = arrays["images"], arrays["actions"]
                    timestamps = arrays["timestamps"] if "timestamps" in arrays.files else None
            except (OSError, ValueError, KeyError) as exc:
                raise EpisodeFileError(
                    path, "unreadable", f"the reading process's answer is damaged ({exc})"
                ) from None
        found = body["episode"]
        return Episode(
            path=path,
            layout=found["layout"],
            name=found["name"],
            images=images,
            actions=actions,
            event_types=found["event_types"],
            meta=EpisodeMeta(**found["meta"]),
            timestamps=timestamps,
            intervention=_intervention_from(found.get("intervention")),
        )


def _intervention_from(data: dict | None) -> Intervention | None:
    return Intervention.from_json(data) if data is not None else None


def _crash_site(lines: list[str]) -> str:
    """'in _hl/dataset.py line 758 (read_direct)': the innermost Python frame of the thread that crashed,
    from faulthandler's dump in a crashed process's stderr lines; '' when there is no dump."""
    for i, line in enumerate(lines):
        if line.startswith("Current thread"):
            match = _FRAME.search(lines[i + 1]) if i + 1 < len(lines) else None
            if match is None:
                return ""
            where = "/".join(Path(match["file"]).parts[-2:])
            return f"in {where} line {match['line']} ({match['func']})"
    return ""


def _unreadable(path: Path, answer: Answer) -> FileReport:
    return FileReport(Path(path), problems=[Problem("unreadable", answer.message)])


def check_files(
    paths: Iterable[Path],
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_limit_gb: float | None = DEFAULT_MEMORY_GB,
) -> Iterator[FileReport]:
    """`inspect_file` of each path in a child process, in order (`mvla dataset check`)."""
    return _each(paths, IsolatedReader.inspect, timeout_s, memory_limit_gb)


def summaries(
    paths: Iterable[Path],
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_limit_gb: float | None = DEFAULT_MEMORY_GB,
) -> Iterator[Summary]:
    """The full check and header of each path in a child process, in order (the trainer's index)."""
    return _each(paths, IsolatedReader.summary, timeout_s, memory_limit_gb)


def _each(
    paths: Iterable[Path], read: Callable[..., T], timeout_s: float, memory_limit_gb: float | None
) -> Iterator[T]:
    with IsolatedReader(timeout_s, memory_limit_gb) as reader:
        for path in paths:
            yield read(reader, Path(path))
