"""Where the time goes in an initial `syncd sync --once` and in one later pass: py-spy samples
the client and the server at once, and the top functions (self time, and inclusive time for
syncd's own functions) are printed per process. Needs py-spy (`pip install py-spy`).

    SYNCD_SRC=/path/to/tree .venv/bin/python bench/profile_sync.py [--corpus DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import Library, daemon_env, open_library, sync_args
from syncd_serve import syncd_cmd

DEFAULT_CORPUS = Path(os.environ.get("BENCH_WORK") or "/tmp/syncbench") / "corpus" / "many"
PY_SPY = str(Path(sys.executable).with_name("py-spy"))
RATE_HZ = 50
TOP = 14


def is_idle(leaf: str) -> bool:
    """A thread waiting (event loop select, idle pool worker), not working."""
    return leaf.startswith(("EpollSelector.select", "_worker ", "wait ", "Condition.wait"))


def summarize(raw: Path, title: str) -> None:
    """Collapsed stacks (`frame;frame;... count`) -> busy share, top self lines, top
    inclusive syncd frames; percentages are of all samples of the process's main thread."""
    self_counts: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = idle = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        thread = stack.split(";")[0]
        # The main thread is named only once `threading` is imported; before that it is
        # `thread (N)` (interpreter start-up and imports, which count).
        if not count_text.isdigit() or not (thread.endswith("MainThread") or ":" not in thread):
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")[1:]
        names = [f.split(" (")[0] + " " + f.split(" (")[-1].split(":")[0] for f in frames]
        if not frames or is_idle(names[-1]):
            idle += count
            continue
        self_counts[frames[-1]] += count
        for name in set(names):
            if "syncd/" in name:
                incl[name] += count
    share = 100 / max(total, 1)
    print(f"\n== {title}: {total} main-thread samples at {RATE_HZ} Hz, {idle * share:.0f}% idle")
    print("self time (line):")
    for frame, count in self_counts.most_common(TOP):
        print(f"  {count * share:5.1f}%  {frame}")
    print("inclusive (syncd frames):")
    for frame, count in incl.most_common(TOP):
        print(f"  {count * share:5.1f}%  {frame}")


def spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    options = ["--rate", str(RATE_HZ), "--format", "raw", "--nonblocking", "--idle", "--threads"]
    return subprocess.Popen(
        [PY_SPY, "record", "--pid", str(pid), *options, "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def profiled_once(lib: Library, root: Path, home: Path, out: Path, tag: str) -> None:
    server_spy = spy(lib.proc.pid, out / f"server-{tag}.txt")
    client = subprocess.Popen(
        syncd_cmd("sync", "--once", *sync_args(lib, root, home)),
        env=daemon_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd="/tmp",
    )
    client_spy = spy(client.pid, out / f"client-{tag}.txt")
    client.wait(timeout=1800)
    client_spy.wait(timeout=60)
    server_spy.send_signal(2)  # SIGINT: py-spy writes what it has and exits
    server_spy.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "syncd-prof")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="syncd-prof-"))
    lib = open_library(args.corpus, work)
    try:
        root, home = work / "root", work / "home"
        root.mkdir()
        home.mkdir()
        profiled_once(lib, root, home, args.out, "initial")
        profiled_once(lib, root, home, args.out, "noop")
    finally:
        lib.close()
        shutil.rmtree(work, ignore_errors=True)
    for tag in ("initial", "noop"):
        summarize(args.out / f"client-{tag}.txt", f"client, {tag} sync --once")
        summarize(args.out / f"server-{tag}.txt", f"server during the {tag} sync --once")


if __name__ == "__main__":
    main()
