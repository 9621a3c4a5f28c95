// The fake PCI kernel of the tests (fake_pci_kernel.hpp).
#include "fake_pci_kernel.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

namespace fs = std::filesystem;

namespace slurmvm::testing {
namespace {

constexpr const char* kBus = "pci0000:00";

void write_text(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("fake kernel: cannot write " + file.string());
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

void link(const std::string& target, const fs::path& at) {
  std::error_code ec;
  fs::remove(at, ec);
  fs::create_symlink(target, at);
}

}  // namespace

FakePciKernel::FakePciKernel(fs::path sysfs, fs::path dev) : sysfs_(std::move(sysfs)), dev_(std::move(dev)) {
  for (const char* d : {"bus/pci/devices", "bus/pci/drivers", "kernel/iommu_groups", "class/infiniband"}) {
    fs::create_directories(sysfs_ / d);
  }
  fs::create_directories(sysfs_ / "devices" / kBus);
  fs::create_directories(dev_ / "vfio");
  write_text(dev_ / "vfio/vfio", "");
  inotify_fd_ = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (inotify_fd_ < 0 || stop_fd_ < 0) throw std::runtime_error("fake kernel: inotify/eventfd");
  write_text(sysfs_ / "bus/pci/drivers_probe", "");
  watch(sysfs_ / "bus/pci/drivers_probe");
}

FakePciKernel::~FakePciKernel() {
  stop();
  ::close(inotify_fd_);
  ::close(stop_fd_);
}

fs::path FakePciKernel::function_dir(const std::string& bdf) const { return sysfs_ / "devices" / kBus / bdf; }

void FakePciKernel::watch(const fs::path& file) {
  if (::inotify_add_watch(inotify_fd_, file.c_str(), IN_CLOSE_WRITE) < 0) {
    throw std::runtime_error("fake kernel: inotify_add_watch " + file.string());
  }
  control_files_.push_back(file);
}

void FakePciKernel::add_driver(const std::string& driver) {
  const fs::path dir = sysfs_ / "bus/pci/drivers" / driver;
  if (fs::exists(dir)) return;
  fs::create_directories(dir);
  for (const char* f : {"bind", "unbind"}) {
    write_text(dir / f, "");
    watch(dir / f);
  }
}

void FakePciKernel::add_function(const FakeFunction& f) {
  const fs::path dir = function_dir(f.bdf);
  fs::create_directories(dir);
  write_text(dir / "vendor", fmt::format("{:#06x}\n", f.vendor));
  write_text(dir / "device", fmt::format("{:#06x}\n", f.device));
  write_text(dir / "driver_override", "(null)\n");
  link(fmt::format("../../../devices/{}/{}", kBus, f.bdf), sysfs_ / "bus/pci/devices" / f.bdf);
  if (f.iommu_group) {
    const fs::path group = sysfs_ / "kernel/iommu_groups" / std::to_string(*f.iommu_group) / "devices";
    fs::create_directories(group);
    link(fmt::format("../../../../devices/{}/{}", kBus, f.bdf), group / f.bdf);
    link(fmt::format("../../../kernel/iommu_groups/{}", *f.iommu_group), dir / "iommu_group");
  }
  add_driver(f.own_driver);
  functions_[f.bdf] = f;
  if (f.bound) bind(f.bdf, f.own_driver);
}

std::vector<std::string> FakePciKernel::add_hca(const std::string& ib_device, const std::string& pf, unsigned vfs,
                                                unsigned first_group) {
  add_driver("vfio-pci");
  add_function({pf, 0x15b3, 0x101b, "mlx5_core", true, first_group + 1000});
  const fs::path pf_dir = function_dir(pf);
  write_text(pf_dir / "sriov_totalvfs", fmt::format("{}\n", vfs));
  write_text(pf_dir / "sriov_numvfs", fmt::format("{}\n", vfs));
  fs::create_directories(pf_dir / "infiniband" / ib_device);
  link(fmt::format("../../../{}", pf), pf_dir / "infiniband" / ib_device / "device");
  link(fmt::format("../../devices/{}/{}/infiniband/{}", kBus, pf, ib_device), sysfs_ / "class/infiniband" / ib_device);
  const std::string prefix = pf.substr(0, pf.size() - 4);  // "0000:3b:"
  const auto pf_slot = static_cast<unsigned>(std::stoul(pf.substr(pf.size() - 4, 2), nullptr, 16));
  std::vector<std::string> out;
  for (unsigned n = 0; n < vfs; ++n) {
    // VFs from function 1 of the PF's slot on, then the next slots (routing ids, 8 per slot).
    const unsigned rid = n + 1;
    const std::string bdf = fmt::format("{}{:02x}.{}", prefix, pf_slot + rid / 8, rid % 8);
    add_function({bdf, 0x15b3, 0x101c, "mlx5_core", true, first_group + n});
    link("../" + bdf, pf_dir / fmt::format("virtfn{}", n));
    link("../" + pf, function_dir(bdf) / "physfn");
    const fs::path sriov = pf_dir / "sriov" / std::to_string(n);
    fs::create_directories(sriov);
    write_text(sriov / "node", "00:00:00:00:00:00:00:00\n");
    write_text(sriov / "port", "00:00:00:00:00:00:00:00\n");
    write_text(sriov / "policy", "Down\n");
    out.push_back(bdf);
  }
  return out;
}

std::optional<std::string> FakePciKernel::driver_of(const std::string& bdf) const {
  std::error_code ec;
  const fs::path target = fs::read_symlink(function_dir(bdf) / "driver", ec);
  if (ec) return std::nullopt;
  return target.filename().string();
}

std::string FakePciKernel::read_attr(const std::string& relative) const { return read_text(sysfs_ / relative); }

void FakePciKernel::bind(const std::string& bdf, const std::string& driver) {
  link("../../../bus/pci/drivers/" + driver, function_dir(bdf) / "driver");
  link(fmt::format("../../../../devices/{}/{}", kBus, bdf), sysfs_ / "bus/pci/drivers" / driver / bdf);
  const auto& f = functions_.at(bdf);
  if (driver == "vfio-pci" && f.iommu_group) {
    const fs::path node = dev_ / "vfio" / std::to_string(*f.iommu_group);
    if (!fs::exists(node)) {
      write_text(node, "");
      fs::permissions(node, fs::perms::owner_read | fs::perms::owner_write);
    }
  }
}

void FakePciKernel::unbind(const std::string& bdf) {
  const auto driver = driver_of(bdf);
  if (!driver) return;
  fs::remove(function_dir(bdf) / "driver");
  fs::remove(sysfs_ / "bus/pci/drivers" / *driver / bdf);
  const auto& f = functions_.at(bdf);
  if (*driver != "vfio-pci" || !f.iommu_group) return;
  for (const auto& [other, of] : functions_) {
    if (other != bdf && of.iommu_group == f.iommu_group && driver_of(other) == std::optional<std::string>("vfio-pci")) {
      return;
    }
  }
  std::error_code ec;
  fs::remove(dev_ / "vfio" / std::to_string(*f.iommu_group), ec);
}

void FakePciKernel::react() {
  for (const auto& file : control_files_) {
    const std::string bdf = trimmed(read_text(file));
    if (bdf.empty()) continue;
    write_text(file, "");
    if (functions_.count(bdf) == 0) continue;  // the kernel: ENODEV
    const std::string name = file.filename().string();
    const std::string driver = file.parent_path().filename().string();
    std::string override_ = trimmed(read_text(function_dir(bdf) / "driver_override"));
    if (override_ == "(null)") override_.clear();
    const bool unbound = !driver_of(bdf);
    if (name == "drivers_probe") {
      const std::string chosen = override_.empty() ? functions_.at(bdf).own_driver : override_;
      if (unbound && fs::exists(sysfs_ / "bus/pci/drivers" / chosen)) bind(bdf, chosen);
    } else if (name == "bind") {
      if (unbound && (override_.empty() || override_ == driver)) bind(bdf, driver);
    } else if (name == "unbind") {
      if (driver_of(bdf) == driver) unbind(bdf);
    }
  }
}

void FakePciKernel::start() {
  if (watcher_.joinable()) return;
  watcher_ = std::thread([this] {
    for (;;) {
      pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[1].revents != 0) return;
      alignas(inotify_event) char buf[4096];
      while (::read(inotify_fd_, buf, sizeof buf) > 0) {
      }
      react();
    }
  });
}

void FakePciKernel::stop() {
  if (!watcher_.joinable()) return;
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(stop_fd_, &one, sizeof one);
  watcher_.join();
}

}  // namespace slurmvm::testing
