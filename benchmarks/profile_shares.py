"""Where a process's busy time goes, from py-spy collapsed stacks (``--format raw``).

    py-spy record --pid PID --duration 60 --idle=false --threads --format raw -o stacks.txt
    python benchmarks/profile_shares.py stacks.txt

prints, as shares of all (non-idle) samples: by thread; by category *inclusive* (a
sample counts for a category when any frame of its stack is in it: "persistence"
includes the SQLAlchemy it calls); by category of the *leaf* frame (where the
interpreter actually was); and the top functions by self and by inclusive time.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

#: (category, test on "file" and "function"), first match wins for the leaf.
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("persistence (worker/persistence.py)", ("worker/persistence.py",)),
    ("SQLAlchemy", ("sqlalchemy/",)),
    ("sqlite3 driver", ("sqlite3/",)),
    ("psycopg driver", ("psycopg/", "psycopg_binary/")),
    ("schema validation", ("fastjsonschema", "<string>")),
    ("JSON", ("/json/", "orjson")),
    ("websockets", ("websockets/",)),
    ("ocpp library", ("/ocpp/",)),
    ("twin logic (worker/twin)", ("worker/twin/",)),
    ("host (worker/host.py, actions, commands)", ("worker/",)),
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


def category(file: str) -> str:
    for name, needles in CATEGORIES:
        if any(needle in file for needle in needles):
            return name
    return "other"


def parse(path: Path) -> list[tuple[list[tuple[str, str]], int]]:
    stacks = []
    for line in path.read_text().splitlines():
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


def shares(path: Path, top: int = 25) -> str:
    stacks = parse(path)
    total = sum(count for _, count in stacks)
    threads: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    function_inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        thread = frames[0][0] if frames and frames[0][0].startswith(("thread", "process")) else ""
        threads[thread or "(all)"] += count
        code = [(function, file) for function, file in frames if file]
        if not code:
            continue
        for name in {category(file) for _, file in code}:
            inclusive[name] += count
        function, file = code[-1]
        leaf[category(file)] += count
        self_time[f"{function} ({_short(file)})"] += count
        for name in {f"{function} ({_short(file)})" for function, file in code}:
            function_inclusive[name] += count
    out = [f"{total} samples in {path.name}", "", "| thread | share |", "|---|---:|"]
    out += [f"| {name} | {n / total:.1%} |" for name, n in threads.most_common()]
    out += ["", "| category | inclusive | leaf (self) |", "|---|---:|---:|"]
    for name, _ in [*CATEGORIES, ("other", ())]:
        if inclusive[name] or leaf[name]:
            out.append(f"| {name} | {inclusive[name] / total:.1%} | {leaf[name] / total:.1%} |")
    out += ["", "| top functions by self time | share |", "|---|---:|"]
    out += [f"| `{name}` | {n / total:.1%} |" for name, n in self_time.most_common(top)]
    out += ["", "| top functions by inclusive time | share |", "|---|---:|"]
    out += [f"| `{name}` | {n / total:.1%} |" for name, n in function_inclusive.most_common(top)]
    return "\n".join(out)


def _short(file: str) -> str:
    for marker in ("site-packages/", "python3.11/", "wt-bench/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


if __name__ == "__main__":
    print(shares(Path(sys.argv[1])))
