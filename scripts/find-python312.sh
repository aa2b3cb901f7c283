#!/usr/bin/env bash
# Prints the path of a working Python 3.12 interpreter, or explains what is missing.
# Order: $PYTHON312, pyenv's 3.12.x, python3.12 on PATH (a pyenv shim only if it actually runs).
set -u
try() { [ -n "$1" ] && "$1" -c 'import sys; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1 && { echo "$1"; exit 0; }; }
try "${PYTHON312:-}"
if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
  for d in $(ls -d "$root"/versions/3.12.* 2>/dev/null | sort -V -r); do try "$d/bin/python3.12"; done
fi
try "$(command -v python3.12 2>/dev/null)"
try "$(command -v python3 2>/dev/null)"
cat >&2 <<'MSG'
error: GAS needs Python 3.12 and none was found.
  Install it (e.g. `pyenv install 3.12`, or your OS package `python3.12` with venv support)
  or point PYTHON312 at the interpreter: make PYTHON312=/path/to/python3.12 setup
MSG
exit 1
