"""schemathesis against /openapi.json of the real binary: any 5xx, or any response that breaks
the documented schema, fails `make test` (SPEC §4: the document is kept true by tests)."""
import os
import shutil
import subprocess
import sys
import tempfile

BIN = os.environ.get("REELGATE_BIN", ".build/debug/reelgate")
KEY = "schemathesis-key-0123456789"


def test_schemathesis_finds_no_server_error_or_schema_violation():
    data = tempfile.mkdtemp(prefix="reelgate-schemathesis-")
    env = dict(os.environ, REELGATE_LISTEN="127.0.0.1:0", REELGATE_DATA_DIR=data, REELGATE_API_KEYS=f"st:{KEY}:ops")
    proc = subprocess.Popen([BIN, "serve"], env=env, cwd=data, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = proc.stdout.readline().strip().removeprefix("listening on ")
        st = os.path.join(os.path.dirname(sys.executable), "schemathesis")
        run = subprocess.run([st, "run", f"{url}/openapi.json", "-H", f"Authorization: Bearer {KEY}",
                              "--checks", "not_a_server_error,response_schema_conformance", "-n", "25", "--seed", "1"],
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout[-4000:]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)
