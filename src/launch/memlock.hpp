// A VM with a device on vfio-pci has its whole RAM pinned by VFIO for the device's DMA, which the
// kernel counts against QEMU's RLIMIT_MEMLOCK (vfio_pin_pages_remote): a limit below the guest's
// RAM makes QEMU fail at start with "vfio_dma_map(...) = -12 (Cannot allocate memory)", which
// says nothing of limits. vm-launch checks first, raises its soft limit up to the hard one if
// that is enough (QEMU inherits it), and otherwise says what the site must set
// (docs/infiniband.md: LimitMEMLOCK=infinity for slurmd, PropagateResourceLimits).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace slurmvm::launch {

// What VFIO pins beyond the guest's RAM: ROMs, MSI-X tables and QEMU's own DMA-able buffers.
inline constexpr std::uint64_t kVfioMemlockSlackMiB = 64;

struct MemlockLimits {
  std::uint64_t soft = 0;  // bytes; RLIM_INFINITY as is
  std::uint64_t hard = 0;
};

struct MemlockVerdict {
  std::optional<std::uint64_t> raise_soft_to;  // set: raise the soft limit to this, then start
  std::optional<std::string> error;            // set: refuse, with this message
};

// Pure: what to do for a VM of `memory_mib` MiB with `devices` passthrough devices on node
// `node` under `limits`.
MemlockVerdict memlock_verdict(std::uint64_t memory_mib, std::size_t devices, MemlockLimits limits,
                               const std::string& node);

// Reads the process's limit, applies the verdict (setrlimit). Throws Error(config) with the
// verdict's message.
void ensure_memlock(std::uint64_t memory_mib, std::size_t devices, const std::string& node);

}  // namespace slurmvm::launch
