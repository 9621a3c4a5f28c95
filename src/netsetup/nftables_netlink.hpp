// nf_tables over netlink, without libnftables, for the one change that needs no rule language:
// deleting slurm-vm's two tables when the node's last VM job is gone (every epilog of a node
// that ran one job at a time). Loading libnftables, building its cache and parsing the batch
// cost the epilog more than everything else it does; the kernel needs four messages
// (docs/prolog-epilog.md §8). Rules still go through libnftables (nat.hpp).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace slurmvm::netsetup {

// The batch `add table ip NAME; delete table ip NAME; add table bridge NAME; delete table
// bridge NAME` as nft sends it (one transaction: adding first makes the delete valid whether or
// not the table exists), every message asking for an acknowledgement; sequence numbers from
// `first_seq` (the batch's begin and end markers included).
std::vector<unsigned char> delete_tables_batch(std::string_view name, std::uint32_t first_seq);

// The kernel's answers to a batch whose acknowledged messages are `first_seq` + 1 ..
// `first_seq` + `acked`: 0 once all are acknowledged, the first error (a negative errno)
// otherwise; -EAGAIN while acknowledgements are still missing.
int batch_outcome(std::span<const unsigned char> answers, std::uint32_t first_seq, std::uint32_t acked);

// Sends delete_tables_batch(name) in the calling thread's network namespace and waits (5 s at
// most) for the kernel to acknowledge it. Throws Error with the kernel's errno.
void delete_nft_tables(std::string_view name);

}  // namespace slurmvm::netsetup
