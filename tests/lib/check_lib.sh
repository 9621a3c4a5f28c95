# tests/lib/check_lib.sh - the bookkeeping every shell test (tests/*/*_test.sh) shares, so that
# they all read and report alike:
#   pass MSG / fail MSG          one check's verdict (counted)
#   abort MSG                    fail, then exit: the later steps depend on this one
#   check DESC CMD...            passes when CMD succeeds
#   check_eq DESC WANT GOT       passes when GOT is WANT
#   wait_for DESC SECS CMD...    polls CMD every 0.25 s until it succeeds; a failure past SECS
#   test_summary NAME [RC]       "NAME: PASSED (n checks)" or "NAME: FAILED (f failed, p
#                                passed)", returning 1, when a check failed or RC is non-zero;
#                                RC 77 without a failure is "NAME: SKIPPED", returning 77 (CTest's
#                                skip code). Call it last in the test's EXIT trap.
#   stop_pid PID                 stops a process the test started (TERM, KILL after 5 s),
#                                reaping it when it is the shell's child; no-op for ""
# Sourced; defines passes and fails.

passes=0 fails=0

pass() { echo "PASS: $*"; passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
abort() { fail "$*"; exit 1; }

check() {
  local what=$1; shift
  if "$@"; then pass "$what"; else fail "$what (failed: $*)"; fi
}

check_eq() {
  if [[ $3 == "$2" ]]; then pass "$1"; else fail "$1: expected '$2', got '$3'"; fi
}

wait_for() {
  local what=$1 secs=$2 i; shift 2
  for ((i = 0; i < secs * 4; i++)); do "$@" && return 0; sleep 0.25; done
  fail "$what: not within $secs s"
  return 1
}

test_summary() {
  local name=$1 rc=${2:-0}
  if ((rc == 77 && fails == 0)); then
    echo "$name: SKIPPED"
    return 77
  fi
  if ((fails > 0 || rc != 0)); then
    echo "$name: FAILED ($fails failed, $passes passed$( ((rc != 0)) && echo ", exit status $rc"))"
    return 1
  fi
  echo "$name: PASSED ($passes checks)"
}

stop_pid() {
  local pid=$1 i
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || :; return 0; }; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || :
  wait "$pid" 2>/dev/null || :
}
