#!/usr/bin/env bash
# Installs what Learning Studio needs on Debian 12, idempotently: apt packages, a virtualenv built on Debian's
# python3 (learner accounts must be able to run it), our three Python parts, configurable-http-proxy from npm.
#   scripts/setup.sh demo    what `make demo` needs
#   scripts/setup.sh test    the above plus what the test suite needs (Chromium, test tools)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PURPOSE=${1:-demo}
CHP_VERSION=5.3.0

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# --- system packages ------------------------------------------------------------------------------------
apt_pkgs=(python3-venv bubblewrap libseccomp2)
command -v npm >/dev/null || apt_pkgs+=(npm)
# Tests reach learners' origins (<name>.localhost) from Python too: nss-myhostname resolves *.localhost here. gcc
# builds the fork guard that grading under runsc without Docker needs (below; the tests run every engine).
[ "$PURPOSE" = test ] && apt_pkgs+=(chromium fonts-dejavu-core libnss-myhostname gcc libc6-dev)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "Missing Debian packages: ${missing[*]}. Install them as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- where the virtualenv and runtime state live --------------------------------------------------------
# Learners run as their own Unix accounts, so the virtualenv and the read-only course content must be
# reachable by every account. If this checkout is not (a clone under /root or a mktemp -d folder), both live
# under /var/lib/learning-studio/<checkout hash> and .venv / var are symlinks to them.
if [ "$(id -u)" = 0 ] && [ ! -e .venv ] && ! runuser -u nobody -- test -r "$ROOT/Makefile" 2>/dev/null; then
  runtime=/var/lib/learning-studio/$(printf %s "$ROOT" | sha1sum | cut -c1-12)
  say "this checkout is not readable by other accounts; runtime files go to $runtime"
  mkdir -p "$runtime/var"
  chmod 755 /var/lib/learning-studio "$runtime"
  ln -sfn "$runtime/venv" .venv
  ln -sfn "$runtime/var" var
fi
mkdir -p var

# --- virtualenv and Python packages ---------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  say "creating virtualenv .venv (Debian python3)"
  /usr/bin/python3 -m venv "$(readlink -f .venv)"  # the real folder: venv refuses a symlink
  .venv/bin/pip install -q -c constraints.txt uv 2>&1 | { grep -v "is ignored: it is neither" || true; } >&2
fi
# Always by its real path: installed scripts' #! lines must not go through a symlinked checkout.
VENV=$(readlink -f .venv)

# --- the hints front end: a prebuilt JupyterLab extension (plain JavaScript) ----------------------------------
# Built with JupyterLab's builder from npm, and nothing else from npm: JupyterLab's own packages are shared with
# the running JupyterLab, not bundled. The output (extensions/studio_ext/labextension) goes into studio-ext's wheel.
LAB_BUILDER_VERSION=4.5.11
lab_src=extensions/labextension
lab_out=extensions/studio_ext/labextension
lab_stamp=$( { echo "$LAB_BUILDER_VERSION"; find "$lab_src" -type f -not -path '*/node_modules/*' -print0 | sort -z \
              | xargs -0 sha1sum; } | sha1sum | cut -c1-40)
if [ "$(cat "$lab_out/.stamp" 2>/dev/null)" != "$lab_stamp" ]; then
  say "building the hints front end (JupyterLab extension)"
  "$VENV/bin/python" -c "import jupyterlab" 2>/dev/null \
    || "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" -c constraints.txt jupyterlab
  builder=$VENV/lib/labbuilder
  if [ "$(cd "$builder" 2>/dev/null && node -p "require('@jupyterlab/builder/package.json').version" 2>/dev/null)" \
       != "$LAB_BUILDER_VERSION" ]; then
    npm install --silent --no-fund --no-audit --prefix "$builder" "@jupyterlab/builder@$LAB_BUILDER_VERSION" >/dev/null
  fi
  core=$("$VENV/bin/python" -c "import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), 'staging'))")
  node "$builder/node_modules/@jupyterlab/builder/lib/build-labextension.js" --core-path "$core" "$lab_src" \
    >"$VENV/lib/labbuilder.log" 2>&1 || { cat "$VENV/lib/labbuilder.log" >&2; exit 1; }
  echo "$lab_stamp" >"$lab_out/.stamp"
