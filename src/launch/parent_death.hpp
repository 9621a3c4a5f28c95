// parent_death.hpp - the VM ends with the task's slurmstepd.
//
// vm-launch execs QEMU in its own place, so QEMU is a child of the step's slurmstepd. If that
// slurmstepd dies (SIGKILL, the OOM killer, a crash), nothing of Slurm signals QEMU any more:
// with proctrack/linuxproc or pgid the job's end finds no process of the step to kill, and with
// proctrack/cgroup only the dead slurmstepd would have. QEMU then ran on after the epilog had
// removed its TAPs, holding its CPUs and memory until someone noticed (found by bench/soak,
// fault stepd-kill). The kernel's parent-death signal ends it instead; it survives execve
// (prctl(2): cleared only for set-user-ID and file-capability binaries, which QEMU is not).
//
// The signal fires when the *thread* that forked this process exits: slurmstepd forks its tasks
// from its main thread (src/slurmd/slurmstepd/mgr.c, _fork_all_tasks), which lives as long as
// the step.
#pragma once

#include <sys/types.h>

namespace slurmvm::launch {

// Asks the kernel for `signal` when the parent ends. Throws slurmvm::Error (ErrorKind::system)
// if the parent is already gone (this process was reparented since `parent`, the getppid() read
// before the call: the window the prctl cannot cover), or if prctl fails.
void end_with_parent(int signal, pid_t parent);

}  // namespace slurmvm::launch
