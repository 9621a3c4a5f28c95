// pcocc's automatic templates: an image in a repository can be named in a cluster definition as
// if a template of its name existed, `NAME: {image: REPO:NAME}` on the default resource set, so
// `vm alloc myimage:2` boots it with no templates.yaml at all (pcocc's
// Templates.populate_image_templates). A real template of that name always wins, and without a
// resource set marked `default: true` there are none, as in pcocc.
#pragma once

#include "cluster_def.hpp"
#include "config/config.hpp"

namespace slurmvm {

// Adds to `cfg.system_templates` a template for each name of `def` that has no template and
// names an image of the repositories (their paths expanded for the current process). Only
// those names' repositories are read, and only when some name is missing.
void add_image_templates(config::Config& cfg, const ClusterDef& def);

// The same for one name (`vm template show NAME`); true if one was added.
bool add_image_template(config::Config& cfg, const std::string& name);

}  // namespace slurmvm
