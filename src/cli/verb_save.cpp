// `vm save [-j JOBID] [-d [REPO:]NAME] [--timeout S] [vmN]`: the VM's disk as it is now becomes
// a new revision of the repository image it booted from, or, with -d, a new image. On the
// VM's node (on_node.hpp): the guest's filesystems are frozen through qemu-guest-agent when it
// answers (else the copy is crash-consistent, and vm says so), QEMU's drive-backup with
// sync=top copies the overlay as of that instant into the repository's .tmp (the filesystems
// are thawed as soon as the job has started: the copy is point-in-time), and the layer is
// added on top of exactly the revision the VM booted from (vm.json), whatever the template
// says today (pcocc-anatomy.md §6 item 20). A revision is never overwritten (image_repo.hpp).
#include <pwd.h>
#include <unistd.h>

#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "checkpoint.hpp"
#include "config/config.hpp"
#include "error.hpp"
#include "image_repo.hpp"
#include "job_files.hpp"
#include "job_selection.hpp"
#include "log.hpp"
#include "on_node.hpp"
#include "qemu_disk.hpp"
#include "qmp.hpp"
#include "verb.hpp"
#include "vm_set.hpp"

namespace slurmvm::cli {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Freezes the guest's filesystems for as long as it lives, when the agent answers.
class Freeze {
 public:
  explicit Freeze(const VmFile& vm) : name_(vm.name) {
    try {
      agent_.emplace(QmpClient::connect_guest_agent(vm.agent, 3s));
      const auto n = agent_->execute("guest-fsfreeze-freeze", nullptr, 30s);
      frozen_ = true;
      log_info("{}: {} filesystems frozen", name_, n.dump());
    } catch (const Error& e) {
      std::cerr << fmt::format("vm: warning: {}: filesystems not frozen ({}); the saved disk is crash-consistent\n",
                               name_, e.what());
      if (agent_) thaw();
    }
  }
  ~Freeze() { thaw(); }
  Freeze(const Freeze&) = delete;
  Freeze& operator=(const Freeze&) = delete;

  void thaw() noexcept {
    if (!agent_) return;
    try {
      agent_->execute("guest-fsfreeze-thaw", nullptr, 30s);
    } catch (const Error& e) {
      if (frozen_) std::cerr << fmt::format("vm: warning: {}: thawing its filesystems failed: {}\n", name_, e.what());
    }
    agent_.reset();
    frozen_ = false;
  }

 private:
  std::string name_;
  std::optional<QmpClient> agent_;
  bool frozen_ = false;
};

class SaveVerb final : public Verb {
 public:
  void declare(CLI::App& app) override {
    cmd_ = app.add_subcommand("save", "Save a VM's disk as a new revision of its image, or as a new image (-d)");
    add_job_options(cmd_, job_);
    cmd_->add_option("-d,--dest", dest_, "A new image [REPO:]NAME instead of a new revision (default repository: "
                                         "the first of repos.yaml)");
    cmd_->add_flag("--full", full_, "Save the whole disk as one standalone layer (no backing chain), as pcocc's --full");
    cmd_->add_option("--timeout", timeout_s_, "Seconds to wait for the copy")->capture_default_str();
    cmd_->add_option("VM", vm_, "The VM (default vm0)")->capture_default_str();
    cmd_->footer(
        "The VM keeps running. Its filesystems are frozen through qemu-guest-agent while the copy starts\n"
        "(a warning says so when no agent answers). Concurrent saves get distinct revisions.");
  }

  bool selected() const override { return cmd_->parsed(); }

