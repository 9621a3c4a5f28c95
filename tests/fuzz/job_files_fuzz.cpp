// The files that cross process boundaries, read back by another program (and some of them
// written where the job's user can reach): vms.json, vm.json, cluster.json, checkpoint.json,
// the node's job record, the ledger, and an image repository's revision metadata (a shared
// repository's files are written by other users). The first byte picks the reader.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "checkpoint.hpp"
#include "image_repo_detail.hpp"
#include "fuzz_input.hpp"
#include "netsetup/job_state.hpp"
#include "netsetup/ledger.hpp"
#include "resolved_cluster.hpp"
#include "vm_record.hpp"
#include "vms_file.hpp"

namespace {
// The metadata file parse_meta reads, in the runner's scratch directory (fuzz_input.hpp).
const std::filesystem::path& meta_file() {
  static const std::filesystem::path file = [] {
    std::string templ = slurmvm::fuzz::scratch_dir() + "/svm-fuzz-meta-XXXXXX";
    const int fd = ::mkstemp(templ.data());
    if (fd < 0) std::abort();
    ::close(fd);
    return std::filesystem::path(templ);
  }();
  return file;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto text = slurmvm::fuzz::as_text(data + 1, size - 1);
  using slurmvm::fuzz::expect_parsed_or_refused;
  switch (data[0] % 8) {
    case 0: expect_parsed_or_refused([&] { (void)slurmvm::parse_vms_file(text, "vms.json"); }); break;
    case 1: expect_parsed_or_refused([&] { (void)slurmvm::parse_vm_record(text, "vm.json"); }); break;
    case 2: expect_parsed_or_refused([&] { (void)slurmvm::parse_launch_failure(text, "vm.json"); }); break;
    case 3: expect_parsed_or_refused([&] { (void)slurmvm::parse_resolved_cluster(text, "cluster.json"); }); break;
    case 4: expect_parsed_or_refused([&] { (void)slurmvm::parse_checkpoint(text, "checkpoint.json"); }); break;
    case 5: expect_parsed_or_refused([&] { (void)slurmvm::netsetup::parse_job_state(text, "state.json"); }); break;
    case 6: expect_parsed_or_refused([&] { (void)slurmvm::netsetup::parse_ledger(text); }); break;
    default: {
      std::ofstream(meta_file(), std::ios::binary | std::ios::trunc).write(text.data(), static_cast<std::streamsize>(text.size()));
      expect_parsed_or_refused([&] { (void)slurmvm::image_repo_detail::parse_meta(meta_file()); });
      break;
    }
  }
  return 0;
}
