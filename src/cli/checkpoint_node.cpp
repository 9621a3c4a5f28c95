// `vm ckpt`'s phases on one node (checkpoint_node.hpp).
#include "checkpoint_node.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "error.hpp"
#include "log.hpp"
#include "qemu_disk.hpp"
#include "qmp.hpp"
#include "unique_fd.hpp"

namespace slurmvm::cli {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

// QEMU's migration is throttled to 32 MiB/s by default, a network's pace; to a file it need not be.
constexpr std::uint64_t kUnthrottled = std::uint64_t{1} << 40;
constexpr const char* kMemoryFdName = "slurm-vm-ckpt";

void sync_file(const fs::path& path) {
  const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd || ::fsync(fd.get()) != 0) throw Error::from_errno(fmt::format("cannot sync {}", path.string()), errno);
}

// The VM's memory and device state into `target`, through a descriptor this process opened (as
// the user, O_EXCL): QEMU writes no path of its own choosing. The VM stays paused.
void save_memory(QmpClient& qmp, const VmFile& vm, const fs::path& target, std::chrono::seconds timeout) {
  const UniqueFd fd(::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) throw Error::from_errno(fmt::format("cannot create {}", target.string()), errno);
  qmp.execute("migrate-set-parameters", {{"max-bandwidth", kUnthrottled}});
  qmp.execute_with_fd("getfd", {{"fdname", kMemoryFdName}}, fd.get());
  qmp.execute("migrate", {{"uri", fmt::format("fd:{}", kMemoryFdName)}});
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const json state = qmp.execute("query-migrate");
    const std::string status = state.value("status", "");
    if (status == "completed") break;
    if (status == "failed" || status == "cancelled") {
      throw Error(fmt::format("{}: QEMU could not save its memory: {}", vm.name,
                              state.value("error-desc", status)),
                  ErrorKind::system);
    }
    if (Clock::now() > deadline) {
      try {
        qmp.execute("migrate_cancel");
      } catch (const Error&) {
      }
      throw Error(fmt::format("{}: saving its memory did not finish within {} s (--timeout)", vm.name,
                              timeout.count()),
                  ErrorKind::timeout);
    }
    std::this_thread::sleep_for(50ms);
  }
  if (::fsync(fd.get()) != 0) throw Error::from_errno(fmt::format("cannot sync {}", target.string()), errno);
}

SavedVm save_vm(QmpClient& qmp, const VmFile& vm, const fs::path& staging, std::chrono::seconds timeout) {
  if (const auto status = qmp.execute("query-status").value("status", ""); status != "paused") {
    throw Error(fmt::format("{} is {}, not paused: the checkpoint would not be consistent", vm.name, status),
                ErrorKind::system);
  }
  SavedVm saved;
  saved.rank = vm.rank;
  // The disk first: once its memory is saved, QEMU hands the disk over to a (virtual)
  // destination and no longer writes it.
  if (!vm.image.is_null()) {
    const std::string name = checkpoint_disk_name(vm.rank);
    const DiskCopy copy{.vm = vm.name, .device = disk_device(qmp, vm.disk), .target = staging / name, .full = false};
    wait_disk_copy(qmp, copy, start_disk_copy(qmp, copy), timeout);
    // A VM restored from a checkpoint: the copy sits on that checkpoint's layer.
    if (const auto old = vm.image.find("checkpoint_layer"); old != vm.image.end()) {
      rebase_off_checkpoint(copy.target, old->get<std::string>());
    }
    sync_file(copy.target);
    saved.disk = describe_checkpoint_file(staging, name);
  }
  const std::string memory = checkpoint_memory_name(vm.rank);
  save_memory(qmp, vm, staging / memory, timeout);
  saved.memory = describe_checkpoint_file(staging, memory);
  return saved;
}

}  // namespace

CheckpointPhase parse_checkpoint_phase(const std::string& text) {
  for (const auto p : {CheckpointPhase::stop, CheckpointPhase::save, CheckpointPhase::cont, CheckpointPhase::quit}) {
    if (text == phase_name(p)) return p;
  }
  throw Error(fmt::format("--phase: \"{}\" is not stop, save, cont or quit", text), ErrorKind::usage);
}

const char* phase_name(CheckpointPhase phase) {
  switch (phase) {
    case CheckpointPhase::stop: return "stop";
    case CheckpointPhase::save: return "save";
    case CheckpointPhase::cont: return "cont";
    case CheckpointPhase::quit: return "quit";
  }
  return "?";
}

json to_json(const SavedVm& s) {
  return {{"rank", s.rank}, {"disk", s.disk ? to_json(*s.disk) : json(nullptr)}, {"memory", to_json(s.memory)}};
}

SavedVm parse_saved_vm(const json& j) {
  SavedVm s;
  s.rank = j.at("rank").get<std::uint32_t>();
  if (!j.at("disk").is_null()) s.disk = parse_checkpoint_file(j.at("disk"), checkpoint_disk_name(s.rank));
  s.memory = parse_checkpoint_file(j.at("memory"), checkpoint_memory_name(s.rank));
  return s;
}

int run_checkpoint_phase(CheckpointPhase phase, const JobDir& dir, const std::string& node, const fs::path& staging,
                         std::chrono::seconds timeout) {
  const ClusterFile cluster = dir.read_cluster();
  int rc = 0;
  for (std::uint32_t rank = 0; rank < cluster.node_of_vm.size(); ++rank) {
    if (cluster.nodes.at(cluster.node_of_vm.at(rank)) != node) continue;
    try {
      const VmFile vm = require_vm(dir, rank);
      auto qmp = with_context(fmt::format("on {}", node), [&] { return QmpClient::connect(vm.qmp, {.timeout = 10s}); });
      switch (phase) {
        case CheckpointPhase::stop:
          qmp.execute("stop");
          break;
        case CheckpointPhase::save:
          std::cout << to_json(save_vm(qmp, vm, staging, timeout)).dump() << std::endl;
          break;
        case CheckpointPhase::cont:
          qmp.execute("cont");
          break;
        case CheckpointPhase::quit:
          qmp.execute("quit");
          break;
      }
      log_info("{} on {}: {} done", vm.name, node, phase_name(phase));
    } catch (const Error& e) {
      std::cerr << fmt::format("vm: error: vm{} on {}: {}\n", rank, node, e.what());
      rc = exit_code_for(e.kind());
    }
  }
  return rc;
}

}  // namespace slurmvm::cli
