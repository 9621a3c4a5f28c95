// QEMU's command line for one VM: a pure function of a VmSpec (what the template, the task's
// allocation and the node's network map decided), so that tests pin it exactly. The VM starts
// paused (-S): vm-launch's pinning helper resumes it once the vCPU threads are pinned, so no
// vCPU ever runs on the wrong core (pinning.hpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/template.hpp"

namespace slurmvm::launch {

// The TCG translation cache in MiB: QEMU 7.2 defaults to 1 GiB, which inflates every VM's
// memory by hundreds of MiB (net-and-vm-on-one-machine.md §2.2, §4.4).
inline constexpr unsigned kTcgTbSizeMiB = 64;

// The kernel command line when a template boots a kernel directly and its custom-args give no
// -append (pcocc's default).
inline constexpr std::string_view kDefaultKernelAppend = "console=ttyS0 root=/dev/vda1";

struct NicSpec {
  std::string tap;
  std::string mac;
  std::string model = "virtio-net";  // the template's nic-model
};

// A host directory exported over virtio-9p (template mount-points). QEMU runs as the user, so
// the guest reads and writes it with the user's rights; security_model=none: files the guest
// creates belong to the user on the host, whatever uid the guest wrote them as.
struct MountSpec {
  std::string tag;
  std::string path;  // absolute, on the host
  bool readonly = false;
};

// A template persistent-drive: the file itself, not an overlay, so what the guest writes stays.
// `locked`: QEMU's image locking (mmp: yes) makes a second VM opening it for writing fail, on
// this node and on shared file systems whose locks reach across nodes; otherwise (mmp: cluster,
// no) the VMs share it and the guest's file system must be made for that.
struct DriveSpec {
  std::string path;    // absolute
  std::string format;  // "raw" or "qcow2", from the file's header
  config::DiskCache cache = config::DiskCache::writeback;
  bool locked = true;
};

struct VmSpec {
  std::filesystem::path qemu_bin;  // absolute
  std::string name;                // "vm3"
  std::string machine_type = "pc";
  bool kvm = false;
  std::string cpu_model;           // resolved: the template's, else host (KVM) / max (TCG)
  std::uint32_t vcpus = 1;
  std::uint64_t memory_mib = 0;
  // The copy-on-write overlay; none when the template has no image.
  std::optional<std::filesystem::path> disk;
  // When set, `disk` is kDiskFdSet and these descriptors (read-write, read-only: QEMU opens the
  // file in either mode) are QEMU's fd set 1: the overlay is already unlinked (OpenDisk).
  std::optional<std::pair<int, int>> disk_fds;
  config::DiskModel disk_model = config::DiskModel::virtio;
  config::DiskCache disk_cache = config::DiskCache::unsafe;
  std::filesystem::path seed_iso;
  // Socket and log paths as QEMU should see them (see socket_path_for_qemu()).
  std::string qmp_socket;
  std::string console_socket;
  std::string console_log;
  std::string agent_socket;
  std::vector<NicSpec> nics;  // eth0 first
  // Host PCI functions on vfio-pci ("DDDD:BB:SS.F"), after the NICs: an InfiniBand VF, a GPU.
  std::vector<std::string> pci_devices;
  std::vector<MountSpec> mounts;
  std::vector<DriveSpec> drives;  // after the seed: /dev/vdc, ... (serial persistent0, ...)
  std::optional<std::string> kernel;
  std::vector<std::string> custom_args;  // appended last, already expanded
  // A restored VM (vm alloc -r): QEMU reads its checkpointed memory and device state from this
  // inherited descriptor and resumes the guest instead of booting it.
  std::optional<int> incoming_fd;
};

// The default -cpu when the template sets no cpu-model.
std::string default_cpu_model(bool kvm);

// The QEMU device for a template nic-model: pcocc's "virtio-net" is virtio-net-pci.
std::string nic_device(std::string_view model);

// `value` for a QEMU option string (key=value,...): commas doubled, as QEMU's parser expects.
std::string qemu_opt_escape(std::string_view value);

// A unix socket path QEMU can bind: the absolute path when it fits in sun_path (108 bytes),
// else the bare file name, QEMU running with the VM directory as its working directory.
std::string socket_path_for_qemu(const std::filesystem::path& socket);

std::vector<std::string> build_qemu_argv(const VmSpec& spec);

}  // namespace slurmvm::launch
