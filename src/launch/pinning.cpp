// vCPU pinning (pinning.hpp).
#include "launch/pinning.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "error.hpp"
#include "log.hpp"
#include "qmp.hpp"
#include "unique_fd.hpp"

namespace slurmvm::launch {
namespace {

using Clock = std::chrono::steady_clock;

// A cpu_set_t big enough for any CPU number this machine has.
struct CpuSet {
  explicit CpuSet(int max_cpu) : count(std::max(max_cpu + 1, CPU_SETSIZE)), set(CPU_ALLOC(count)), size(CPU_ALLOC_SIZE(count)) {
    if (set == nullptr) throw Error("CPU_ALLOC failed", ErrorKind::internal);
    CPU_ZERO_S(size, set);
  }
  ~CpuSet() { CPU_FREE(set); }
  CpuSet(const CpuSet&) = delete;
  CpuSet& operator=(const CpuSet&) = delete;
  int count;
  cpu_set_t* set;
  std::size_t size;
};

// True once QEMU (this process after exec) is gone.
bool qemu_gone(int pidfd, pid_t pid) {
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    return ::poll(&p, 1, 0) > 0;
  }
  return ::kill(pid, 0) != 0 && errno == ESRCH;
}

// QEMU keeps "inmigrate" while it reads the checkpoint, then takes the run state saved with it
// (paused: vm ckpt stopped the VM first; QEMU's global state, store-global-state=on): resume it.
void resume_after_incoming(QmpClient& qmp, const PinningJob& job, int pidfd, pid_t qemu_pid) {
  const auto deadline = Clock::now() + job.incoming_deadline;
  for (;;) {
    if (qemu_gone(pidfd, qemu_pid)) return;  // the stream was refused: QEMU said why
    const std::string status = qmp.execute("query-status").value("status", "");
    if (status == "paused") {
      qmp.execute("cont");
      log_info("restored: the guest runs again");
      return;
    }
    if (status != "inmigrate") return;  // running already
    if (Clock::now() > deadline) {
      throw Error(fmt::format("QEMU did not read the checkpoint within {} s",
                              std::chrono::duration_cast<std::chrono::seconds>(job.incoming_deadline).count()),
                  ErrorKind::timeout);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// The pinner's whole life; returns the process exit status.
int run_pinner(const PinningJob& job, int pidfd, pid_t qemu_pid) {
  const auto deadline = Clock::now() + job.deadline;
  try {
    auto left = [&] {
      return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()),
                      std::chrono::milliseconds(1000));
    };
    std::optional<QmpClient> qmp;
    auto pause = std::chrono::milliseconds(20);
    while (!qmp) {
      if (qemu_gone(pidfd, qemu_pid)) return 0;  // QEMU failed to start and said why itself
      try {
        qmp = QmpClient::connect(job.qmp_socket, {.timeout = left(), .wait_for_socket = false});
      } catch (const Error& e) {
        const bool not_ready = e.errnum() == ENOENT || e.errnum() == ECONNREFUSED;
        if (!not_ready) throw;
        if (Clock::now() + pause >= deadline) {
          throw Error(fmt::format("QEMU's QMP socket {} did not answer within {} s",
                                  job.qmp_socket.string(),
                                  std::chrono::duration_cast<std::chrono::seconds>(job.deadline).count()),
                      ErrorKind::timeout);
        }
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(200));
      }
    }
    if (job.bind_vcpus) {
      try {
        const auto cpus = qmp->execute("query-cpus-fast", nullptr, left());
        for (const std::string& w : apply_pinning(cpus, job.plan)) log_warning("{}", w);
        if (!job.plan.note.empty()) log_info("{}", job.plan.note);
      } catch (const Error& e) {
        log_warning("vCPUs not pinned: {}", e.what());
      }
    }
    qmp->execute("cont", nullptr, left());
    if (job.incoming) resume_after_incoming(*qmp, job, pidfd, qemu_pid);
    return 0;
  } catch (const Error& e) {
    if (qemu_gone(pidfd, qemu_pid)) return 0;
    log_error("the VM could not be started: {}; stopping QEMU", e.what());
    if (pidfd >= 0) {
      ::syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, nullptr, 0);
    } else {
      ::kill(qemu_pid, SIGTERM);
    }
    return 1;
  } catch (const std::exception& e) {
    log_error("vCPU pinning helper: internal error: {}", e.what());
    return 1;
  }
}

}  // namespace

std::vector<int> current_affinity() {
  // The set must be at least as large as the kernel's CPU mask (EINVAL otherwise): start from
  // the configured CPUs and grow.
  int size = static_cast<int>(std::max(::sysconf(_SC_NPROCESSORS_CONF), 1L)) * 2;
  for (;;) {
    CpuSet cpus(size);
    if (::sched_getaffinity(0, cpus.size, cpus.set) == 0) {
      std::vector<int> out;
      for (int c = 0; c < cpus.count; ++c) {
        if (CPU_ISSET_S(c, cpus.size, cpus.set)) out.push_back(c);
      }
      return out;
    }
    if (errno != EINVAL || size > (1 << 20)) throw Error::from_errno("sched_getaffinity", errno);
    size *= 2;
  }
}

