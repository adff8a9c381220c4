"""Where a process's busy time goes, from py-spy collapsed stacks (``--format raw``).

    py-spy record --pid PID --duration 60 --idle=false --threads --format raw -o stacks.txt
    python benchmarks/profile_shares.py stacks.txt   # or stacks.txt.gz

prints, as shares of all (non-idle) samples: by thread; by category *inclusive* (a
sample counts for a category when any frame of its stack is in it: "persistence"
includes the SQLAlchemy it calls); by category of the *leaf* frame (where the
interpreter actually was); and the top functions by self time and the project's own
functions by inclusive time.

py-spy leaves out threads it sees idle, but on this kernel it misses most blocked waits
(an executor thread in ``queue.get``, a ``Condition.wait``, the loop in ``epoll``), so
stacks whose leaf is one of :data:`IDLE` are dropped here: what remains is busy time.
A leaf in the DB-API's execute / commit is time inside the database driver (C).
"""

from __future__ import annotations

import argparse
import gzip
import re
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

#: (category, test on "file" and "function"), first match wins for the leaf.
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("persistence (worker/persistence.py)", ("worker/persistence.py",)),
    ("SQLAlchemy", ("sqlalchemy/",)),
    ("sqlite3 driver", ("sqlite3/",)),
    ("psycopg driver", ("psycopg/", "psycopg_binary/")),
    ("schema validation", ("fastjsonschema", "<string>", "jsonschema/", "referencing/")),
    ("regular expressions (re)", ("re/__init__.py", "re/_")),
    ("JSON", ("json/", "orjson")),
    ("websockets", ("websockets/",)),
    ("ocpp library", ("ocpp/",)),
    ("twin logic (worker/twin)", ("worker/twin/",)),
    ("host (worker/host.py, actions, commands)", ("worker/",)),
    (
        "bundled CSMS (shared/csms, csms_v16, csms_v201)",
        ("shared/csms/", "csms_v16/", "csms_v201/"),
    ),
    (
        "API (fastapi, starlette, uvicorn, pydantic, h11)",
        (
            "fastapi/",
            "starlette/",
            "uvicorn/",
            "pydantic",
            "h11/",
            "httptools",
            "anyio/",
            "public_api/",
            "private_api/",
        ),
    ),
    ("shared (models, crud, schemas)", ("shared/",)),
    ("logging", ("logging/",)),
    ("asyncio", ("asyncio/",)),
    ("threads / executor", ("threading.py", "concurrent/futures")),
]


#: Leaf frames that mean the thread waits (not busy).
IDLE = {
    ("_worker", "concurrent/futures/thread.py"),
    ("Condition.wait", "threading.py"),
    ("EpollSelector.select", "selectors.py"),
    ("Event.wait", "threading.py"),
    ("Thread._wait_for_tstate_lock", "threading.py"),
    ("Queue.get", "queue.py"),
}
#: Leaf frames that are calls into the database driver.
DRIVER = {"DefaultDialect.do_execute", "DefaultDialect.do_executemany", "DefaultDialect.do_commit"}
#: Categories that say nothing inclusive (every thread starts in them).
NOT_INCLUSIVE = {
    "threads / executor",
    "asyncio",
    "other",
    "database driver (C), leaf in execute / commit",
}
PROJECT = ("worker/", "shared/", "public_api/", "private_api/", "elu_twins/", "csms_v")


def category(file: str) -> str:
    for name, needles in CATEGORIES:
        if any(file.startswith(needle) or f"/{needle}" in file for needle in needles):
            return name
    return "other"


def parse(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    stacks = []
    text = gzip.decompress(path.read_bytes()).decode() if path.suffix == ".gz" else path.read_text()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for text in stack.split(";"):
            match = FRAME.match(text)
            if match:
                frames.append((match["function"], match["file"]))
            else:
                frames.append((text, ""))
        stacks.append((frames, int(count)))
    return stacks


def shares(path: Path, top: int = 25, rate: int = 100) -> str:
    everything = parse(path)
    stacks = [
        (frames, count)
        for frames, count in everything
        if not frames or (frames[-1][0], _short(frames[-1][1]).split(":")[0]) not in IDLE
    ]
    total = sum(count for _, count in stacks)
    recorded = sum(count for _, count in everything)
    threads: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    function_inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        thread = frames[0][0] if frames and frames[0][0].startswith("thread (") else ""
        # "thread (9970): asyncio_2" -> "asyncio_*" (the executor's threads together)
        thread = re.sub(r"_\d+$", "_*", thread.partition(": ")[2]) if thread else "(all)"
        threads[thread] += count
        code = [(function, file) for function, file in frames if file]
        if not code:
            continue
        for name in {category(file) for _, file in code}:
            inclusive[name] += count
        function, file = code[-1]
        driver = function in DRIVER
        leaf["database driver (C), leaf in execute / commit" if driver else category(file)] += count
        self_time[f"{function} ({_short(file)})"] += count
        for name in sorted(
            {f"{function} ({_short(file)})" for function, file in code if file.startswith(PROJECT)}
        ):
            function_inclusive[name] += count
    out = [
        f"{path.name}: {recorded} samples, {total} busy ({recorded - total} idle waits dropped);"
        f" at {rate} Hz that is {total / rate:.0f} busy thread-seconds",
        "",
        "| thread | share of busy |",
        "|---|---:|",
    ]
    out += [f"| {name} | {n / total:.1%} |" for name, n in threads.most_common()]
    out += ["", "| category | inclusive | leaf (self) |", "|---|---:|---:|"]
    names = [name for name, _ in CATEGORIES]
    names += ["database driver (C), leaf in execute / commit", "other"]
    for name in names:
        if inclusive[name] or leaf[name]:
            shown = "" if name in NOT_INCLUSIVE else f"{inclusive[name] / total:.1%}"
            out.append(f"| {name} | {shown} | {leaf[name] / total:.1%} |")
    out += ["", "| top functions by self time | share |", "|---|---:|"]
    out += [f"| `{name}` | {n / total:.1%} |" for name, n in self_time.most_common(top)]
    out += ["", "| top project functions by inclusive time | share |", "|---|---:|"]
    out += [f"| `{name}` | {n / total:.1%} |" for name, n in function_inclusive.most_common(top)]
    return "\n".join(out)


def _short(file: str) -> str:
    for marker in ("site-packages/", "python3.11/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return re.sub(r"^.*/wt-[^/]+/", "", file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stacks", type=Path, help="py-spy --format raw output (.txt or .txt.gz)")
    parser.add_argument("--top", type=int, default=25, help="functions listed per table")
    parser.add_argument("--rate", type=int, default=100, help="py-spy's samples per second")
    arguments = parser.parse_args()
    print(shares(arguments.stacks, arguments.top, arguments.rate))


if __name__ == "__main__":
    main()
