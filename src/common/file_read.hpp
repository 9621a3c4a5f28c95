// Reading a whole file, the one way every program of slurm-vm does it: bounded (a file that
// grows without end, or a FIFO someone put in its place, cannot exhaust memory or block), a
// regular file only, EINTR handled, errors that name the file.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>

namespace slurmvm {

enum class Symlinks { follow, refuse };

// The whole text of `path`. Throws Error carrying errno (ENOENT: absent; ELOOP: a symlink with
// Symlinks::refuse) when it cannot be opened or read, Error(config) when it is not a regular
// file or holds more than `limit` bytes. /proc and /sys files (size 0 to stat) read fine.
std::string read_file(const std::filesystem::path& path, std::size_t limit = 16 * 1024 * 1024,
                      Symlinks symlinks = Symlinks::follow);

// read_file, or nullopt when the file does not exist.
std::optional<std::string> read_file_if_exists(const std::filesystem::path& path,
                                               std::size_t limit = 16 * 1024 * 1024,
                                               Symlinks symlinks = Symlinks::follow);

}  // namespace slurmvm
