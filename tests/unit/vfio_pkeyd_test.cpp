// vm-pkeyd's pass (pkeyd.hpp) on files in a temporary directory: OpenSM's partitions file from
// the template and the store, rewritten (and OpenSM told) only when its content changes, a
// failing network not stopping the others; squeue's output; the daemon's --once on a real
// configuration directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "error.hpp"
#include "file_read.hpp"
#include "subprocess.hpp"
#include "vfio/ib_guid.hpp"
#include "vfio/pkeyd.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace slurmvm;
using namespace slurmvm::vfio;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

namespace {

class RecordingNotifier final : public OpensmNotifier {
 public:
  void reread(const std::string& opensm) override {
    if (opensm == "broken") throw Error("no such opensm");
    calls.push_back(opensm);
  }
  std::vector<std::string> calls;
};

class PkeydTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(dir_ / "ib.tpl") << "Default=0x7fff, ipoib : ALL=full ;\n";
    targets_ = {{"ib", dir_ / "ib.conf", dir_ / "ib.tpl", "opensm.service"}};
  }

  slurmvm::test::TempDir tmp_{"svm-pkeyd"};
  fs::path dir_ = tmp_.path();
  std::vector<PartitionTarget> targets_;
  RecordingNotifier notifier_;
};

PkeyAllocation job(std::uint32_t id, std::uint16_t pkey) {
  return {"ib", pkey, id, {{"node1", {{0x0002c90300a1b2c3}, {vf_port_guid(pkey, 0)}}}}};
}

}  // namespace

TEST_F(PkeydTest, WritesOnlyWhatChangedAndTellsOpensmEachTime) {
  auto r = sync_partitions(targets_, {job(42, 0x2001)}, notifier_);
  EXPECT_THAT(r.rewritten, ElementsAre("ib"));
  EXPECT_THAT(notifier_.calls, ElementsAre("opensm.service"));
  const std::string first = read_file(dir_ / "ib.conf");
  EXPECT_THAT(first, HasSubstr("slurm_vm_job_42=0x2001, ipoib, indx0 : 0xc2cc200100000000=full ;"));
  EXPECT_EQ(fs::status(dir_ / "ib.conf").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);

  // The same jobs: no write, no reload (OpenSM re-sweeps the fabric on every reload).
  const auto inode = fs::last_write_time(dir_ / "ib.conf");
  r = sync_partitions(targets_, {job(42, 0x2001)}, notifier_);
  EXPECT_TRUE(r.rewritten.empty());
  EXPECT_EQ(notifier_.calls.size(), 1u);
  EXPECT_EQ(fs::last_write_time(dir_ / "ib.conf"), inode);

  // The job ended: its partition goes.
  r = sync_partitions(targets_, {}, notifier_);
  EXPECT_THAT(r.rewritten, ElementsAre("ib"));
  EXPECT_THAT(read_file(dir_ / "ib.conf"), ::testing::Not(HasSubstr("slurm_vm_job_42")));
  EXPECT_EQ(notifier_.calls.size(), 2u);
}

TEST_F(PkeydTest, OneNetworksFailureDoesNotStopTheOthers) {
  targets_.insert(targets_.begin(), {"ib0", dir_ / "ib0.conf", dir_ / "missing.tpl", "opensm0.service"});
  targets_.push_back({"ib2", dir_ / "ib2.conf", dir_ / "ib.tpl", "broken"});
  const auto r = sync_partitions(targets_, {job(42, 0x2001)}, notifier_);
  EXPECT_THAT(r.rewritten, ElementsAre("ib", "ib2"));
  ASSERT_EQ(r.failed.size(), 2u);
  EXPECT_THAT(r.failed[0], HasSubstr("ib0: cannot open"));
  EXPECT_THAT(r.failed[1], HasSubstr("ib2: no such opensm"));
}

TEST(PkeydSqueue, JobIdsOfEveryKind) {
  EXPECT_EQ(parse_squeue_ids("1234\n1240\n1236 \n\n"), (std::set<std::uint32_t>{1234, 1236, 1240}));
  // %i's spellings of array tasks and het components: not ids (an array task 1240 printed as
  // 1235_7 would look ended and lose its pkey), so nothing is pruned.
  EXPECT_EQ(parse_squeue_ids("1235_7\n"), std::nullopt);
  EXPECT_EQ(parse_squeue_ids("1236+1\n"), std::nullopt);
  EXPECT_EQ(parse_squeue_ids(""), std::set<std::uint32_t>{});
  EXPECT_EQ(parse_squeue_ids("JOBID\n"), std::nullopt);
  EXPECT_EQ(parse_squeue_ids("12x\n"), std::nullopt);
}

// The daemon itself, once, on a configuration with one infiniband network and a file store
// holding one job: the partitions file appears; --no-prune (no Slurm here). OpenSM is named by
// a pid file that holds no opensm, so the pass reports that network failed (exit 1): a stale pid
// file is never signalled.
TEST_F(PkeydTest, DaemonOncePassOnARealConfiguration) {
  const fs::path etc = dir_ / "etc", store = dir_ / "store";
  fs::create_directories(etc);
  fs::create_directories(store / "pkeys/ib");
  std::ofstream(dir_ / "opensm.pid") << ::getpid() << "\n";  // alive, and not an opensm
  std::ofstream(etc / "networks.yaml") << "ib:\n  type: infiniband\n  settings:\n    host-device: mlx5_0\n"
                                          "    min-pkey: \"0x2000\"\n    max-pkey: \"0x2fff\"\n"
                                          "    opensm-daemon: "
                                       << (dir_ / "opensm.pid").string() << "\n    opensm-partition-cfg: "
                                       << (dir_ / "ib.conf").string() << "\n    opensm-partition-tpl: "
                                       << (dir_ / "ib.tpl").string() << "\n";
  std::ofstream(etc / "resources.yaml") << "default:\n  default: true\n  networks: []\n";
  std::ofstream(etc / "slurm-vm.yaml") << "store:\n  type: file\n  path: " << store.string() << "\n";
  std::ofstream(store / "pkeys/ib/0x2001.json") << to_text(job(42, 0x2001));
  Command c;
  c.argv = {SLURM_VM_PKEYD, "--once", "--no-prune"};
  c.env_set = {"SLURM_VM_SYSCONFDIR=" + etc.string()};
  c.timeout = std::chrono::seconds(20);
  const RunResult r = run(c);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("not opensm (a stale pid file?)"));
  EXPECT_THAT(read_file(dir_ / "ib.conf"), HasSubstr("slurm_vm_job_42=0x2001"));
}
