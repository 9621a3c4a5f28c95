// Checkpoint directories (src/common/checkpoint.hpp) and the checks a restored VM passes
// (src/launch/restore.hpp): the manifest round-trips and refuses what is not ours, a partial or
// damaged checkpoint is refused with a message that says so, and committing never leaves a
// replaced checkpoint half-gone nor deletes files that are not a checkpoint's.
#include <gtest/gtest.h>
#include <gmock/gmock.h>

#include <fstream>

#include "checkpoint.hpp"
#include "error.hpp"
#include "launch/restore.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using namespace slurmvm;
using testing::HasSubstr;

namespace {

void write(const fs::path& p, const std::string& content) { std::ofstream(p) << content; }

Checkpoint sample(const fs::path& dir) {
  write(dir / "disk-vm0.qcow2", "disk zero");
  write(dir / "memory-vm0", "memory zero");
  write(dir / "memory-vm1", "memory one");
  Checkpoint c;
  c.job_id = 42;
  c.created = "2026-12-03T17:00:00Z";
  c.network_id = 43;
  c.resolved = {{"definition", "tiny:2"}, {"templates", nlohmann::json::array()}};
  c.definition = "tiny:2";
  CheckpointVm vm0{.rank = 0, .vcpus = 2, .memory_mib = 512, .accel = "tcg", .mac = "52:54:00:02:b0:00",
                   .host_key_pub = "ssh-ed25519 AAAA vm0", .image = {{"file", "/img"}},
                   .disk = describe_checkpoint_file(dir, "disk-vm0.qcow2"),
                   .memory = describe_checkpoint_file(dir, "memory-vm0")};
  CheckpointVm vm1{.rank = 1, .vcpus = 2, .memory_mib = 512, .accel = "tcg", .mac = "", .host_key_pub = "k",
                   .image = nullptr, .disk = std::nullopt, .memory = describe_checkpoint_file(dir, "memory-vm1")};
  c.vms = {vm0, vm1};
  write(dir / kCheckpointManifest, to_json(c).dump(2));
  return c;
}

ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  return ErrorKind::internal;
}

TEST(Checkpoint, ManifestRoundTrips) {
  test::TempDir t;
  const Checkpoint c = sample(t.path());
  const Checkpoint back = read_checkpoint(t.path());
  EXPECT_EQ(to_json(back), to_json(c));
  EXPECT_EQ(back.definition, "tiny:2");
  ASSERT_TRUE(back.vms[0].disk);
  EXPECT_EQ(back.vms[0].disk->size, 9u);
  EXPECT_EQ(back.vms[0].disk->sha256.size(), 64u);
  EXPECT_FALSE(back.vms[1].disk);
  EXPECT_EQ(checkpoint_disk_name(3), "disk-vm3.qcow2");
  EXPECT_EQ(checkpoint_memory_name(3), "memory-vm3");
}

TEST(Checkpoint, ManifestNamingAnotherPathIsRefused) {
  test::TempDir t;
  nlohmann::json j = to_json(sample(t.path()));
  j["vms"][0]["memory"]["name"] = "../../etc/shadow";
  try {
    parse_checkpoint(j.dump(), "m.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    EXPECT_THAT(e.what(), HasSubstr("m.json: not a slurm-vm checkpoint description"));
    EXPECT_THAT(e.what(), HasSubstr("../../etc/shadow"));
  }
  j = to_json(sample(t.path()));
  j["format"] = 2;
  EXPECT_THROW(parse_checkpoint(j.dump(), "m.json"), Error);
  j = to_json(sample(t.path()));
  j["vms"][1]["rank"] = 5;
  EXPECT_THROW(parse_checkpoint(j.dump(), "m.json"), Error);
  EXPECT_THROW(parse_checkpoint("{}", "m.json"), Error);
}

TEST(Checkpoint, PartialCheckpointIsRefused) {
  test::TempDir t;
  write(t.path() / "memory-vm0", "x");
  try {
    read_checkpoint(t.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::not_found);
    EXPECT_THAT(e.what(), HasSubstr("only part of one"));
  }
  EXPECT_EQ(kind_of([&] { read_checkpoint(t.path() / "nothing"); }), ErrorKind::not_found);
}

TEST(Checkpoint, DamagedFilesAreFound) {
  test::TempDir t;
  const Checkpoint c = sample(t.path());
  EXPECT_NO_THROW(verify_checkpoint_file(t.path(), c.vms[0].memory, true));
  write(t.path() / "memory-vm0", "memory zerO");  // same size, other content
  EXPECT_NO_THROW(verify_checkpoint_file(t.path(), c.vms[0].memory, false));
  try {
    verify_checkpoint_file(t.path(), c.vms[0].memory, true);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    EXPECT_THAT(e.what(), HasSubstr("is damaged: memory-vm0 has sha256"));
  }
  write(t.path() / "memory-vm0", "memory");  // truncated
  try {
    verify_checkpoint_file(t.path(), c.vms[0].memory, false);
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("memory-vm0 has 6 bytes where 11 were written"));
  }
  fs::remove(t.path() / "memory-vm0");
  EXPECT_EQ(kind_of([&] { verify_checkpoint_file(t.path(), c.vms[0].memory, false); }), ErrorKind::config);
}

