// An HCA's ports through libibumad (hca_ports.hpp).
#include "vfio/hca_ports.hpp"

#include <endian.h>
#include <infiniband/umad.h>

#include <cstring>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "error.hpp"
#include "shared_library.hpp"
#include "vfio/pci_sysfs.hpp"

namespace slurmvm::vfio {
namespace {

// libibumad, opened on first use (shared_library.hpp): only nodes with InfiniBand networks
// read an HCA.
struct Umad {
  static const Umad& get() {
    static const Umad umad;
    return umad;
  }
  SharedLibrary lib = SharedLibrary::open(SLURM_VM_LIBIBUMAD_SONAME, "reading the node's InfiniBand ports",
                                          "libibumad3 (Debian) or libibumad (RPM)");
  decltype(::umad_get_ca)* get_ca = lib.function<decltype(::umad_get_ca)>("umad_get_ca");
  decltype(::umad_release_ca)* release_ca = lib.function<decltype(::umad_release_ca)>("umad_release_ca");
  decltype(::umad_get_cas_names)* get_cas_names = lib.function<decltype(::umad_get_cas_names)>("umad_get_cas_names");
};

// umad_get_ca's result, released by umad_release_ca.
class UmadCa {
 public:
  UmadCa() { std::memset(&ca_, 0, sizeof ca_); }
  ~UmadCa() {
    if (held_) Umad::get().release_ca(&ca_);
  }
  UmadCa(const UmadCa&) = delete;
  UmadCa& operator=(const UmadCa&) = delete;
  int get(const std::string& name) {
    const int rc = Umad::get().get_ca(name.c_str(), &ca_);
    held_ = rc == 0;
    return rc;
  }
  const umad_ca_t& ca() const { return ca_; }

 private:
  umad_ca_t ca_;
  bool held_ = false;
};

std::vector<std::string> ca_names() {
  char names[UMAD_MAX_DEVICES][UMAD_CA_NAME_LEN];
  const int n = Umad::get().get_cas_names(names, UMAD_MAX_DEVICES);
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.emplace_back(names[i], strnlen(names[i], UMAD_CA_NAME_LEN));
  return out;
}

}  // namespace

Hca read_hca(std::string_view name) {
  if (!is_driver_name(name) || name.size() >= UMAD_CA_NAME_LEN) {
    throw Error(fmt::format("\"{}\" is not an InfiniBand device name", name), ErrorKind::internal);
  }
  const std::string ca_name(name);
  UmadCa holder;
  if (const int rc = holder.get(ca_name); rc < 0) {
    const auto known = ca_names();
    throw Error(fmt::format("libibumad knows no InfiniBand device {} on this node (it knows: {}; is ib_umad "
                            "loaded?): umad_get_ca: {}",
                            name, known.empty() ? "none" : fmt::format("{}", fmt::join(known, ", ")),
                            std::strerror(-rc)),
                ErrorKind::not_found);
  }
  const umad_ca_t& ca = holder.ca();
  Hca hca;
  hca.name = ca_name;
  hca.node_guid = be64toh(ca.node_guid);
  for (int i = 0; i <= ca.numports && i < UMAD_CA_MAX_PORTS; ++i) {
    const umad_port_t* p = ca.ports[i];
    if (p == nullptr) continue;
    hca.ports.push_back({p->portnum, be64toh(p->port_guid),
                         std::string(p->link_layer, strnlen(p->link_layer, UMAD_CA_NAME_LEN)), p->state});
  }
  return hca;
}

std::vector<std::uint64_t> partition_member_guids(const Hca& hca) {
  std::vector<std::uint64_t> out;
  for (const auto& p : hca.ports) {
    if (p.guid == 0 || p.link_layer == "Ethernet") continue;
    out.push_back(p.guid);
  }
  return out;
}

}  // namespace slurmvm::vfio