fi
inputs=(constraints.txt wire hub extensions sandbox grader portal scripts/setup.sh)
[ "$PURPOSE" = test ] && inputs+=(tests/requirements.txt)
stamp=$(find "${inputs[@]}" -type f -not -path '*/__pycache__/*' -not -path '*.egg-info*' -not -path '*/build/*' \
          -print0 | sort -z | xargs -0 sha1sum | sha1sum | cut -c1-40)
stamp_file=$VENV/.studio-$PURPOSE
if [ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp" ]; then
  say "installing Python packages ($PURPOSE)"
  reqs=(./wire ./hub ./extensions ./sandbox ./grader ./portal)
  [ "$PURPOSE" = test ] && reqs+=(-r tests/requirements.txt)
  # Our own parts are reinstalled (not editable) so that learner accounts never need to read this checkout.
  "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" -c constraints.txt \
      --reinstall-package studio-hub --reinstall-package studio-ext --reinstall-package studio-grader --reinstall-package studio-sandbox \
      --reinstall-package studio-wire \
      --reinstall-package studio-portal "${reqs[@]}"
  # jsonschema's optional IRI format checker (pulled in by jupyter_events) builds a parser at import: 1.1 s of
  # every Jupyter server's start. Nothing here validates IRIs; without it jsonschema skips that one format.
  "$VENV/bin/uv" pip uninstall -q --python "$VENV/bin/python" rfc3987-syntax lark
  rm -rf wire/build hub/build extensions/build sandbox/build grader/build portal/build
  echo "$stamp" >"$stamp_file"
fi

# --- axe-core (npm), for the accessibility tests: WCAG checks run inside headless Chromium ---------------
AXE_VERSION=4.14.1
if [ "$PURPOSE" = test ] && [ "$(cd "$VENV/lib/axe" 2>/dev/null && node -p "require('axe-core/package.json').version" \
                                  2>/dev/null)" != "$AXE_VERSION" ]; then
  say "installing axe-core $AXE_VERSION from npm"
  npm install --silent --no-fund --no-audit --prefix "$VENV/lib/axe" "axe-core@$AXE_VERSION" >/dev/null
fi

# --- configurable-http-proxy (npm) ----------------------------------------------------------------------
if [ ! -x "$VENV/bin/configurable-http-proxy" ]; then
  say "installing configurable-http-proxy $CHP_VERSION from npm"
  npm install --silent --no-fund --no-audit --prefix "$VENV/lib/node" "configurable-http-proxy@$CHP_VERSION" >/dev/null
  ln -sfn ../lib/node/node_modules/.bin/configurable-http-proxy "$VENV/bin/configurable-http-proxy"
fi

# --- the learner image's preloaded libraries, for grading under gVisor's runsc without Docker -----------------
# (studio_grader.sandbox's "runsc" engine: gVisor ignores RLIMIT_NPROC, the fork guard holds each job's processes.)
# Where gcc is missing they are not built, and grading without Docker uses bubblewrap instead.
preload=$VENV/lib/studio-preload
preload_stamp=$(cat images/learner/fork_guard.c images/learner/statx_compat.c | sha1sum | cut -c1-40)
if command -v gcc >/dev/null && [ "$(cat "$preload/.stamp" 2>/dev/null)" != "$preload_stamp" ]; then
  mkdir -p "$preload"
  for lib in fork_guard statx_compat; do
    gcc -O2 -Wall -Werror -shared -fPIC -o "$preload/libstudio-${lib//_/-}.so" "images/learner/$lib.c" -ldl
  done
  echo "$preload_stamp" >"$preload/.stamp"
fi
