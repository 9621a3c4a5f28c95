// Image repositories in pcocc's format (version 2), so that a pcocc site's repositories work
// as they are (pcocc-anatomy.md §2.5):
//   <repo>/.config                 {version: 2}
//   <repo>/data/<h[:2]>/<sha256>   qcow2 layers, read-only (0444); a layer's backing file is the
//                                  relative path ../../data/xx/<hash> of the layer below
//   <repo>/meta/<name>@<rev>       {name, revision, kind: vm, owner, timestamp, data_blobs[],
//                                  custom_meta}; the last blob is the top layer
//   <repo>/.tmp/                   imports and saves in flight
//   <repo>/.gc-lock                slurm-vm's: writers share it, `vm image repo gc` takes it alone
// A revision is created with link(2) from a complete file in .tmp: it appears whole or not at
// all, and two saves never take the same number (EEXIST: the next one is tried), which pcocc
// got wrong (§6 item 19). Templates name images `[REPO:]NAME[@REV]`.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/repos.hpp"
#include "unique_fd.hpp"
#include "config/substitutions.hpp"

namespace slurmvm {

struct ImageRef {
  std::string repo;  // empty: the first repository that has the image
  std::string name;
  std::optional<std::uint32_t> revision;  // unset: the newest
  std::string to_string() const;
};

// "[REPO:]NAME[@REV]"; throws Error(usage) naming what is wrong.
ImageRef parse_image_ref(std::string_view text);

// 1 to 128 letters, digits, '_', '-' or '.', starting with a letter or digit: an image or
// repository name (a path component, and safe in QEMU's option strings).
bool valid_image_name(std::string_view name);
// True when a template's `image` value names a repository image (it has no '/').
bool is_repo_image(std::string_view image);

struct ImageRevision {
  std::string name;
  std::uint32_t revision = 0;
  std::string kind = "vm";
  std::string owner;
  std::int64_t timestamp = 0;  // seconds since the epoch
  std::vector<std::string> data_blobs;  // bottom first
  std::string custom_meta = "{}";       // kept as JSON text
};

class ImageRepo {
 public:
  // An existing repository; Error(not_found) when `path` holds none (no .config), Error(config)
  // for another version (pcocc's format 1: the message says `vm image repo gc` upgrades it).
  static ImageRepo open(std::string name, std::filesystem::path path);
  // The same for a repository in pcocc's format 1 too, to upgrade it (collect_garbage()).
  static ImageRepo open_any_version(std::string name, std::filesystem::path path);
  int version() const noexcept { return version_; }
  // Creates the layout when missing, then opens it. A user's own repository (repos.yaml in
  // ~/.config) is created 0700: saved images hold the guest's host keys, /root and user data,
  // and homes are often traversable by others. A site's is 0755.
  enum class Visibility { site, owner_only };
  static ImageRepo open_or_create(std::string name, std::filesystem::path path,
                                  Visibility visibility = Visibility::site);

  const std::string& name() const noexcept { return name_; }
  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path tmp_dir() const { return path_ / ".tmp"; }
  std::filesystem::path blob_path(const std::string& hash) const;

  std::vector<std::string> image_names() const;                  // sorted
  std::vector<ImageRevision> revisions(const std::string& name) const;  // ascending
  // The revision, or the newest when `revision` is unset; nullopt when missing.
  std::optional<ImageRevision> find(const std::string& name, std::optional<std::uint32_t> revision) const;
  std::filesystem::path top_layer(const ImageRevision& rev) const { return blob_path(rev.data_blobs.back()); }

  // Moves `layer` (a qcow2 file in tmp_dir(), whose backing file is the top layer of `below`,
  // or none) into data/ under its sha256, rebased onto the relative path of that layer, and
  // records a new revision of `name` = below's blobs + this one: `below`'s revision + 1 or
  // more, 0 without `below` (a new image: Error(usage) when `name` exists). Returns it.
  ImageRevision add_layer(const std::string& name, const std::optional<ImageRevision>& below,
                          const std::filesystem::path& layer, const std::string& owner);

  // Moves `image` (a standalone qcow2 in tmp_dir(), no backing file) into data/ and records it
  // as the whole of a new revision of `name`: the one after `previous` (or later, if taken), or
  // revision 0 of a new image without it (`vm save --full`).
  ImageRevision add_standalone(const std::string& name, const std::optional<ImageRevision>& previous,
                               const std::filesystem::path& image, const std::string& owner);

  // Copies the blobs of `rev` from `from` that this repository lacks (content-addressed).
  void copy_blobs_from(const ImageRepo& from, const ImageRevision& rev);

