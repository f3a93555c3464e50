# deps.sh — sourced by tools/test_all.sh and tools/bench_all.sh.
# subq_ensure_packages PKG...: makes sure the Debian packages are installed.
#   root:      installs the missing ones with apt-get (apt-get update first);
#   not root:  prints the exact apt-get command and returns 1.
# SUBQ_SKIP_DEPS=1 skips the check (for machines whose tools come from elsewhere).

subq_ensure_packages() {
  if [[ "${SUBQ_SKIP_DEPS:-0}" == 1 ]]; then
    echo "deps: SUBQ_SKIP_DEPS=1, not checking system packages"
    return 0
  fi
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps: this is not a Debian-based system (no dpkg-query). Install the equivalents of:" >&2
    echo "  $*" >&2
    echo "then re-run with SUBQ_SKIP_DEPS=1." >&2
    return 1
  fi
  local missing=() p
  for p in "$@"; do
    if [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)" != ii* ]]; then
      missing+=("$p")
    fi
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    echo "deps: all ${#} system packages present"
    return 0
  fi
  if [[ "$(id -u)" -ne 0 ]]; then
    echo "deps: missing system packages: ${missing[*]}" >&2
    echo "deps: install them as root, then re-run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    return 1
  fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get update -q || ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    echo "deps: apt-get failed to install: ${missing[*]}" >&2
    return 1
  fi
}