PinPlan plan_vcpu_pinning(const std::vector<int>& mask, std::uint32_t vcpus, std::uint32_t local_id,
                          std::uint32_t emulator_cores) {
  PinPlan plan;
  if (mask.empty() || vcpus == 0) return plan;
  const std::size_t m = mask.size();
  const std::size_t used = static_cast<std::size_t>(vcpus) + emulator_cores;
  std::size_t offset = 0;
  if (m > used) {
    offset = (static_cast<std::size_t>(local_id) * used) % m;
    plan.note = fmt::format("the task may run on {} CPUs ({}) for {} vCPUs{}: pinned from the mask's CPU #{} on "
                            "(task {} on this node)",
                            m, fmt::join(mask, ","), vcpus,
                            emulator_cores > 0 ? fmt::format(" and {} emulator cores", emulator_cores) : "",
                            offset, local_id);
  } else if (m < used) {
    plan.note = fmt::format("{} vCPUs{} on {} CPUs ({}): vCPUs share CPUs", vcpus,
                            emulator_cores > 0 ? fmt::format(" and {} emulator cores (not applied)", emulator_cores) : "",
                            m, fmt::join(mask, ","));
    emulator_cores = 0;
  }
  for (std::uint32_t i = 0; i < vcpus; ++i) plan.cpus_of_vcpu.push_back({mask[(offset + i) % m]});
  for (std::uint32_t i = 0; i < emulator_cores; ++i) plan.emulator_cpus.push_back(mask[(offset + vcpus + i) % m]);
  std::sort(plan.emulator_cpus.begin(), plan.emulator_cpus.end());
  return plan;
}

int set_process_affinity(const std::vector<int>& cpus) { return set_thread_affinity(0, cpus); }

int set_thread_affinity(int thread_id, const std::vector<int>& cpus) {
  const int max_cpu = cpus.empty() ? 0 : *std::max_element(cpus.begin(), cpus.end());
  CpuSet set(max_cpu);
  for (const int c : cpus) CPU_SET_S(c, set.size, set.set);
  return ::sched_setaffinity(thread_id, set.size, set.set) == 0 ? 0 : errno;
}

std::vector<std::string> apply_pinning(const nlohmann::json& cpus_fast, const PinPlan& plan,
                                       const SetAffinity& set) {
  std::vector<std::string> warnings;
  if (!cpus_fast.is_array()) return {"query-cpus-fast did not return a list: vCPUs not pinned"};
  std::map<int, std::vector<int>> by_thread;
  std::map<int, std::vector<int>> vcpus_of_thread;
  for (const auto& cpu : cpus_fast) {
    const auto index = cpu.value("cpu-index", -1);
    const auto thread = cpu.value("thread-id", -1);
    if (index < 0 || thread <= 0) {
      warnings.push_back(fmt::format("query-cpus-fast entry without cpu-index/thread-id: {}", cpu.dump()));
      continue;
    }
    if (static_cast<std::size_t>(index) >= plan.cpus_of_vcpu.size()) {
      warnings.push_back(fmt::format("vCPU {} has no CPU in the plan: left unpinned", index));
      continue;
    }
    auto& cpus = by_thread[thread];
    for (const int c : plan.cpus_of_vcpu[static_cast<std::size_t>(index)]) {
      if (std::find(cpus.begin(), cpus.end(), c) == cpus.end()) cpus.push_back(c);
    }
    vcpus_of_thread[thread].push_back(index);
  }
  for (auto& [thread, cpus] : by_thread) {
    std::sort(cpus.begin(), cpus.end());
    if (const int err = set(thread, cpus); err != 0) {
      warnings.push_back(fmt::format("cannot pin vCPU {} (thread {}) to CPU {}: {}",
                                     fmt::join(vcpus_of_thread[thread], ","), thread,
                                     fmt::join(cpus, ","), std::strerror(err)));
    } else {
      log_debug("vCPU {} (thread {}) pinned to CPU {}", fmt::join(vcpus_of_thread[thread], ","),
                thread, fmt::join(cpus, ","));
    }
  }
  return warnings;
}

void start_pinning_helper(const PinningJob& job) {
  const pid_t qemu_pid = ::getpid();
  // A pidfd of this process, which will be QEMU: readable once QEMU exits. CLOEXEC, so QEMU
  // itself does not inherit it.
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, qemu_pid, 0)));
  std::fflush(nullptr);
  const pid_t helper = ::fork();
  if (helper < 0) throw Error::from_errno("fork (vCPU pinning helper)", errno);
  if (helper == 0) {
    const pid_t pinner = ::fork();
    if (pinner != 0) ::_exit(pinner < 0 ? 1 : 0);
    // The pinner: nothing of the task's stdin/stdout kept open (srun waits for them to close).
    const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
      ::dup2(null, STDIN_FILENO);
      ::dup2(null, STDOUT_FILENO);
      ::close(null);
    }
    // Nor the task's other files (the VM's disk overlay, unlinked, lives as long as a holder).
    const unsigned keep = static_cast<unsigned>(pidfd.get());
    if (keep > 3) ::close_range(3, keep - 1, 0);
    ::close_range(keep + 1, ~0U, 0);
    ::_exit(run_pinner(job, pidfd.get(), qemu_pid));
  }
  int status = 0;
  while (::waitpid(helper, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw Error("cannot start the vCPU pinning helper (fork failed)", ErrorKind::system);
  }
}

}  // namespace slurmvm::launch
