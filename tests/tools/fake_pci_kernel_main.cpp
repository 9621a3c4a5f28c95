// fake-pci-kernel: the fake PCI kernel (fake_pci_kernel.hpp) as a process, for tests that run
// the real helpers in a sandbox node whose /sys and /dev parts are this tree.
//
//   fake-pci-kernel --sysfs DIR --dev DIR [--hca IBDEV,PF,VFS,FIRST_GROUP]...
//                   [--function BDF,VENDOR,DEVICE,DRIVER,GROUP]... [--driver NAME]...
//
// Builds the tree, prints "ready" on stdout, reacts to writes until SIGTERM or SIGINT.
#include <signal.h>

#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "fake_pci_kernel.hpp"

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, ',');) out.push_back(part);
  return out;
}

int usage() {
  std::cerr << "usage: fake-pci-kernel --sysfs DIR --dev DIR [--hca IBDEV,PF,VFS,FIRST_GROUP]...\n"
               "                       [--function BDF,VENDOR,DEVICE,DRIVER,GROUP]... [--driver NAME]...\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string sysfs;
  std::string dev;
  std::vector<std::pair<std::string, std::string>> items;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--sysfs") {
      sysfs = argv[i + 1];
    } else if (a == "--dev") {
      dev = argv[i + 1];
    } else if (a == "--hca" || a == "--function" || a == "--driver") {
      items.emplace_back(a, argv[i + 1]);
    } else {
      return usage();
    }
  }
  if (sysfs.empty() || dev.empty() || argc % 2 == 0) return usage();
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before the watcher thread: it inherits the mask
  try {
    slurmvm::testing::FakePciKernel kernel(sysfs, dev);
    for (const auto& [kind, spec] : items) {
      const auto f = split(spec);
      if (kind == "--driver") {
        kernel.add_driver(spec);
      } else if (kind == "--hca" && f.size() == 4) {
        kernel.add_hca(f[0], f[1], static_cast<unsigned>(std::stoul(f[2])), static_cast<unsigned>(std::stoul(f[3])));
      } else if (kind == "--function" && f.size() == 5) {
        kernel.add_function({f[0], static_cast<std::uint16_t>(std::stoul(f[1], nullptr, 16)),
                             static_cast<std::uint16_t>(std::stoul(f[2], nullptr, 16)), f[3], true,
                             static_cast<unsigned>(std::stoul(f[4]))});
      } else {
        return usage();
      }
    }
    kernel.start();
    std::cout << "ready" << std::endl;
    int sig = 0;
    sigwait(&set, &sig);
  } catch (const std::exception& e) {
    std::cerr << "fake-pci-kernel: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
