// What `vm save` and `vm ckpt` ask of a running QEMU about the VM's disk: which drive is the
// overlay, and a copy of it (drive-backup) followed to its end. On the VM's node.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

#include "qmp.hpp"

namespace slurmvm::cli {

// The QEMU drive whose file is the VM's overlay (vm-launch hands it over as an fd set,
// kDiskFdSet; VMs of earlier versions by `disk`'s path). Error(system) when there is none.
std::string disk_device(QmpClient& qmp, const std::filesystem::path& disk);

struct DiskCopy {
  std::string vm;      // "vm3", for messages
  std::string device;  // disk_device()
  std::filesystem::path target;
  // sync=top: the overlay's own data, over the same backing file (absolute-paths), as of the
  // start; sync=full: the whole disk as the guest sees it, in a file with no backing.
  bool full = false;
};

// Starts QEMU's drive-backup of the copy and returns its block job's name.
std::string start_disk_copy(QmpClient& qmp, const DiskCopy& copy);

// Waits for that job to end (`timeout`; cancelled then). Error(system) when QEMU reports an
// error or a cancellation, Error(timeout) past the deadline, naming the VM.
void wait_disk_copy(QmpClient& qmp, const DiskCopy& copy, const std::string& job, std::chrono::seconds timeout);

}  // namespace slurmvm::cli
