// <slurm/spank.h> for C++: the only way the plugin's files include it.
//
// Slurm 22.05's spank.h declares the slurm_spank_* prototypes outside its own extern "C"
// block, so a C++ translation unit would see them with C++ linkage and then reject our
// extern "C" definitions ("conflicting declaration ... with 'C' linkage").
//
// The plugin is built with -fvisibility=hidden. Everything spank.h declares gets default
// visibility here, so the slurm_spank_* definitions in plugin.cpp (which take the visibility
// of this first declaration) are exported, and nothing else of ours is.
#pragma once

#pragma GCC visibility push(default)
extern "C" {
#include <slurm/spank.h>
}
#pragma GCC visibility pop
