// The one way slurm-vm replaces a file: a temporary file next to it (O_EXCL, random name, never
// following a symlink), its owner and mode set on the descriptor, the whole content written,
// optionally fsync'ed, then renamed over the file. A reader sees the old file or the new one,
// never a part; a failure leaves the old file and no temporary behind.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string_view>

namespace slurmvm {

// Who the file belongs to. The default (0:0) means "whoever writes it": no chown.
struct FileOwner {
  uid_t uid = 0;
  gid_t gid = 0;
};

// synced: fsync before the rename, for what must survive a node crash with the change it
// describes (the root helpers' state next to their ledger). flushed: the rename alone, for
// files whose writer's work dies with the node anyway (a VM's vm.json, the CLI's files).
enum class Durability { synced, flushed };

// Throws Error naming the file.
void write_file_atomic(const std::filesystem::path& file, std::string_view content, unsigned mode,
                       FileOwner owner = {}, Durability durability = Durability::synced);

}  // namespace slurmvm
