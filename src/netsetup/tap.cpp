#include "netsetup/tap.hpp"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "error.hpp"
#include "netsetup/link_group.hpp"
#include "unique_fd.hpp"

namespace slurmvm::netsetup {
namespace {

ifreq make_ifreq(std::string_view name) {
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());  // validated: < IFNAMSIZ, NUL-padded
  return ifr;
}

UniqueFd open_tun() {
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  if (!fd) throw Error::from_errno("cannot open /dev/net/tun", errno);
  return fd;
}

// SIOCSIFMTU and SIOCSIFFLAGS need a socket of any family in the target namespace; they act
// on the device by name. (docs/design.md §4: no libnl; two ioctls do not justify it.)
UniqueFd control_socket() {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) throw Error::from_errno("socket(AF_INET, SOCK_DGRAM)", errno);
  return fd;
}

}  // namespace

void set_mtu_and_up(std::string_view name, unsigned mtu) {
  validate_ifname(name);
  UniqueFd sock = control_socket();
  ifreq ifr = make_ifreq(name);
  ifr.ifr_mtu = static_cast<int>(mtu);
  if (::ioctl(sock.get(), SIOCSIFMTU, &ifr) != 0) {
    throw Error::from_errno(fmt::format("cannot set MTU {}", mtu), errno);
  }
  ifr = make_ifreq(name);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) != 0) throw Error::from_errno("SIOCGIFFLAGS", errno);
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) != 0) {
    throw Error::from_errno("cannot bring the device up", errno);
  }
}

void keep_host_stack_off(const std::string& name) {
  validate_ifname(name);
  const auto write_setting = [&](const std::string& file, const char* value) {
    UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
    // No IPv6 in this kernel: nothing to turn off.
    if (!fd && errno == ENOENT && file.starts_with("/proc/sys/net/ipv6/")) return;
    if (!fd) throw Error::from_errno("opening " + file, errno);
    const std::size_t len = std::strlen(value);
    if (::write(fd.get(), value, len) != static_cast<ssize_t>(len)) throw Error::from_errno("writing " + file, errno);
  };
  write_setting("/proc/sys/net/ipv6/conf/" + name + "/disable_ipv6", "1");
  // 8: "do not reply for all local addresses" (Documentation/networking/ip-sysctl.rst).
  write_setting("/proc/sys/net/ipv4/conf/" + name + "/arp_ignore", "8");
}

void validate_ifname(std::string_view name) {
  auto bad = [&](std::string_view why) {
    return Error(fmt::format("invalid interface name \"{}\": {}", name, why), ErrorKind::config);
  };
  if (name.empty()) throw bad("empty");
  if (name.size() >= IFNAMSIZ) throw bad(fmt::format("longer than {} characters", IFNAMSIZ - 1));
  if (name.front() == '-' || name.front() == '.') throw bad("starts with '-' or '.'");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) throw bad("only letters, digits, '_', '-' and '.' are allowed");
  }
}

bool interface_exists(std::string_view name) {
  validate_ifname(name);
  return ::if_nametoindex(std::string(name).c_str()) != 0;
}

namespace {

}  // namespace

void create_tap(const TapSpec& spec) {
  validate_ifname(spec.name);
  with_context(fmt::format("creating TAP {}", spec.name), [&] {
    UniqueFd tun = open_tun();
    ifreq ifr = make_ifreq(spec.name);
    // IFF_NO_PI: plain Ethernet frames, as QEMU expects. IFF_TUN_EXCL: fail on an existing
    // device instead of silently attaching to it.
    int flags = IFF_TAP | IFF_NO_PI | IFF_TUN_EXCL;
    if (spec.multi_queue) flags |= IFF_MULTI_QUEUE;
    ifr.ifr_flags = static_cast<short>(flags);
    if (::ioctl(tun.get(), TUNSETIFF, &ifr) != 0) {
      if (errno == EBUSY) {
        throw Error("a network device of that name already exists", ErrorKind::system, EBUSY);
      }
      throw Error::from_errno("TUNSETIFF", errno);
    }
    // From here the device exists only while `tun` is open: an error below closes the fd and
    // the kernel removes the half-made device, so there is nothing to clean up by hand.
    if (::ioctl(tun.get(), TUNSETOWNER, static_cast<unsigned long>(spec.owner)) != 0) {
      throw Error::from_errno("TUNSETOWNER", errno);
    }
    // No TUNSETGROUP: the owner check suffices, and kernels carrying Linux 3ca459eaba1b ("tun:
    // fix group permission check", backported to 5.15-6.12 in Jan 2025, reverted upstream in
    // Feb 2025) let any member of the group attach, i.e. any user sharing the job's primary
    // group could become one of its VMs on the job's network.
    keep_host_stack_off(spec.name);
    if (spec.link_group != 0) set_link_group(spec.name, spec.link_group);
    set_mtu_and_up(spec.name, spec.mtu);
    // Last: only a complete device outlives this function.
    if (::ioctl(tun.get(), TUNSETPERSIST, 1UL) != 0) throw Error::from_errno("TUNSETPERSIST", errno);
  });
}

bool delete_tap(std::string_view name) {
  validate_ifname(name);
  return with_context(fmt::format("deleting TAP {}", name), [&] {
    if (!interface_exists(name)) return false;
    UniqueFd tun = open_tun();
    ifreq ifr = make_ifreq(name);
    // No IFF_TUN_EXCL: attach to the existing device. Should it vanish between the check
    // and here, this creates a non-persistent one that dies with the fd: harmless.
    ifr.ifr_flags = static_cast<short>(IFF_TAP | IFF_NO_PI);
    if (::ioctl(tun.get(), TUNSETIFF, &ifr) != 0) {
      if (errno == EINVAL) {
        // Not a TAP (or queue-mode mismatch): retry as multi-queue before refusing.
        ifr = make_ifreq(name);
        ifr.ifr_flags = static_cast<short>(IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE);
        if (::ioctl(tun.get(), TUNSETIFF, &ifr) != 0) {
          throw Error("the device is not a TAP", ErrorKind::system, errno);
        }
      } else if (errno == EBUSY) {
        throw Error("the TAP is still attached (is QEMU running?)", ErrorKind::system, EBUSY);
      } else {
        throw Error::from_errno("TUNSETIFF", errno);
      }
    }
    // Not persistent any more: the kernel deletes the device when the last fd closes, here.
    if (::ioctl(tun.get(), TUNSETPERSIST, 0UL) != 0) throw Error::from_errno("TUNSETPERSIST 0", errno);
    return true;
  });
}

}  // namespace slurmvm::netsetup
