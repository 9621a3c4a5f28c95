// vm-pkeyd: on the subnet manager's host (root), keeps OpenSM's partitions files in step with
// the running jobs' partition keys (pkey_store.hpp), one file per `infiniband` network of the
// system configuration (networks.yaml: opensm-partition-cfg, opensm-partition-tpl,
// opensm-daemon). Every pass: drop the allocations of jobs Slurm no longer knows, rewrite each
// file whose content changes (atomically), tell OpenSM to re-read it. It keeps nothing in
// memory: after a restart of itself or of OpenSM, the next pass puts everything back.
//
//   vm-pkeyd [--once] [--interval SECONDS] [--prune-interval SECONDS] [--no-prune]
//
// SIGHUP reloads the configuration; SIGTERM and SIGINT stop it after the current pass.
// Exit codes: 0 stopped by a signal, or --once and every network synced; 1 --once and some
// network failed (logged); 2 usage; 3 the configuration does not load (or its store cannot be used).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "config/config.hpp"
#include "config/identity.hpp"
#include "deadline.hpp"
#include "error.hpp"
#include "log.hpp"
#include "main_guard.hpp"
#include "node_layout.hpp"
#include "vfio/pkeyd.hpp"
#include "vfio/etcd_pkey_store.hpp"
#include "vfio/pkey_store.hpp"
#include "vfio/pkey_store_open.hpp"

using namespace slurmvm;
using namespace slurmvm::vfio;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitConfig = 3;

std::atomic<int> g_signal{0};
void remember(int sig) { g_signal = sig; }

constexpr const char* kUsage =
    "usage: vm-pkeyd [--once] [--interval SECONDS] [--prune-interval SECONDS] [--no-prune]\n"
    "Writes OpenSM's partitions file of each infiniband network from the running jobs' partition\n"
    "keys and makes OpenSM re-read it (root, on the subnet manager's host; SLURM_VM_SYSCONFDIR\n"
    "as for vm-prolog). --once: one pass; --interval: seconds between passes (default 2);\n"
    "--prune-interval: seconds between asking squeue which jobs ended without an epilog\n"
    "(default 60); --no-prune: never ask, keep the keys of such jobs (no Slurm client here).\n"
    "Exit: 0 ok, 1 a network failed (--once), 2 usage, 3 configuration.\n";

struct Options {
  bool once = false;
  bool prune = true;
  std::chrono::milliseconds interval{2000};
  std::chrono::milliseconds prune_interval{60000};
};

struct Setup {
  std::vector<PartitionTarget> targets;
  std::unique_ptr<PkeyStore> store;
};

// An etcd store's leases are renewed this often (their TTL is an hour): a job Slurm still
// shows keeps its pkey; one pruned, or whose nodes all crashed while vm-pkeyd was down for
// longer than the TTL, gives it back.
constexpr std::chrono::seconds kRenewInterval{60};

Setup load_setup() {
  const auto dir = absolute_path_override(config::process_env, "SLURM_VM_SYSCONFDIR").value_or(kDefaultSysconfDir);
  const config::Config cfg = config::load_config(config::ConfigDirs{dir, std::nullopt});
  Setup s{partition_targets(cfg.networks), open_pkey_store(store_spec(cfg.site.store), std::chrono::seconds(30))};
  if (s.targets.empty()) log_warning("no infiniband network in {}/networks.yaml: nothing to write", dir.string());
  return s;
}

// squeue asks slurmctld, which a site does not want asked every 2 s by every subnet manager:
// jobs that ended without an epilog are pruned at most every --prune-interval (the common path,
// an epilog leaving, needs no squeue at all).
bool pass(Setup& s, const Options& o, OpensmNotifier& notifier, Deadline& next_prune, Deadline& next_renew) {
  if (o.prune && expired(next_prune) && !s.store->list().empty()) {
    next_prune = deadline_in(o.prune_interval);
    // The store first, then squeue: a job whose prolog joins while squeue answers is not in
    // this listing, so it cannot be taken for an ended one.
    const auto held = s.store->list();
    if (const auto running = slurm_jobs()) {
      for (const auto& a : held) {
        if (running->count(a.job) == 0 && s.store->forget(a.network, a.job) != 0) {
          log_warning("network {}: job {} is over but held pkey {:#06x} (an epilog that never ran): released",
                      a.network, a.job, a.pkey);
        }
      }
    }
  }
  if (auto* etcd = dynamic_cast<EtcdPkeyStore*>(s.store.get()); etcd != nullptr && expired(next_renew)) {
    next_renew = deadline_in(kRenewInterval);
    std::vector<std::uint32_t> jobs;
    for (const auto& a : s.store->list()) {
      if (std::find(jobs.begin(), jobs.end(), a.job) == jobs.end()) jobs.push_back(a.job);
    }
    for (const auto job : etcd->renew(jobs)) log_warning("job {}: its pkey lease had expired", job);
  }
  const auto result = sync_partitions(s.targets, s.store->list(), notifier);
  return result.failed.empty();
}

int run_main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--once") {
      o.once = true;
    } else if (a == "--no-prune") {
      o.prune = false;
    } else if ((a == "--interval" || a == "--prune-interval") && i + 1 < argc) {
      char* end = nullptr;
      const double secs = std::strtod(argv[++i], &end);
      if (end == argv[i] || *end != '\0' || !(secs >= 0.1 && secs <= 3600)) {
        std::cerr << "vm-pkeyd: " << a << " takes seconds between 0.1 and 3600\n" << kUsage;
        return kExitUsage;
      }
      (a == "--interval" ? o.interval : o.prune_interval) = std::chrono::milliseconds(static_cast<long>(secs * 1000));
    } else if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return kExitOk;
    } else {
      std::cerr << "vm-pkeyd: unknown argument " << a << "\n" << kUsage;
      return kExitUsage;
    }
  }
  Setup setup;
  try {
    setup = load_setup();
  } catch (const Error& e) {
    log_error("{}", e.what());
    return kExitConfig;
  }
  RealOpensmNotifier notifier;
  Deadline next_prune = SteadyClock::now();
  Deadline next_renew = SteadyClock::now();
  if (o.once) return pass(setup, o, notifier, next_prune, next_renew) ? kExitOk : kExitFailed;

  struct sigaction sa {};
  sa.sa_handler = remember;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  log_info("watching {} infiniband network(s) every {} ms", setup.targets.size(), o.interval.count());
  for (;;) {
    try {
      pass(setup, o, notifier, next_prune, next_renew);
    } catch (const std::exception& e) {
      log_error("{}", e.what());  // the store unreachable a moment: the next pass retries
    }
    for (auto slept = std::chrono::milliseconds(0); slept < o.interval && g_signal == 0;
         slept += std::chrono::milliseconds(100)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (g_signal == SIGHUP) {
      g_signal = 0;
      try {
        setup = load_setup();
        log_info("configuration reloaded: {} infiniband network(s)", setup.targets.size());
      } catch (const Error& e) {
        log_error("reload: {}; keeping the previous configuration", e.what());
      }
    } else if (g_signal != 0) {
      log_info("stopping on signal {}", g_signal.load());
      return kExitOk;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  slurmvm::set_log_sink(slurmvm::helper_sink("vm-pkeyd"));
  return slurmvm::guarded_main([&] { return run_main(argc, argv); }, kExitFailed);
}
