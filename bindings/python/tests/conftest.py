import os
import subprocess
import sys

import pytest


def children_of(pid):
    """Processes whose parent is `pid` (read from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


@pytest.fixture
def run_python(tmp_path):
    """Runs a Python script in a fresh interpreter; returns the CompletedProcess."""

    def run(source, timeout=120, **kwargs):
        script = tmp_path / "script.py"
        script.write_text(source)
        return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=timeout, **kwargs)

    return run
