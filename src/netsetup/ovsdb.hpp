// An Open vSwitch database client speaking RFC 7047 JSON-RPC on ovsdb-server's unix socket
// (Debian ships no libopenvswitch-dev). Messages are built with nlohmann::json, never by
// formatting strings. Every call has a deadline. On top of it, the few transactions the
// prolog needs, each ONE atomic `transact` (plus, where OVSDB requires uuids, one read-only
// lookup before it): bridge, ports, the node's flow-based GRE port.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "deadline.hpp"
#include "json_stream.hpp"
#include "unique_fd.hpp"

namespace slurmvm::netsetup {

class OvsdbClient {
 public:
  // Connects to a unix socket (ovsdb-server's --remote=punix:PATH, by default
  // /run/openvswitch/db.sock). Throws Error(system/timeout).
  static OvsdbClient connect(const std::string& socket_path,
                             std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // One JSON-RPC request (RFC 7047 §4) and its result. Replies are matched by id; the server's
  // "echo" requests (§4.1.11) are answered while waiting; notifications are dropped. Throws
  // Error(timeout) at the deadline, Error(system) for a JSON-RPC error.
  nlohmann::json call(const std::string& method, nlohmann::json params,
                      std::chrono::milliseconds timeout);

  // `transact` (§4.1.3) on database "Open_vSwitch" with these operations; returns the result
  // array after check_transact_result() found no error.
  nlohmann::json transact(const nlohmann::json& ops, std::chrono::milliseconds timeout);

  const std::string& socket_path() const noexcept { return path_; }

 private:
  OvsdbClient(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  void send_message(const nlohmann::json& msg, std::chrono::steady_clock::time_point deadline);
  nlohmann::json read_message(std::chrono::steady_clock::time_point deadline);

  UniqueFd fd_;
  std::string path_;
  JsonStreamDecoder decoder_{{.peer = "ovsdb"}};
  std::uint64_t next_id_ = 1;
};

// Throws Error naming the failed operation ("operation 3 of 5 (insert into Interface
// \"svm42-0\")"), the OVSDB error and its details, when the result of a transaction reports one
// (§4.1.3: an "error" member in an operation's result; an extra trailing element for an error
// at commit, e.g. a constraint violation). Pure: tested with canned results.
void check_transact_result(const nlohmann::json& ops, const nlohmann::json& result);

// What a port is made of. `type` is the Interface type: "" for a kernel device (a TAP),
// "internal", "gre", ... `external_ids` go on the Port row (e.g. {"slurm-vm-job","42"}).
struct PortSpec {
  std::string name;
  std::string type;
  std::map<std::string, std::string> options;
  std::map<std::string, std::string> external_ids;
  std::optional<unsigned> mtu_request;
  // Interface.mac: the address ovs-vswitchd gives an internal port (the job's gateway must
  // carry the MAC its flows and ARP answers use).
  std::optional<std::string> mac;
};

// Builders of transaction operations (pure; golden-tested). `comment` becomes a "comment"
// operation (§5.2.7) that ovsdb-server writes to its log, so a person can tell which job
// made a change.
namespace ovsdb_ops {
// Creates a bridge with its internal port, datapath_type and fail_mode=secure (so the new
// bridge never forwards by MAC learning before the job flows arrive), guarded by a `wait`
// that aborts if the bridge appeared meanwhile.
// Makes an existing bridge (an admin's `ovs-vsctl add-br`, standalone by default) secure:
// fail_mode=secure and in-band control off. A standalone bridge whose flows are lost (an
// ovs-vswitchd restart) falls back to MAC learning and joins every job into one L2 domain.
nlohmann::json secure_bridge(const std::string& bridge, const std::string& comment);
nlohmann::json create_bridge(const std::string& bridge, const std::string& datapath_type,
                             const std::string& comment = {});
// Interface+Port inserts and one Bridge mutate, guarded by a `wait` that aborts when the
// bridge does not exist (an unreferenced Port would be garbage-collected silently).
nlohmann::json add_ports(const std::string& bridge, const std::vector<PortSpec>& ports,
                         const std::string& comment = {});
// Read-only: the bridge's `ports` and, per name, the Port row's _uuid.
nlohmann::json lookup_ports(const std::string& bridge, const std::vector<std::string>& names);
// Removes Port rows (by uuid) from the bridge; OVSDB garbage-collects Port and Interface.
nlohmann::json remove_ports(const std::string& bridge, const std::vector<std::string>& port_uuids,
                            const std::string& comment = {});
// Appended to a changing transaction: next_cfg += 1, then read it back (same transaction, so
// the value is ours). ovs-vswitchd sets cur_cfg to it once applied (as ovs-vsctl --wait).
nlohmann::json bump_next_cfg();
}  // namespace ovsdb_ops

// The state ovs-vswitchd reports for an Interface.
struct InterfaceStatus {
  std::optional<std::int64_t> ofport;  // -1: failed; nullopt: not assigned yet
  std::string error;                   // empty when fine
  std::string type;
  std::map<std::string, std::string> options;
};

// High-level operations, each ending once ovs-vswitchd applied the change (cur_cfg caught up
// with our next_cfg), all within `timeout`.
class Vswitch {
 public:
  explicit Vswitch(OvsdbClient& client,
                   std::chrono::milliseconds timeout = std::chrono::seconds(10))
      : client_(client), timeout_(timeout) {}

  // Creates the bridge if missing. An existing bridge with another datapath_type is an
  // Error(config): switching datapaths under running jobs is not ours to do.
  void ensure_bridge(const std::string& bridge, const std::string& datapath_type);
  // Adds the ports, then checks each Interface got an ofport and no error.
  void add_ports(const std::string& bridge, const std::vector<PortSpec>& ports,
                 const std::string& comment = {});
  // add_ports in two halves, for a caller with other work while ovs-vswitchd opens the ports
  // (the prolog): the transaction, committed by OVSDB, returning the configuration number
  // (next_cfg) it is applied as; then the wait for ovs-vswitchd to apply it and the check of
  // each port. Returns 0, and awaits nothing, for no ports.
  std::int64_t commit_add_ports(const std::string& bridge, const std::vector<PortSpec>& ports,
                                const std::string& comment = {});
  void await_ports(std::int64_t cfg, const std::vector<std::string>& names);
  // Removes the named ports from the bridge; names that are no port are skipped (undo is
  // idempotent). Returns how many were removed. A named port on another bridge is an Error.
  // Returns once OVSDB committed the removal, without waiting for ovs-vswitchd (vswitch.cpp).
  std::size_t remove_ports(const std::string& bridge, const std::vector<std::string>& names,
                           const std::string& comment = {});
  // The node's one tunnel port: type `type` (gre), options remote_ip=flow and key=flow, so
  // every job's flows pick the key (network id) and remote node per packet. An existing port
  // of that name with other settings is an Error(config).
  void ensure_tunnel_port(const std::string& bridge, const std::string& name,
                          const std::string& type = "gre");
  std::optional<InterfaceStatus> interface_status(const std::string& name);
  // The OpenFlow port numbers ovs-vswitchd gave these interfaces (Interface.ofport), read in
  // one transaction: what the flows name ports by (flows.hpp). A missing interface, or one
  // ovs-vswitchd could not open (ofport -1, Interface.error), is an Error(system).
  std::map<std::string, std::uint32_t> port_numbers(const std::vector<std::string>& names);
  // The bridge's ports, sorted, without its own internal port (as ovs-vsctl list-ports).
  std::vector<std::string> list_ports(const std::string& bridge);
  // The bridge's ports that a prolog tagged external_ids:slurm-vm-job=<id>, by job id (a tag
  // that is not a job id is skipped: not ours to judge).
  std::map<std::uint32_t, std::vector<std::string>> job_ports(const std::string& bridge);

 private:
  nlohmann::json transact_and_wait(const nlohmann::json& ops, Deadline deadline);
  // ops ending with bump_next_cfg(): their result and the next_cfg it returned.
  std::pair<nlohmann::json, std::int64_t> transact_bumping(const nlohmann::json& ops, Deadline deadline);
  void wait_applied(std::int64_t cfg, Deadline deadline);
  std::chrono::milliseconds left(Deadline deadline) const;

  OvsdbClient& client_;
  std::chrono::milliseconds timeout_;
};

}  // namespace slurmvm::netsetup
