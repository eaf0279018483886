"""wrk with bench/body.lua: the command, the result line, and a real run on loopback."""

from __future__ import annotations

import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.wrk import LUA_SCRIPT, WrkError, parse_output, run_wrk, wrk_command

LINE = (
    'BENCH_RESULT {"requests": 1200, "duration_us": 2000000, "bytes": 99, '
    '"errors": {"connect": 1, "read": 0, "write": 0, "status": 3, "timeout": 2}, '
    '"latency_us": {"min": 100, "mean": 850.5, "max": 9000, "p50": 800, "p90": 1500, "p99": 4000}}'
)


def test_parse_output_reads_the_result_line_among_wrks_own():
    m = parse_output("Running 2s test @ http://x\n  1 threads and 1 connections\n" + LINE + "\n")
    assert m.requests == 1200 and m.errors == 6
    assert m.duration_seconds == 2.0 and m.requests_per_second == 600.0
    assert (m.p50_ms, m.p90_ms, m.p99_ms, m.mean_ms, m.max_ms) == (0.8, 1.5, 4.0, 0.8505, 9.0)


def test_parse_output_without_result_line_shows_the_output():
    with pytest.raises(WrkError, match="unable to connect"):
        parse_output("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_command_uses_the_lua_script_and_passes_the_body_file(tmp_path):
    cmd = wrk_command("http://h/p", tmp_path / "b.json", concurrency=32, duration_seconds=7.6,
                      threads=4, timeout_seconds=10)
    assert cmd[1:5] == ["-t4", "-c32", "-d8s", "--timeout=10s"]
    assert cmd[cmd.index("-s") + 1] == str(LUA_SCRIPT)
    assert cmd[-3:] == ["http://h/p", "--", str(tmp_path / "b.json")]
    # never more threads than connections
    assert wrk_command("u", tmp_path, concurrency=1, duration_seconds=1, threads=4)[1] == "-t1"


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make bench installs it)")
def test_real_wrk_posts_the_body_file(tmp_path):
    seen: list[tuple[str, str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if len(seen) < 5:
                seen.append((self.path, self.headers["Content-Type"], body))
            status = 200 if body == b'{"instances": [[1, 2]]}' else 400
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        body = tmp_path / "body.json"
        body.write_bytes(b'{"instances": [[1, 2]]}')
        url = f"http://127.0.0.1:{server.server_port}/v1/models/m:predict"
        m = run_wrk(url, body, concurrency=2, duration_seconds=1)
    finally:
        server.shutdown()
        server.server_close()
    assert m.requests > 0
    assert m.errors == 0  # every answer was 200: the body arrived intact
    assert seen[0] == ("/v1/models/m:predict", "application/json", b'{"instances": [[1, 2]]}')
    assert 0 < m.p50_ms <= m.p99_ms <= m.max_ms