  // `file` (any format qemu-img reads, flattened) as a blob of this repository, described as a
  // one-layer revision that is not recorded anywhere: the base for a new image made from a VM
  // whose image was a file (`vm save -d`).
  ImageRevision base_from_file(const std::filesystem::path& file);

  // Imports `source` (any format qemu-img reads) as revision 0 of a new image `name`.
  // `source_format` empty: qemu-img probes it.
  ImageRevision import_file(const std::string& name, const std::filesystem::path& source, const std::string& owner,
                            const std::string& source_format = {});

  // Removes one revision, or every revision of the image (the meta files: blobs may be shared).
  // Returns how many were removed.
  std::size_t remove(const std::string& name, std::optional<std::uint32_t> revision);

  // Revision 0 of a new image `name` here with the layers of `rev` of `from` (this repository
  // or another): blobs this one lacks are copied, shared ones are not. Error(usage) when `name`
  // exists.
  ImageRevision copy_image(const ImageRepo& from, const ImageRevision& rev, const std::string& name,
                           const std::string& owner);

  // The next revision of `rev`'s image: a new top layer of virtual size `new_size` bytes over
  // `rev`'s. Error(usage) when that is smaller than the image (a guest's filesystem would lose
  // its end); growing it is the guest's job (growpart, resize2fs).
  ImageRevision resize(const ImageRevision& rev, std::uint64_t new_size, const std::string& owner);
  // The virtual size of `rev`, in bytes (qemu-img info).
  std::uint64_t virtual_size(const ImageRevision& rev) const;

  // Deletes the data blobs no revision references and the leftovers of interrupted imports and
  // saves in .tmp (untouched for an hour), with every writer of this repository kept out
  // meanwhile (WriteGuard); a repository in pcocc's format 1 is upgraded to 2 first (pcocc's
  // own gc did the same). Error(timeout) when a writer holds the repository for `wait`.
  struct GcReport {
    std::size_t blobs = 0;
    std::uintmax_t bytes = 0;
    std::size_t tmp_files = 0;
    std::size_t upgraded_revisions = 0;  // format 1 -> 2
  };
  GcReport collect_garbage(std::chrono::seconds wait = std::chrono::seconds(30));

  // Held by whatever adds blobs and revisions, from its first file in .tmp to its commit (an
  // import, a save, a copy, a resize): collect_garbage() takes the same lock exclusively, so a
  // blob stored but not yet referenced is never taken for garbage. An flock on <repo>/.gc-lock.
  class WriteGuard {
   private:
    friend class ImageRepo;
    explicit WriteGuard(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;  // the lock goes with it
  };
  // Waits up to `wait` for a garbage collection to finish; Error(timeout) after.
  WriteGuard write_guard(std::chrono::seconds wait = std::chrono::minutes(10)) const;

 private:
  ImageRepo(std::string name, std::filesystem::path path, int version = 2)
      : name_(std::move(name)), path_(std::move(path)), version_(version) {}
  void upgrade_from_v1(GcReport& report);
  std::string store_blob(const std::filesystem::path& file);  // returns the hash
  ImageRevision commit(ImageRevision rev, bool new_image);

  std::string name_;
  std::filesystem::path path_;
  int version_ = 2;
};

// `vm image resize`'s SIZE in bytes: N[K|M|G|T] (binary units, any case), or +N[K|M|G|T] added
// to `current`. Error(usage) for anything else or a size past 2^63.
std::uint64_t parse_image_size(std::string_view text, std::uint64_t current);

// The repositories of the configuration, in lookup order, paths expanded for `subst`;
// repositories whose directory holds no repository yet are skipped unless `create_first`
// (the first one is then created: where `vm image import` and `vm save -d` write by default).
std::vector<ImageRepo> open_repos(const config::RepoConfig& config, const config::SubstitutionContext& subst,
                                  bool create_first = false);

// Where a new image goes: repository `repo` of the configuration, or the first when empty,
// created when missing (a user's own 0700, image_repo.hpp). Error(config) with no repository,
// Error(not_found) naming an unknown one.
ImageRepo open_target_repo(const config::RepoConfig& config, const config::SubstitutionContext& subst,
                           const std::string& repo);

// The repository and revision `ref` names, looked up in `repos` in order. Error(not_found)
// saying where it looked.
std::pair<const ImageRepo*, ImageRevision> find_image(const std::vector<ImageRepo>& repos, const ImageRef& ref);

// The sha256 of a file, as hex (sha256sum, with a deadline).
std::string sha256_file(const std::filesystem::path& file);

}  // namespace slurmvm
