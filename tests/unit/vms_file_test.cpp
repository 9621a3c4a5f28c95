// vms.json is one type (vms_file.hpp): what vm-prolog writes is what vm-launch reads. The
// prolog's golden files go through the reader and back unchanged, and through vm-launch's view
// of one VM.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "error.hpp"
#include "launch/network_map.hpp"
#include "vms_file.hpp"

using namespace slurmvm;

namespace {

std::string golden(const std::string& relative) {
  std::ifstream in(std::filesystem::path(SLURM_VM_TEST_DATA) / "golden" / relative);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST(VmsFile, PrologGoldenFilesRoundTrip) {
  for (const char* file :
       {"job-4242-nodeA/vms.json", "job-4243-nodeA-networks/vms.json", "job-4244-nodeA-devices/vms.json"}) {
    const std::string text = golden(file);
    ASSERT_FALSE(text.empty()) << file;
    const VmsFile parsed = parse_vms_file(text, file);
    EXPECT_EQ(to_json(parsed).dump(2) + "\n", text) << file;
  }
}

TEST(VmsFile, PrologGoldenThroughTheLauncher) {
  const std::string text = golden("job-4243-nodeA-networks/vms.json");
  const auto vm1 = launch::parse_network_map(text, 1, "vms.json");
  ASSERT_TRUE(vm1);
  ASSERT_EQ(vm1->nics.size(), 3u);  // nat-rssh, private, the bridged LAN
  EXPECT_EQ(vm1->nics[0].kind, NicKind::l3);
  EXPECT_EQ(vm1->nics[1].kind, NicKind::l2);
  EXPECT_EQ(vm1->nics[2].kind, NicKind::bridged);
  EXPECT_EQ(vm1->tap, vm1->nics[0].tap);
  EXPECT_EQ(vm1->ip, vm1->nics[0].ip);
  EXPECT_EQ(vm1->ssh_port, 60226);
  EXPECT_EQ(vm1->hosts.size(), 3u);
  EXPECT_FALSE(launch::parse_network_map(text, 2, "vms.json"));  // vm2 runs on nodeB
}

TEST(VmsFile, PassthroughDevicesReachTheLauncher) {
  const auto vm0 = launch::parse_network_map(golden("job-4244-nodeA-devices/vms.json"), 0, "vms.json");
  ASSERT_TRUE(vm0);
  ASSERT_EQ(vm0->pci.size(), 3u);
  EXPECT_EQ(vm0->pci[0].bdf, "0000:3b:00.1");
  EXPECT_EQ(vm0->pci[0].network, "ib");
}

// A device address goes into QEMU's option string: a full, canonical PCI address only.
TEST(VmsFile, RefusesWhatIsNotAPciFunction) {
  for (const char* host : {"0000:3b:00", "0000:3b:00.2,x=y", "3b:00.2", "0000:3B:00.2", "../x", ""}) {
    const std::string text = std::string(R"({"vms": {"0": {"nics": [], "pci": [{"network": "ib", "host": ")") + host +
                             R"("}]}}})";
    EXPECT_THROW(parse_vms_file(text, "x"), Error) << host;
  }
  EXPECT_NO_THROW(parse_vms_file(R"({"vms": {"0": {"nics": [], "pci": [{"network": "ib", "host": "0000:3b:00.2"}]}}})",
                                 "x"));
}

TEST(VmsFile, RefusesWhatIsNotARank) {
  EXPECT_THROW(parse_vms_file(R"({"vms": {"01": {"nics": []}}})", "x"), Error);
  EXPECT_THROW(parse_vms_file(R"({"vms": {"x": {"nics": []}}})", "x"), Error);
  EXPECT_THROW(parse_vms_file(R"({"vms": {"0": {"nics": [], "ssh_port": 70000}}})", "x"), Error);
  EXPECT_NO_THROW(parse_vms_file(R"({"vms": {"0": {"nics": [], "ssh_port": null}}})", "x"));
}

// A number too large for any type is the file's fault, said as such, not an exception other
// than Error escaping (nlohmann throws out_of_range 406 for it, not parse_error; found by
// tests/fuzz/job_files_fuzz, corpus/job_files_fuzz/regression-vms-json-number-overflow).
TEST(VmsFile, ANumberTooLargeIsAnInvalidFile) {
  try {
    (void)parse_vms_file(R"({"network_id": 1e999999, "vms": {}})", "vms.json");
    ADD_FAILURE() << "parsed";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::config);
    EXPECT_NE(std::string(e.what()).find("vms.json: not valid JSON"), std::string::npos) << e.what();
  }
}
