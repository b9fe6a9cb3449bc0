#!/usr/bin/env bash
# Builds Learning Studio's images without any container registry: a Debian base from debootstrap (mirror read
# from this machine's apt sources), then the learner image on it, with Python packages from a wheelhouse built
# on the host (offline `pip install --no-index` inside). Tags are content hashes: unchanged inputs, no rebuild.
#   images/build.sh            build what is missing; prints the learner image's tag last
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
VENV=$(readlink -f .venv)
WORK=$(readlink -f var)/images
mkdir -p "$WORK"
say() { printf '\033[1m[images]\033[0m %s\n' "$*" >&2; }
hash_of() { cat "$@" | sha256sum | cut -c1-12; }

mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
[ -n "$mirror" ] || mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list)
suite=bookworm

# --- base: debootstrap → docker import ------------------------------------------------------------------
base_tag=studio-base:$(printf '%s %s' "$suite" "$(sha256sum images/build.sh | cut -c1-12)" | sha256sum | cut -c1-12)
if ! docker image inspect "$base_tag" >/dev/null 2>&1; then
  say "debootstrap $suite (minbase) → $base_tag"
  rootfs=$(mktemp -d "$WORK/rootfs.XXXX")
  debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1
  # The image finds the same mirror the host uses, read here at build time (never written into the repo).
  printf 'deb %s %s main\n' "$mirror" "$suite" >"$rootfs/etc/apt/sources.list"
  tar -C "$rootfs" --exclude='./var/cache/apt/archives/*.deb' --exclude='./var/lib/apt/lists/*' -c . \
    | docker import - "$base_tag" >/dev/null
  rm -rf "$rootfs"
fi

# --- wheelhouse for the learner image -------------------------------------------------------------------
wheels=$WORK/wheelhouse
learner_reqs=(./extensions)
wh_hash=$(find constraints.txt extensions -type f -not -path '*/__pycache__/*' -not -path '*.egg-info*' \
            -not -path '*/build/*' -print0 | sort -z | xargs -0 sha1sum | sha1sum | cut -c1-12)
if [ "$(cat "$wheels/.stamp" 2>/dev/null)" != "$wh_hash" ]; then
  say "building the learner wheelhouse"
  rm -rf "$wheels" && mkdir -p "$wheels"
  "$VENV/bin/pip" wheel -q -w "$wheels" -c constraints.txt "${learner_reqs[@]}" 2>&1 \
    | { grep -v "is ignored: it is neither" || true; } >&2
  rm -rf extensions/build
  echo "$wh_hash" >"$wheels/.stamp"
fi

# --- learner image --------------------------------------------------------------------------------------
kernels_hash=$(find kernels -type f -print0 | sort -z | xargs -0 sha1sum | sha1sum | cut -c1-12)
learner_tag=studio-learner:$(printf '%s %s %s %s' "$base_tag" "$wh_hash" "$kernels_hash" "$(hash_of images/learner/Dockerfile)" \
                              | sha256sum | cut -c1-12)
if ! docker image inspect "$learner_tag" >/dev/null 2>&1; then
  say "building $learner_tag"
  ctx=$(mktemp -d "$WORK/ctx.XXXX")
  cp images/learner/Dockerfile "$ctx/"
  cp -r "$wheels" "$ctx/wheelhouse"
  cp -r kernels "$ctx/kernels"
  docker build -q --build-arg "BASE=$base_tag" -t "$learner_tag" "$ctx" >/dev/null
  rm -rf "$ctx"
fi
docker tag "$learner_tag" studio-learner:latest
echo "$learner_tag"
