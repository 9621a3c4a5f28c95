// The current time as ISO 8601 in UTC ("2026-12-04T10:00:00Z"): how checkpoints and JUnit
// reports date themselves.
#pragma once

#include <string>

namespace slurmvm::cli {

std::string utc_now_iso8601();

}  // namespace slurmvm::cli
