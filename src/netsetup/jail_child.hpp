// The two processes of the dnsmasq jail (dnsmasq_jail.hpp), between fork and exec: the jailer
// (the prolog's child, which makes the namespaces and becomes the jail's root) and the jail's
// init (the jailer's child, pid 1 of the new PID namespace, which execs dnsmasq), and how they
// report a failure to the prolog. Internal to src/netsetup.
#pragma once

#include <string>

#include "error.hpp"

namespace slurmvm::netsetup::jail {

// What a child reports on its error pipe before it execs (nothing, then EOF, on success).
struct ChildFailure {
  int stage = 0;
  int err = 0;
};

// The prolog's error for a child's report; `program` is dnsmasq's path.
Error child_error(const ChildFailure& f, const std::string& program);

// The pipes between the prolog and the two children. Each side closes the ends that are not its
// own at once, so that a side that dies is seen as EOF.
struct JailPipes {
  int ready_r, ready_w;  // jailer -> prolog: 'r' once unshared, then the init's pid
  int go_r, go_w;        // prolog -> jailer: the namespace is configured
  int go2_r, go2_w;      // prolog -> init: its pid is in the pid file, exec
  int err_r, err_w;      // jailer, init -> prolog: a ChildFailure, or EOF once dnsmasq runs
};

// The jailer, in the prolog's forked child: never returns. Async-signal-safe calls only.
[[noreturn]] void jailer_main(const JailPipes& p, int null_fd, int log_fd, char* const* argv, char* const* envp);

}  // namespace slurmvm::netsetup::jail
