#!/usr/bin/env bash
# Run a Space bundle (build_space.py's output) the way Hugging Face Spaces does: in a fresh virtual
# environment made from the bundle's own requirements.txt, `python app.py` in the bundle's folder.
# Nothing of this checkout is visible there (not its .venv, not the editable install of textclf), so a
# module the bundle lacks fails here as it would on the Space.
#   bash scripts/try_space.sh space/disaster-tweets      # then open http://127.0.0.1:7860
#   SETUP_ONLY=1 bash scripts/try_space.sh space/NAME    # only make the environment
# The environment is made once per requirements.txt (a few minutes), in $SPACE_VENV.
SPACE_DIR=${1:?usage: bash scripts/try_space.sh SPACE_DIR}
SPACE_VENV=${SPACE_VENV:-${SPACE_DIR%/}.venv}  # beside the bundle, so that an upload of the bundle leaves it out
SETUP_ONLY=${SETUP_ONLY:-}
PYTHON=${PYTHON:-python3}                     # the Space's python_version (README.md front matter)

set -euo pipefail
if [ ! -f "$SPACE_DIR/app.py" ] || [ ! -f "$SPACE_DIR/requirements.txt" ]; then
  echo "error: $SPACE_DIR is not a Space bundle (no app.py and requirements.txt): make one with build_space.py" >&2
  exit 2
fi
wanted=$(sha256sum "$SPACE_DIR/requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$SPACE_VENV/.installed-requirements" 2>/dev/null)" != "$wanted" ]; then
  echo "Making $SPACE_VENV from $SPACE_DIR/requirements.txt (once, a few minutes)..." >&2
  rm -rf "$SPACE_VENV"
  "$PYTHON" -m venv "$SPACE_VENV"
  # As the Space does: its requirements.txt verbatim. Offline, pip says the PyTorch index cannot be
  # reached and takes torch from the indexes it can reach.
  "$SPACE_VENV/bin/python" -m pip install --quiet --retries 1 --timeout 15 -r "$SPACE_DIR/requirements.txt" >&2 \
    || { echo "error: installing $SPACE_DIR/requirements.txt into $SPACE_VENV failed (see above)" >&2; exit 2; }
  echo "$wanted" > "$SPACE_VENV/.installed-requirements"
fi
[ -n "$SETUP_ONLY" ] && exit 0
cd "$SPACE_DIR"
# -E -s: no PYTHONPATH, no user site-packages; the bundle's folder is first on the path (app.py's own).
exec "$SPACE_VENV/bin/python" -E -s app.py
