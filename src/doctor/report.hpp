// vm doctor's findings: one line per check of what a node needs, with the fix when it is not
// right (docs/install.md is the path these checks follow). Pure: rendering and JSON.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace slurmvm::doctor {

// ok: as needed. warn: works, but not as a site wants (TCG only, a Prolog= that wraps ours).
// fail: jobs will fail on this host. skip: not needed here (no InfiniBand network), or not
// checkable (not root).
enum class Status { ok, warn, fail, skip };
std::string_view to_string(Status s) noexcept;

struct Finding {
  std::string check;    // short id: kvm, qemu, ovs, ...
  Status status = Status::ok;
  std::string summary;  // what was found, one line
  std::string fix;      // what to do, for warn and fail
};

struct Report {
  std::string host;
  std::vector<Finding> findings;
  // Ready: no finding failed.
  bool ready() const;
};

// "node1: ready (12 ok, 1 warning, 2 skipped)" then one line per finding:
//   "  ok    kvm       KVM usable (/dev/kvm)"
//   "  FAIL  ovs       ... -> fix: ..."
std::string render_text(const Report& r);

nlohmann::json to_json(const Report& r);
// The inverse, for the reports of other nodes (vm doctor -w). Error(system) when it is not one.
Report report_from_json(const nlohmann::json& j);

}  // namespace slurmvm::doctor
