#!/usr/bin/env bash
# Builds Learning Studio's images without any container registry: a Debian base from debootstrap (mirror read
# from this machine's apt sources), then the learner image on it with Python packages from a wheelhouse built
# on the host (offline `pip install --no-index` inside), then `hub`, `portal`, `postgres` and `redis` for
# docker-compose. Tags are content hashes: unchanged inputs, no rebuild; each is also tagged `:latest`.
#   images/build.sh                 build every image that is missing; prints their tags, the learner's last
#   images/build.sh learner hub     only these (in this order)
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
# Change this recipe line whenever the base's steps below change; it alone names the base image.
base_recipe="debootstrap --variant=minbase $suite; sources.list from the host's mirror; v1"
base_tag=studio-base:$(printf '%s' "$base_recipe" | sha256sum | cut -c1-12)
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

# --- wheelhouse: our three parts, nbgrader (learners' assignment list) and all they need, built on the host --
wheels=$WORK/wheelhouse
wh_hash=$( { echo nbgrader; find constraints.txt extensions grader hub portal sandbox wire -type f -not -path '*/__pycache__/*' \
            -not -path '*.egg-info*' -not -path '*/build/*' -print0 | sort -z | xargs -0 sha1sum; } | sha1sum | cut -c1-12)
if [ "$(cat "$wheels/.stamp" 2>/dev/null)" != "$wh_hash" ]; then
  say "building the wheelhouse"
  rm -rf "$wheels" && mkdir -p "$wheels"
  "$VENV/bin/pip" wheel -q -w "$wheels" -c constraints.txt ./wire ./extensions ./sandbox ./grader ./hub ./portal nbgrader 2>&1 \
    | { grep -v "is ignored: it is neither" || true; } >&2
  rm -rf extensions/build grader/build hub/build portal/build sandbox/build wire/build
  echo "$wh_hash" >"$wheels/.stamp"
fi

# --- images: tag = hash of (base, Dockerfile, everything copied in) ------------------------------------------
# build NAME ITEM...: images/NAME/ plus each ITEM (SOURCE=NAME-IN-CONTEXT) as the build context.
build() {
  local name=$1; shift
  local ctx tag item src
  ctx=$(mktemp -d "$WORK/ctx.XXXX")
  cp -r "images/$name/." "$ctx/"
  for item in "$@"; do
    src=${item%%=*}
    cp -rL "$src" "$ctx/${item#*=}"
  done
  tag=studio-$name:$( { echo "$base_tag"; cd "$ctx" && find . -type f -not -path '*/__pycache__/*' -print0 \
                        | sort -z | xargs -0 sha1sum; } | sha256sum | cut -c1-12)
  if ! docker image inspect "$tag" >/dev/null 2>&1; then
    say "building $tag"
    docker build -q --build-arg "BASE=$base_tag" -t "$tag" "$ctx" >/dev/null
  fi
  rm -rf "$ctx"
  docker tag "$tag" "studio-$name:latest"
  printf '%s\n' "$tag"
}

# The courses, as the images carry them (read-only in learners' containers, imported by the portal): without
# source/, nbgrader's instructor version of the assignments (solutions, hidden tests), and with the lessons' practice
# answers cleared (studio_hub.content). The hub's image (the trusted side, where the grading and hints services run)
# carries them whole.
content=$WORK/content
trusted=$WORK/content-trusted
"$VENV/bin/python" -m studio_hub.content "$content" course-content/*/
"$VENV/bin/python" -m studio_hub.content --trusted "$trusted" course-content/*/

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(postgres redis portal hub learner)
for target in "${targets[@]}"; do
  case $target in
    learner)  build learner "$wheels=wheelhouse" "kernels=kernels" "$content=content" ;;
    hub)      build hub "$wheels=wheelhouse" "$VENV/lib/node=node" "jupyterhub_config.py=jupyterhub_config.py" \
                "$trusted=content" ;;
    portal)   build portal "$wheels=wheelhouse" "$content=content" ;;
    postgres) build postgres ;;
    redis)    build redis ;;
    *) echo "unknown image $target (learner, hub, portal, postgres, redis)" >&2; exit 2 ;;
  esac
done
