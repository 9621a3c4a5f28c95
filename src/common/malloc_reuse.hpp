// For the root helpers, which run for a fraction of a second: keep freed memory for the next
// allocation instead of handing it back to the kernel.
//
// glibc serves a block over M_MMAP_THRESHOLD (128 KiB at first) with its own mmap(2) and
// munmap(2)s it on free(), so the next such block is fresh pages, each a page fault (~10 µs each
// on the 2-vCPU test VM). libnftables allocates and frees a 128 KiB hash table per cache of every
// table it parses or reads from the kernel, ~25 per run: without this a second table rebuild in
// the same helper (the first job's prolog, the last job's epilog) cost 10 ms instead of 2.
#pragma once

#include <malloc.h>

namespace slurmvm {

inline void reuse_freed_memory() noexcept {
  // Blocks up to 32 MiB (glibc's largest threshold) from the heap, and no trimming below 128 MiB:
  // a helper's heap stays far below either, and the process's exit frees everything.
  ::mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  ::mallopt(M_TRIM_THRESHOLD, 128 * 1024 * 1024);
}

}  // namespace slurmvm
