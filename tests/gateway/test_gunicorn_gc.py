"""serving/gunicorn.conf.py freezes the loaded app's objects out of the garbage collector's
sight in each worker (issue 6: full collections walked them on large bodies)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOOK = (
    "import gc, runpy\n"
    "conf = runpy.run_path('serving/gunicorn.conf.py')\n"
    "before = gc.get_freeze_count()\n"
    "conf['post_worker_init'](None)\n"
    "print(before, gc.get_freeze_count())\n"
)


def test_post_worker_init_freezes_the_objects_loaded_so_far(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "PROMETHEUS_"))}
    env["GATEWAY_MODEL_ROOT"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-c", HOOK], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    before, after = map(int, done.stdout.split())
    assert before == 0 and after > 1000
