// The error of a job, as opposed to one of the node: what the prolog reports to the user and
// rolls back without draining the node.
#pragma once

#include "error.hpp"

namespace slurmvm::netsetup {

// A failure the job caused (its definition, its allocation, a full port range): the prolog
// reports it to the user and lets the node be. Every other Error is a node fault.
class JobError : public Error {
 public:
  using Error::Error;
  explicit JobError(const Error& e) : Error(e) {}
};

}  // namespace slurmvm::netsetup
