// The VM's disk through QMP (qemu_disk.hpp).
#include "qemu_disk.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include "error.hpp"
#include "vm_record.hpp"

namespace slurmvm::cli {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string disk_device(QmpClient& qmp, const fs::path& disk) {
  for (const auto& b : qmp.execute("query-block")) {
    const auto ins = b.find("inserted");
    const std::string file = ins != b.end() ? ins->value("file", "") : "";
    if (!file.empty() && (file == kDiskFdSet || file == disk.string())) return b.value("device", "");
  }
  throw Error(fmt::format("QEMU has no drive on {}", disk.string()), ErrorKind::system);
}

std::string start_disk_copy(QmpClient& qmp, const DiskCopy& copy) {
  const std::string job = fmt::format("vm-copy-{}", ::getpid());
  qmp.execute("drive-backup", {{"job-id", job},
                               {"device", copy.device},
                               {"target", copy.target.string()},
                               {"format", "qcow2"},
                               {"sync", copy.full ? "full" : "top"},
                               {"mode", "absolute-paths"}});
  return job;
}

void wait_disk_copy(QmpClient& qmp, const DiskCopy& copy, const std::string& job, std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left <= 0ms) {
      try {
        qmp.execute("block-job-cancel", {{"device", job}});
      } catch (const Error&) {
      }
      throw Error(fmt::format("{}: the copy of its disk did not finish within {} s (--timeout)", copy.vm,
                              timeout.count()),
                  ErrorKind::timeout);
    }
    const auto e = qmp.next_event(left);
    if (!e) continue;
    const auto type = e->value("event", "");
    const auto& data = e->value("data", nlohmann::json::object());
    if (data.value("device", "") != job) continue;
    if (type == "BLOCK_JOB_COMPLETED") {
      if (data.contains("error")) {
        throw Error(fmt::format("{}: QEMU could not copy its disk: {}", copy.vm, data.at("error").get<std::string>()),
                    ErrorKind::system);
      }
      return;
    }
    if (type == "BLOCK_JOB_CANCELLED") throw Error(fmt::format("{}: the disk copy was cancelled", copy.vm), ErrorKind::system);
  }
}

}  // namespace slurmvm::cli