  int run() override {
    const auto [dir, cluster, vm] = find_one_vm(job_, vm_, "save");
    if (vm.image.is_null() || !vm.image.contains("file")) {
      throw Error(fmt::format("{} has no disk image to save", vm.name), ErrorKind::usage);
    }
    // Check what can be checked before the node is asked.
    std::optional<ImageRef> dest;
    if (!dest_.empty()) dest = parse_image_ref(dest_);
    if (!dest && !vm.image.contains("repo")) {
      throw Error(fmt::format("{} booted from the file {}, not from a repository image: give -d [REPO:]NAME to save "
                              "it as a new image",
                              vm.name, vm.image.value("file", "")),
                  ErrorKind::usage);
    }
    if (!on_node(vm.node)) return run_on_node(cluster, vm.node, false);

    const auto cfg = config::load_config(config::config_dirs_from_env());
    const auto subst = config::SubstitutionContext::for_current_process();
    // Where the new layer goes, and what it goes on.
    std::optional<ImageRepo> source;
    if (vm.image.contains("repo")) {
      source = ImageRepo::open(vm.image.at("repo").get<std::string>(), vm.image.at("repo_path").get<std::string>());
    }
    std::optional<ImageRepo> target;
    std::string name;
    std::optional<ImageRevision> base;
    if (dest) {
      target = open_target_repo(cfg.repos, subst, dest->repo);
      name = dest->name;
      if (!target->revisions(name).empty()) {
        throw Error(fmt::format("image {}:{} exists already: choose another name, or save without -d", target->name(),
                                name),
                    ErrorKind::usage);
      }
    } else {
      target = source;
      name = vm.image.at("name").get<std::string>();
    }
    // From the first blob copied to the new revision: `vm image repo gc` waits (image_repo.hpp).
    std::optional<ImageRepo::WriteGuard> guard;
    if (target) guard.emplace(target->write_guard());
    if (source) {
      base = source->find(vm.image.at("name").get<std::string>(), vm.image.at("revision").get<std::uint32_t>());
      if (!base) {
        throw Error(fmt::format("{}:{} revision {}, which {} booted from, was deleted meanwhile", source->name(),
                                vm.image.at("name").get<std::string>(), vm.image.at("revision").get<std::uint32_t>(),
                                vm.name),
                    ErrorKind::not_found);
      }
      // A standalone copy needs none of the layers below; the revision it follows is enough.
      if (!full_ && target->path() != source->path()) target->copy_blobs_from(*source, *base);
    } else if (!full_) {
      base = target->base_from_file(vm.image.at("file").get<std::string>());
    }

    const fs::path layer = target->tmp_dir() / fmt::format("save-{}-{}-{}", dir.job_id(), vm.name, ::getpid());
    try {
      backup(vm, layer);
      const auto rev = full_ ? target->add_standalone(name, base, layer, user_name())
                             : target->add_layer(name, base, layer, user_name());
      std::cout << fmt::format("{} disk saved to {}:{} revision {}{}\n", vm.name, target->name(), rev.name, rev.revision,
                               full_ ? " (standalone)" : "");
    } catch (...) {
      ::unlink(layer.c_str());
      throw;
    }
    return 0;
  }

 private:
  void backup(const VmFile& vm, const fs::path& layer) const {
    auto qmp = with_context(fmt::format("on {}", vm.node), [&] { return QmpClient::connect(vm.qmp, {.timeout = 10s}); });
    const DiskCopy copy{.vm = vm.name, .device = disk_device(qmp, vm.disk), .target = layer, .full = full_};
    std::string job;
    {
      Freeze freeze(vm);
      job = start_disk_copy(qmp, copy);
    }  // thawed: drive-backup copies the blocks as they were when it started
    wait_disk_copy(qmp, copy, job, std::chrono::seconds(timeout_s_));
    // A VM restored from a checkpoint: its overlay sits on the checkpoint's layer, whose data
    // the new layer takes in, so that it sits on the revision the VM first booted from.
    if (const auto old = vm.image.find("checkpoint_layer"); !full_ && old != vm.image.end()) {
      rebase_off_checkpoint(layer, old->get<std::string>());
    }
  }

  CLI::App* cmd_ = nullptr;
  JobSelection job_;
  std::string dest_;
  int timeout_s_ = 3600;
  bool full_ = false;
  std::string vm_ = "vm0";
};

}  // namespace

std::unique_ptr<Verb> make_save_verb() { return std::make_unique<SaveVerb>(); }

}  // namespace slurmvm::cli
