// One atomic OpenFlow 1.4 bundle on a bridge's management socket (ovs-vswitchd's
// punix:<rundir>/<bridge>.mgmt): the in-process replacement for `ovs-ofctl --bundle`.
//
// The exchange: HELLO; BUNDLE_CONTROL open (atomic, ordered); one BUNDLE_ADD_MESSAGE per flow
// mod; a BARRIER. Open vSwitch answers an add it refuses with an error and keeps the bundle
// open without it, so the commit is sent only once the barrier's reply came back with no
// error before it: a refused flow commits nothing (closing the connection discards the bundle).
// Then BUNDLE_CONTROL commit and its reply. Echo requests are answered; every wait has the
// caller's deadline.
#pragma once

#include <string>
#include <vector>

#include "deadline.hpp"
#include "netsetup/openflow_text.hpp"
#include "netsetup/openflow_wire.hpp"

namespace slurmvm::netsetup::openflow {

// Throws Error(system) naming each refused flow's line and Open vSwitch's error, or the
// commit's; Error(timeout) at the deadline; Error(internal) for a port missing from `ports`.
void commit_bundle(const std::string& socket, const std::vector<FlowLine>& flows, const PortNumbers& ports,
                   Deadline deadline);

}  // namespace slurmvm::netsetup::openflow
