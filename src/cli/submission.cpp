// Submissions of vm alloc and vm batch (submission.hpp).
#include "submission.hpp"

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <variant>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "checkpoint.hpp"
#include "error.hpp"
#include "image_templates.hpp"

namespace slurmvm::cli {

Submission read_submission(std::vector<std::string> extras, std::string_view example, OverrideOptions& overrides) {
  if (extras.empty() || extras.back().starts_with('-')) {
    throw Error(fmt::format("missing the cluster definition DEF (e.g. `{}`)", example), ErrorKind::usage);
  }
  const std::string def_text = extras.back();
  extras.pop_back();
  // Refuse a wrong definition before Slurm queues anything.
  Submission s{ClusterDef::parse(def_text), config::load_config(config::config_dirs_from_env()), {},
               std::move(extras)};
  add_image_templates(s.cfg, s.def);
  s.resolved = resolve_cluster(s.def, s.cfg, overrides.parse(s.def));
  std::vector<std::string> full, partial;
  for (const ClusterGroup& g : s.def.groups()) {
    (s.cfg.get_template(g.template_name).full_node ? full : partial).push_back(g.template_name);
  }
  if (!full.empty() && !partial.empty()) {
    throw Error(fmt::format("template {} is full-node but {} is not: the VMs of one cluster are either all "
                            "full-node or none (one Slurm step gives every VM the same number of CPUs)",
                            full.front(), partial.front()),
                ErrorKind::config);
  }
  s.full_node = !full.empty();
  return s;
}

RestoreSubmission read_restore_submission(std::vector<std::string> extras, const std::string& dir, unsigned cpus,
                                          const OverrideOptions& overrides) {
  RestoreSubmission r;
  r.dir = std::filesystem::absolute(dir).lexically_normal();
  if (!r.dir.has_filename()) r.dir = r.dir.parent_path();
  const Checkpoint ckpt = read_checkpoint(r.dir);
  // The cheap half of the check here, before Slurm queues anything; each VM's node reads its
  // files whole (sha256) before restoring them.
  for (const auto& vm : ckpt.vms) {
    if (vm.disk) verify_checkpoint_file(r.dir, *vm.disk, false);
    verify_checkpoint_file(r.dir, vm.memory, false);
  }
  if (!overrides.images.empty() || !overrides.mounts.empty() || !overrides.user_data.empty()) {
    throw Error("-r: --image, --mount and --user-data cannot change a checkpointed cluster: its VMs resume with the "
                "devices they were saved with",
                ErrorKind::usage);
  }
  if (!extras.empty() && !extras.back().starts_with('-')) {
    const std::string given = ClusterDef::parse(extras.back()).to_string();
    if (given != ckpt.definition) {
      throw Error(fmt::format("{} is a checkpoint of cluster {}, not {}: leave DEF out (Slurm options with a value "
                              "last: write them --opt=value)",
                              r.dir.string(), ckpt.definition, given),
                  ErrorKind::usage);
    }
    extras.pop_back();
  }
  r.sub.def = ClusterDef::parse(ckpt.definition);
  r.sub.cfg = config::load_config(config::config_dirs_from_env());
  r.sub.resolved = with_context(fmt::format("checkpoint {}", r.dir.string()),
                                [&] { return parse_resolved_cluster(ckpt.resolved.dump(), kCheckpointManifest); });
  r.sub.slurm_args = std::move(extras);
  const config::Template& first = r.sub.resolved.get(r.sub.def.template_of(0));
  r.sub.full_node = first.full_node;
  if (!r.sub.full_node) {
    const unsigned had = ckpt.vms.front().vcpus + static_cast<unsigned>(std::max(first.emulator_cores, 0));
    if (cpus != 0 && cpus != had) {
      throw Error(fmt::format("-c {}: the checkpointed VMs had {} CPUs each and resume with as many: leave -c out",
                              cpus, had),
                  ErrorKind::usage);
    }
    r.cpus = had;
  }
  r.network_id = ckpt.network_id;
  return r;
}

void export_restore_env(const std::optional<RestoreSubmission>& r) {
  if (r && r->network_id != 0) {
    if (::setenv(kNetworkIdEnv, std::to_string(r->network_id).c_str(), 1) != 0) {
      throw Error::from_errno("setenv", errno);
    }
  } else {
    ::unsetenv(kNetworkIdEnv);
  }
}

std::string resolved_env(const ResolvedCluster& resolved) {
  const std::string json = to_json(resolved).dump();
  if (json.size() > kMaxResolvedClusterBytes) {
    throw Error(fmt::format("the templates of {} take {} KiB once resolved, more than the {} KiB an environment "
                            "variable may hold: move large inline user-data into a file (user-data: /path)",
                            resolved.definition, json.size() / 1024, kMaxResolvedClusterBytes / 1024),
                ErrorKind::config);
  }
  return fmt::format("{}={}", kResolvedClusterEnv, json);
}

std::vector<std::string> network_licenses(const config::Config& cfg, const ResolvedCluster& resolved) {
  std::vector<std::string> out;
  for (const auto& tpl : resolved.templates) {
    const auto set = cfg.resource_sets.find(tpl.resource_set);
    if (set == cfg.resource_sets.end()) continue;  // the prolog refuses it, naming the set
    for (const auto& name : set->second.networks) {
      const auto net = cfg.networks.find(name);
      if (net == cfg.networks.end()) continue;
      const auto* ib = std::get_if<config::InfinibandNetwork>(&net->second.settings);
      if (ib != nullptr && ib->license && std::find(out.begin(), out.end(), *ib->license) == out.end()) {
        out.push_back(*ib->license);
      }
    }
  }
  return out;
}

std::vector<std::string> slurm_argv(const std::string& program, const Submission& s, unsigned cpus,
                                    const std::string& nodes, const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {program};
  if (s.def.sized(std::max(cpus, 1U))) {
    // One component per group (docs/design.md §8): its own -n and -c. The site's and the user's
    // options go to every component, as Slurm resets some (--mem-per-cpu) in each.
    if (s.full_node) {
      throw Error("c= sizes VMs, but the cluster's templates are full-node (a VM takes its whole node): leave c= out",
                  ErrorKind::usage);
    }
    if (!nodes.empty()) {
      throw Error(fmt::format("-N {}: VMs of several sizes run as one job component per group, each on the nodes "
                              "Slurm finds for it: leave -N out",
                              nodes),
                  ErrorKind::usage);
    }
    for (std::size_t g = 0; g < s.def.groups().size(); ++g) {
      if (g > 0) argv.push_back(":");
      argv.push_back(fmt::format("--ntasks={}", s.def.groups()[g].count));
      argv.push_back(fmt::format("--cpus-per-task={}", s.def.cpus_of_group(g, std::max(cpus, 1U))));
      if (g == 0) {
        argv.push_back("--vm-template=" + s.def.to_string());
        argv.insert(argv.end(), flags.begin(), flags.end());
      }
      argv.insert(argv.end(), s.cfg.site.batch_args.begin(), s.cfg.site.batch_args.end());
      argv.insert(argv.end(), s.slurm_args.begin(), s.slurm_args.end());
    }
    return merge_licenses(std::move(argv), network_licenses(s.cfg, s.resolved));
  }
  argv.push_back(fmt::format("--ntasks={}", s.def.vm_count()));
  if (s.full_node) {
    const std::string count = std::to_string(s.def.vm_count());
    if (s.def.groups().front().cpus) {
      throw Error("c= sizes VMs, but the cluster's templates are full-node (a VM takes its whole node): leave c= out",
                  ErrorKind::usage);
    }
    if (cpus > 0) {
      throw Error(fmt::format("-c {}: the cluster's templates are full-node, each VM gets all of its node's CPUs: "
                              "leave -c out",
                              cpus),
                  ErrorKind::usage);
    }
    if (!nodes.empty() && nodes != count) {
      throw Error(fmt::format("-N {}: the cluster's templates are full-node, so its {} VMs take {} nodes: leave -N out",
                              nodes, count, count),
                  ErrorKind::usage);
    }
    argv.insert(argv.end(), {"--nodes=" + count, "--ntasks-per-node=1", "--exclusive", "--mem=0"});
  } else {
    // One size for every VM: c= (then the same in every group that has it) wins over -c.
    const unsigned size = s.def.groups().front().cpus ? s.def.cpus_of_group(0, cpus) : cpus;
    if (size > 0) argv.push_back(fmt::format("--cpus-per-task={}", size));
    if (!nodes.empty()) argv.push_back("--nodes=" + nodes);
  }
  argv.push_back("--vm-template=" + s.def.to_string());
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.insert(argv.end(), s.cfg.site.batch_args.begin(), s.cfg.site.batch_args.end());
  argv.insert(argv.end(), s.slurm_args.begin(), s.slurm_args.end());
  return merge_licenses(std::move(argv), network_licenses(s.cfg, s.resolved));
}

std::vector<std::string> merge_licenses(std::vector<std::string> argv, const std::vector<std::string>& licenses) {
  // salloc and sbatch keep only the last --licenses: the site's and the user's own are merged
  // with the networks' into one, so that none drops another (each once: a heterogeneous job
  // repeats the user's options in every component).
  if (licenses.empty()) return argv;
  std::vector<std::string> kept = {argv.front()};
  std::vector<std::string> all;
  const auto add = [&](const std::string& l) {
    if (std::find(all.begin(), all.end(), l) == all.end()) all.push_back(l);
  };
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if ((a == "-L" || a == "--licenses") && i + 1 < argv.size()) {
      add(argv[++i]);
    } else if (a.starts_with("--licenses=")) {
      add(a.substr(11));
    } else if (a.starts_with("-L") && a.size() > 2) {
      add(a.substr(2));
    } else {
      kept.push_back(a);
    }
  }
  for (const auto& l : licenses) add(l);
  kept.push_back(fmt::format("--licenses={}", fmt::join(all, ",")));
  return kept;
}

}  // namespace slurmvm::cli
