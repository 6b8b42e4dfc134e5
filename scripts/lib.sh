# Shared by scripts/serve and scripts/test. Sourced, not run.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

build_packages=(cmake ninja-build g++ pkg-config libboost1.81-dev libboost-url1.81-dev
  libboost-program-options1.81-dev libssl-dev libsqlite3-dev rapidjson-dev libspdlog-dev
  doctest-dev libzstd-dev liblz4-dev libsystemd-dev libpq-dev ca-certificates)

# Installs the Debian packages in "$@" that are not installed yet (needs root).
install_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Configures (once) and builds the given targets in build dir $1.
build() {
  local dir="$1"; shift
  local extra=()
  [ "$dir" = "$repo/build-asan" ] && extra=(-DRUNMIRROR_SANITIZE=ON)
  [ "$dir" = "$repo/build-tsan" ] && extra=(-DRUNMIRROR_TSAN=ON)
  [ -f "$dir/build.ninja" ] || cmake -S "$repo" -B "$dir" -G Ninja "${extra[@]}" >/dev/null
  cmake --build "$dir" ${1:+--target "$@"}
}
