#!/usr/bin/env bash
# The outside security review's attacks (issue 10), re-run against the release binary, and
# against BASELINE_BIN too when it is set (e.g. a build of an earlier commit), side by side:
#   BASELINE_BIN=/tmp/old/.build/release/reelgate bench/abuse/run.sh
# Figures: RSS growth for a 20 MB body without a key and for 20 stalled bodies; /healthz while
# 20 connections trickle bodies at a 20-connection server (from the attacker's address and from
# another); the response to 1,000 getResponse items of a 4-result base64Data task and to a 4 MB
# array of junk items.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-.build/release/reelgate}
[ -x "$BIN" ] || { echo "$BIN missing: run make build"; exit 1; }
here=bench/abuse
now=$(python3 "$here/attack.py" "$BIN" "$@")
before=""
[ -n "${BASELINE_BIN:-}" ] && before=$(python3 "$here/attack.py" "$BASELINE_BIN" "$@")
echo "bench/abuse: ${BASELINE_BIN:+baseline ($BASELINE_BIN) → }this build ($BIN)"
BEFORE="$before" NOW="$now" python3 - <<'PY'
import os
def table(text):
    rows = {}
    for line in text.splitlines():
        parts = line.split()
        if parts: rows[parts[0]] = " ".join(parts[1:])
    return rows
before, now = table(os.environ["BEFORE"]), table(os.environ["NOW"])
for name in now:
    old = f"{before.get(name, '—'):>12} → " if before else ""
    print(f"  {name:<18} {old}{now[name]:>12}")
PY