TEST(Checkpoint, CommitMovesIntoPlaceAndReplacesOnlyWithForce) {
  test::TempDir t;
  const fs::path dir = t.path() / "ckpt";
  fs::path staging = checkpoint_staging_dir(dir);
  EXPECT_EQ(staging.parent_path(), t.path());
  EXPECT_THAT(staging.filename().string(), HasSubstr(".ckpt.partial-"));
  fs::create_directory(staging);
  sample(staging);
  commit_checkpoint(staging, dir, false);
  EXPECT_FALSE(fs::exists(staging));
  EXPECT_EQ(read_checkpoint(dir).job_id, 42u);

  fs::create_directory(staging);
  Checkpoint second = sample(staging);
  second.job_id = 43;
  write(staging / kCheckpointManifest, to_json(second).dump());
  EXPECT_EQ(kind_of([&] { commit_checkpoint(staging, dir, false); }), ErrorKind::usage);
  EXPECT_EQ(read_checkpoint(dir).job_id, 42u);  // untouched
  commit_checkpoint(staging, dir, true);
  EXPECT_EQ(read_checkpoint(dir).job_id, 43u);
  EXPECT_FALSE(fs::exists(staging));
  for (const auto& e : fs::directory_iterator(t.path())) EXPECT_EQ(e.path(), dir);  // nothing left aside
}

TEST(Checkpoint, ForceNeverReplacesOtherFiles) {
  test::TempDir t;
  const fs::path dir = t.path() / "results";
  fs::create_directory(dir);
  write(dir / "thesis.tex", "years of work");
  EXPECT_EQ(kind_of([&] { check_replaceable(dir); }), ErrorKind::usage);
  const fs::path staging = checkpoint_staging_dir(dir);
  fs::create_directory(staging);
  sample(staging);
  EXPECT_EQ(kind_of([&] { commit_checkpoint(staging, dir, true); }), ErrorKind::usage);
  EXPECT_TRUE(fs::exists(dir / "thesis.tex"));
  write(t.path() / "file", "x");
  EXPECT_EQ(kind_of([&] { check_replaceable(t.path() / "file"); }), ErrorKind::usage);
  fs::remove(dir / "thesis.tex");
  EXPECT_NO_THROW(check_replaceable(dir));  // empty
}

TEST(Restore, TheJobMustGiveTheVmWhatItHad) {
  const CheckpointVm vm{.rank = 1, .vcpus = 2, .memory_mib = 512, .accel = "tcg", .mac = "", .host_key_pub = "",
                        .image = nullptr, .disk = std::nullopt, .memory = {}};
  EXPECT_EQ(launch::check_restore_fits(vm, 7, 2, false, 600, 7), 512u);  // the checkpoint's size, not the room
  const auto message = [&](std::uint32_t vcpus, bool kvm, std::uint64_t room, std::uint32_t net) {
    try {
      launch::check_restore_fits(vm, 7, vcpus, kvm, room, net);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::config);
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_THAT(message(4, false, 600, 7), HasSubstr("vm1 was checkpointed with 2 vCPUs and gets 4"));
  EXPECT_THAT(message(2, true, 600, 7), HasSubstr("checkpointed under tcg and this node runs kvm"));
  EXPECT_THAT(message(2, false, 500, 7), HasSubstr("512 MiB of memory and this job has room for 500 MiB"));
  EXPECT_THAT(message(2, false, 600, 8), HasSubstr("addresses of network 7 and this job's network is 8"));
  EXPECT_EQ(launch::check_restore_fits(vm, 0, 2, false, 600, 0), 512u);  // no network then, none now
}

}  // namespace
