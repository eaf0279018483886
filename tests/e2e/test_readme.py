"""The README's API examples, run against a live stack so they stay true.

Each ```sh block preceded by `<!-- readme-test: STATUS [TEXT] -->` is run with bash, with
the README's `http://127.0.0.1:8000` pointed at the test stack; it must answer STATUS, and
its body must contain TEXT when one is given.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = re.compile(r"<!-- readme-test: (\d{3})(?: (.*?))? -->\n```sh\n(.*?)```", re.DOTALL)
CURL = "curl() { command curl --silent --show-error --write-out '\\n%{http_code}' \"$@\"; }\n"


def examples() -> list[tuple[int, str, str]]:
    return [(int(status), expect or "", block) for status, expect, block in MARKER.findall(README.read_text())]


def test_the_readme_has_its_api_examples():
    found = examples()
    assert len(found) >= 9
    assert all("curl" in block for _, _, block in found)


@pytest.mark.parametrize("status, expect, block", examples(), ids=lambda v: v if isinstance(v, int) else None)
def test_readme_example(url, status, expect, block):
    script = CURL + block.replace("http://127.0.0.1:8000", url)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    body, _, code = done.stdout.rpartition("\n")
    assert int(code) == status, body
    assert expect in body, body
