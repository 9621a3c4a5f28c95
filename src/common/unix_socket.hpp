// Connecting to QEMU's unix sockets (QMP, the serial console, the guest agent), which live in
// job directories under home directories of any length.
#pragma once

#include <filesystem>

#include "unique_fd.hpp"

namespace slurmvm {

// A non-blocking stream socket connected to `path`, or an empty fd with `error` set (errno of
// the failed step). Paths longer than sun_path are reached as /proc/self/fd/<dir>/<name>.
// Throws Error only when no socket can be made at all.
UniqueFd connect_unix_stream(const std::filesystem::path& path, int& error);

}  // namespace slurmvm
