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

// "1.5 GiB"
std::string human_size(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(kUnits)) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, kUnits[u]);
}

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
    delete_ = cmd_->add_subcommand("delete", "Delete one revision of an image, or all (`repo gc` frees the space)");
    delete_->add_option("IMAGE", image_, "[REPO:]NAME[@REV]")->required();
    copy_ = cmd_->add_subcommand("copy", "Copy an image revision as a new image, in the same or another repository");
    copy_->add_option("SOURCE", image_, "[REPO:]NAME[@REV]")->required();
    copy_->add_option("DEST", dest_, "[REPO:]NAME (default repository: the first of repos.yaml)")->required();
    resize_ = cmd_->add_subcommand("resize", "Grow an image: a new revision with a larger disk");
    resize_->add_option("IMAGE", image_, "[REPO:]NAME[@REV]")->required();
    resize_->add_option("SIZE", size_, "The new size (20G, 512M, ...) or +INCREMENT (+1G); binary units")->required();
    repo_cmd_ = cmd_->add_subcommand("repo", "The repositories of repos.yaml");
    repo_cmd_->require_subcommand(1);
    repo_list_ = repo_cmd_->add_subcommand("list", "List the repositories, in lookup order");
    repo_gc_ = repo_cmd_->add_subcommand("gc", "Free the layers no revision uses; upgrade a pcocc format 1 repository");
    repo_gc_->add_option("REPO", repo_, "The repository")->required();
  }

  bool selected() const override { return cmd_->parsed(); }

  int run() override {
    const auto cfg = config::load_config(config::config_dirs_from_env());
    const auto subst = config::SubstitutionContext::for_current_process();
    if (import_->parsed()) return do_import(cfg, subst);
    if (repo_list_->parsed()) return do_repo_list(cfg, subst);
    if (repo_gc_->parsed()) return do_repo_gc(cfg, subst);
    const auto repos = open_repos(cfg.repos, subst);
    if (copy_->parsed()) return do_copy(cfg, subst, repos);
    if (resize_->parsed()) return do_resize(repos);
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
    auto repo = open_target_repo(cfg.repos, subst, ref.repo);
    const auto rev = repo.import_file(ref.name, fs::absolute(file_), user_name(), source_format_);
    std::cout << fmt::format("imported {} as {}:{} revision {}\n", file_, repo.name(), rev.name, rev.revision);
    return 0;
  }

  int do_copy(const config::Config& cfg, const config::SubstitutionContext& subst,
              const std::vector<ImageRepo>& repos) const {
    const auto [from, rev] = find_image(repos, parse_image_ref(image_));
    const ImageRef dest = parse_image_ref(dest_);
    if (dest.revision) throw Error("a copy is revision 0 of a new image: give [REPO:]NAME", ErrorKind::usage);
    auto repo = open_target_repo(cfg.repos, subst, dest.repo);
    const auto copy = repo.copy_image(*from, rev, dest.name, user_name());
    std::cout << fmt::format("copied {}:{} revision {} to {}:{} revision {}\n", from->name(), rev.name, rev.revision,
                             repo.name(), copy.name, copy.revision);
    return 0;
  }

  int do_resize(const std::vector<ImageRepo>& repos) const {
    const ImageRef ref = parse_image_ref(image_);
    const auto [found, rev] = find_image(repos, ref);
    ImageRepo repo = ImageRepo::open(found->name(), found->path());
    const std::uint64_t now = repo.virtual_size(rev);
    const std::uint64_t size = parse_image_size(size_, now);
    const auto next = repo.resize(rev, size, user_name());
    std::cout << fmt::format("resized {}:{} revision {} from {} to {} as revision {} (grow the guest's partition and "
                             "filesystem inside the VM)\n",
                             repo.name(), rev.name, rev.revision, human_size(now), human_size(size), next.revision);
    return 0;
  }

  int do_repo_list(const config::Config& cfg, const config::SubstitutionContext& subst) const {
    Table t({"NAME", "PATH", "LEVEL", "WRITABLE", "IMAGES"});
    for (const auto& r : cfg.repos.repos) {
      const fs::path path = config::expand_substitutions(r.path, subst);
      std::string images = "-";
      try {
        images = std::to_string(ImageRepo::open(r.name, path).image_names().size());
      } catch (const Error& e) {
        images = e.kind() == ErrorKind::not_found ? "none yet" : "unreadable";
      }
      const bool writable = ::access((fs::exists(path) ? path : path.parent_path()).c_str(), W_OK) == 0;
      t.add_row({r.name, path.string(), std::string(config::to_string(r.origin)), writable ? "yes" : "no", images});
    }
    t.print(std::cout);
    return 0;
  }

  int do_repo_gc(const config::Config& cfg, const config::SubstitutionContext& subst) const {
    for (const auto& r : cfg.repos.repos) {
      if (r.name != repo_) continue;
      ImageRepo repo = ImageRepo::open_any_version(r.name, config::expand_substitutions(r.path, subst));
      const auto report = repo.collect_garbage();
      if (report.upgraded_revisions > 0) {
        std::cout << fmt::format("upgraded repository {} to format 2 ({} revisions)\n", repo.name(),
                                 report.upgraded_revisions);
      }
      std::cout << fmt::format("repository {}: removed {} unused layer{} and {} leftover file{}, {} freed\n",
                               repo.name(), report.blobs, report.blobs == 1 ? "" : "s", report.tmp_files,
                               report.tmp_files == 1 ? "" : "s", human_size(report.bytes));
      return 0;
    }
    throw Error(fmt::format("no repository named {} (`vm image repo list` shows them)", repo_), ErrorKind::not_found);
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
  CLI::App *copy_ = nullptr, *resize_ = nullptr, *repo_cmd_ = nullptr, *repo_list_ = nullptr, *repo_gc_ = nullptr;
  std::string repo_, regex_, image_, file_, format_ = "qcow2", source_format_, dest_, size_;
};

}  // namespace

std::unique_ptr<Verb> make_image_verb() { return std::make_unique<ImageVerb>(); }

}  // namespace slurmvm::cli
