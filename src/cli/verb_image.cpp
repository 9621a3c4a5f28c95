// `vm image list|show|import|export|delete`: the image repositories of repos.yaml (the user's
// first), in pcocc's format (image_repo.hpp).
//   list [-R REPO] [REGEX]          NAME REVISION REPO OWNER DATE, the newest revision of each
//   show [REPO:]NAME                its revisions: REVISION SIZE DATE OWNER
//   import SRC [REPO:]NAME          a file qemu-img reads -> revision 0 of a new image
//   export [REPO:]NAME[@REV] DST    the revision, flattened, as a qcow2 (or -t FMT) file
//   delete [REPO:]NAME[@REV]        one revision, or all (their layers may stay: shared)
#include <pwd.h>
#include <unistd.h>

#include <ctime>
#include <iostream>
#include <regex>

#include <fmt/format.h>

#include "config/config.hpp"
#include "error.hpp"
#include "job_files.hpp"
#include "image_repo.hpp"
#include "subprocess.hpp"
#include "table.hpp"
#include "verb.hpp"

namespace slurmvm::cli {
namespace {

namespace fs = std::filesystem;

std::string date(std::int64_t t) {
  char buf[32];
  const std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  ::localtime_r(&tt, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

// A qemu-img format name (raw, qcow2, vmdk, ...): a word, never something qemu-img could read
// as an option.
const CLI::Validator kQemuImgFormat(
    [](const std::string& s) -> std::string {
      static const std::regex word("[a-z0-9][a-z0-9_-]{0,31}");
      return std::regex_match(s, word) ? "" : "not a qemu-img format name (raw, qcow2, vmdk, ...)";
    },
    "FORMAT");

class ImageVerb final : public Verb {
 public:
  void declare(CLI::App& app) override {
    cmd_ = app.add_subcommand("image", "Manage VM images in the repositories of repos.yaml");
    cmd_->require_subcommand(1);
    list_ = cmd_->add_subcommand("list", "List the images (newest revision of each)");
    list_->add_option("-R,--repo", repo_, "Only this repository");
    list_->add_option("REGEX", regex_, "Only names matching this extended regular expression");
    show_ = cmd_->add_subcommand("show", "Show an image's revisions");
    show_->add_option("IMAGE", image_, "[REPO:]NAME")->required();
    import_ = cmd_->add_subcommand("import", "Import a disk image file as a new image");
    import_->add_option("SOURCE", file_, "A file qemu-img reads (qcow2, raw, vmdk, ...)")->required()->check(CLI::ExistingFile);
    import_->add_option("IMAGE", image_, "[REPO:]NAME (default repository: the first of repos.yaml)")->required();
    // pcocc's long name is --fmt; qemu-img probes the format when none is given.
    import_->add_option("-t,--format,--fmt", source_format_, "The source's format (qemu-img's: raw, qcow2, vmdk, ...; default: probed)")
        ->check(kQemuImgFormat);
    export_ = cmd_->add_subcommand("export", "Write an image revision to a file");
    export_->add_option("-t,--format,--fmt", format_, "Output format (qemu-img's)")->capture_default_str()->check(kQemuImgFormat);
    export_->add_option("IMAGE", image_, "[REPO:]NAME[@REV]")->required();
    export_->add_option("FILE", file_, "The file to write (must not exist)")->required();
    delete_ = cmd_->add_subcommand("delete", "Delete one revision of an image, or all");
    delete_->add_option("IMAGE", image_, "[REPO:]NAME[@REV]")->required();
  }

  bool selected() const override { return cmd_->parsed(); }

  int run() override {
    const auto cfg = config::load_config(config::config_dirs_from_env());
    const auto subst = config::SubstitutionContext::for_current_process();
    if (import_->parsed()) return do_import(cfg, subst);
    const auto repos = open_repos(cfg.repos, subst);
    if (list_->parsed()) return do_list(repos);
    const ImageRef ref = parse_image_ref(image_);
    if (show_->parsed()) return do_show(repos, ref);
    if (export_->parsed()) return do_export(repos, ref);
    return do_delete(repos, ref);
  }

 private:
  int do_list(const std::vector<ImageRepo>& repos) const {
    std::optional<std::regex> re;
    if (!regex_.empty()) {
      try {
        re.emplace(regex_, std::regex::extended);
      } catch (const std::regex_error& e) {
        throw Error(fmt::format("\"{}\" is not a regular expression: {}", regex_, e.what()), ErrorKind::usage);
      }
    }
    Table t({"NAME", "REVISION", "REPO", "OWNER", "DATE"});
    for (const auto& repo : repos) {
      if (!repo_.empty() && repo.name() != repo_) continue;
      for (const auto& name : repo.image_names()) {
        if (re && !std::regex_search(name, *re)) continue;
        const auto rev = repo.find(name, std::nullopt);
        if (rev) t.add_row({name, std::to_string(rev->revision), repo.name(), rev->owner, date(rev->timestamp)});
      }
    }
    t.print(std::cout);
    return 0;
  }

  static int do_show(const std::vector<ImageRepo>& repos, const ImageRef& ref) {
    const auto [repo, newest] = find_image(repos, ImageRef{ref.repo, ref.name, std::nullopt});
    std::cout << fmt::format("Repo: {} ({})\nName: {}\nType: {}\nURI:  {}:{}\n\n", repo->name(), repo->path().string(),
                             newest.name, newest.kind, repo->name(), newest.name);
    Table t({"REVISION", "SIZE", "LAYERS", "DATE", "OWNER"});
    for (const auto& r : repo->revisions(ref.name)) {
      std::error_code ec;
      const auto size = fs::file_size(repo->top_layer(r), ec);
      t.add_row({std::to_string(r.revision), ec ? "?" : fmt::format("{:.1f} MiB", static_cast<double>(size) / 1048576.0),
                 std::to_string(r.data_blobs.size()), date(r.timestamp), r.owner});
    }
    t.print(std::cout);
    return 0;
  }

  int do_import(const config::Config& cfg, const config::SubstitutionContext& subst) const {
    const ImageRef ref = parse_image_ref(image_);
    if (ref.revision) throw Error("an imported image is revision 0: give [REPO:]NAME", ErrorKind::usage);
    if (cfg.repos.repos.empty()) throw Error("no image repository is configured (repos.yaml)", ErrorKind::config);
    for (const auto& r : cfg.repos.repos) {
      if (!ref.repo.empty() && r.name != ref.repo) continue;
      auto repo = ImageRepo::open_or_create(r.name, config::expand_substitutions(r.path, subst),
                                         r.origin == config::Origin::user ? ImageRepo::Visibility::owner_only
                                                                          : ImageRepo::Visibility::site);
      const auto rev = repo.import_file(ref.name, fs::absolute(file_), user_name(), source_format_);
      std::cout << fmt::format("imported {} as {}:{} revision {}\n", file_, repo.name(), rev.name, rev.revision);
      return 0;
    }
    throw Error(fmt::format("no repository named {} (see repos.yaml)", ref.repo), ErrorKind::not_found);
  }

  int do_export(const std::vector<ImageRepo>& repos, const ImageRef& ref) const {
    const auto [repo, rev] = find_image(repos, ref);
    if (fs::exists(file_)) throw Error(fmt::format("{} exists: remove it or choose another file", file_), ErrorKind::usage);
    Command c;
    c.argv = {"/usr/bin/qemu-img", "convert", "-O", format_, repo->top_layer(rev).string(), file_};
    c.timeout = std::chrono::hours(2);
    with_context(fmt::format("exporting {}:{}@{}", repo->name(), rev.name, rev.revision), [&] { run_checked(c); });
    std::cout << fmt::format("exported {}:{} revision {} to {} ({})\n", repo->name(), rev.name, rev.revision, file_, format_);
    return 0;
  }

  static int do_delete(const std::vector<ImageRepo>& repos, const ImageRef& ref) {
    auto [repo, rev] = find_image(repos, ref);
    // The repositories were opened read-only in intent; removal needs the same one by path.
    ImageRepo writable = ImageRepo::open(repo->name(), repo->path());
    const auto n = writable.remove(rev.name, ref.revision);
    std::cout << fmt::format("deleted {} revision{} of {}:{}\n", n, n == 1 ? "" : "s", repo->name(), rev.name);
    return 0;
  }

  CLI::App* cmd_ = nullptr;
  CLI::App *list_ = nullptr, *show_ = nullptr, *import_ = nullptr, *export_ = nullptr, *delete_ = nullptr;
  std::string repo_, regex_, image_, file_, format_ = "qcow2", source_format_;
};

}  // namespace

std::unique_ptr<Verb> make_image_verb() { return std::make_unique<ImageVerb>(); }

}  // namespace slurmvm::cli
