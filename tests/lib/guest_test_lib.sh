# tests/lib/guest_test_lib.sh - helpers shared by the root tests that boot test guests
# (tests/root/*_test.sh). Sourced; the caller defines say().

now_ms() { echo $(($(date +%s%N) / 1000000)); }
since() { local ms=$(($(now_ms) - $1)); printf '%d.%01d s' $((ms / 1000)) $((ms % 1000 / 100)); }

# reap_stale_namespaces PREFIX: a run killed without its cleanup (a CTest timeout sends SIGKILL)
# leaves its namespace PREFIX<pid> and the processes in it. Once that PID is gone, kill what
# still lives in the namespace, by PID, and delete it.
reap_stale_namespaces() {
  local prefix=$1 ns pid
  for ns in $(ip netns list | awk -v p="$prefix" 'index($1, p) == 1 && substr($1, length(p) + 1) ~ /^[0-9]+$/ { print $1 }'); do
    kill -0 "${ns#"$prefix"}" 2>/dev/null && continue
    say "removing $ns, left by a run that died"
    for pid in $(ip netns pids "$ns"); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns"
  done
}

# ensure_packages PKG...: installs the Debian packages that are missing (the tests run as root).
ensure_packages() {
  local p missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}
