#!/usr/bin/env bash
# Installs the official Runware SDK into a venv under .build and runs the conformance suite
# against the freshly built reelgate binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.build/venv-conformance
if [ ! -x "$venv/bin/pytest" ] || ! "$venv/bin/python" -c 'import runware, google.genai, schemathesis, selenium, openai' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'runware-sdk>=1.8,<1.9' 'google-genai>=3.3,<4' 'schemathesis>=4,<5' 'selenium>=4.20,<5' 'openai>=3.50,<4' 'pytest>=8'
fi
# The legacy SDK installs the same import name (`runware`): a venv of its own.
legacy=.build/venv-conformance-legacy
if [ ! -x "$legacy/bin/pytest" ] || ! "$legacy/bin/python" -c 'from runware import IVideoInference' 2>/dev/null; then
  python3 -m venv "$legacy"
  "$legacy/bin/pip" install -q --disable-pip-version-check 'runware==0.5.24' 'pytest>=8'
fi
export REELGATE_BIN=${REELGATE_BIN:-$(swift build --show-bin-path)/reelgate}
"$venv/bin/pytest" -q -p no:cacheprovider Tests/conformance --ignore=Tests/conformance/legacy "$@"
"$legacy/bin/pytest" -q -p no:cacheprovider Tests/conformance/legacy "$@"
