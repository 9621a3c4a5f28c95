// Resource sets of resources.yaml (system only, pcocc's format): `name: {networks: [..],
// default: bool}`. A template names one; its networks, in order, are the VM's NICs (eth0, ...).
// The set marked default (at most one) serves templates that name none.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "config/network.hpp"
#include "config/yaml_reader.hpp"

namespace slurmvm::config {

struct ResourceSet {
  std::string name;
  std::vector<std::string> networks;  // names in networks.yaml, in NIC order
  bool is_default = false;
  std::filesystem::path file;
  int line = 0;
};

using ResourceSetMap = std::map<std::string, ResourceSet, std::less<>>;

// Reads the root value of resources.yaml; every network named must be in `networks`.
// Throws Error(ErrorKind::config).
ResourceSetMap parse_resource_sets(const Value& root, const NetworkMap& networks);

}  // namespace slurmvm::config
