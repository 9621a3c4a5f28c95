// The dnsmasq jail's one process (dnsmasq_jail.hpp), between clone and exec: cloned by the
// prolog straight into new user, network, PID and IPC namespaces (pid 1 of its PID namespace),
// it waits for the prolog to configure them, becomes the jail's root and execs dnsmasq; and how
// it reports a failure to the prolog. Internal to src/netsetup.
#pragma once

#include <sys/types.h>

#include <string>

#include "error.hpp"

namespace slurmvm::netsetup::jail {

// What the child reports on its error pipe before it execs (nothing, then EOF, on success).
struct ChildFailure {
  int stage = 0;
  int err = 0;
};

// The prolog's error for a child's report; `program` is dnsmasq's path.
Error child_error(const ChildFailure& f, const std::string& program);

// The pipes between the prolog and the child. Each side closes the ends that are not its own at
// once, so that a side that dies is seen as EOF.
struct JailPipes {
  int go_r, go_w;    // prolog -> child: namespaces configured, pid recorded: exec
  int err_r, err_w;  // child -> prolog: a ChildFailure, or EOF once dnsmasq runs
};

// clone3(2) of the calling process into the four new namespaces. Returns the child's pid, in the
// prolog's PID namespace (the prolog's own child: the pid cannot be recycled before the prolog
// reaps it); the child runs the jail and never returns. Error(system) when the clone fails
// (user namespaces disabled, typically).
pid_t clone_jail(const JailPipes& p, int null_fd, int log_fd, char* const* argv, char* const* envp);

}  // namespace slurmvm::netsetup::jail
