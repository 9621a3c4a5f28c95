// Image repositories (image_repo.hpp).
#include "image_repo.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <fstream>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "error.hpp"
#include "image_repo_detail.hpp"
#include "file_read.hpp"
#include "subprocess.hpp"
#include "unique_fd.hpp"

namespace slurmvm {
namespace fs = std::filesystem;
using nlohmann::json;

namespace image_repo_detail {

// qemu-img from the system directories only (no PATH trust), as vm-launch finds QEMU.
std::string qemu_img() {
  for (const char* p : {"/usr/bin/qemu-img", "/usr/local/bin/qemu-img"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  throw Error("qemu-img is not installed (looked in /usr/bin, /usr/local/bin)", ErrorKind::not_found);
}

// A unique name in `dir` for a file being made.
fs::path scratch_name(const fs::path& dir, std::string_view what) {
  std::random_device rd;
  return dir / fmt::format("{}.{}.{:08x}{:08x}", what, ::getpid(), rd(), rd());
}

void write_new_file(const fs::path& p, const std::string& content, mode_t mode) {
  UniqueFd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd) throw Error::from_errno("cannot create " + p.string(), errno);
  for (std::size_t done = 0; done < content.size();) {
    const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error::from_errno("cannot write " + p.string(), errno);
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) throw Error::from_errno("fsync " + p.string(), errno);
}

json to_json(const ImageRevision& r) {
  return {{"name", r.name},       {"revision", r.revision},     {"kind", r.kind},
          {"owner", r.owner},     {"timestamp", r.timestamp},   {"data_blobs", r.data_blobs},
          {"custom_meta", json::parse(r.custom_meta)}};
}

ImageRevision parse_meta(const fs::path& file) {
  try {
    const json j = json::parse(read_file(file, kMaxMetadataBytes));
    ImageRevision r;
    r.name = j.at("name").get<std::string>();
    r.revision = j.at("revision").get<std::uint32_t>();
    r.kind = j.value("kind", "vm");
    r.owner = j.value("owner", "");
    r.timestamp = j.value("timestamp", std::int64_t{0});
    r.data_blobs = j.at("data_blobs").get<std::vector<std::string>>();
    r.custom_meta = j.value("custom_meta", json::object()).dump();
    if (r.data_blobs.empty()) throw Error("no data_blobs");
    for (const auto& h : r.data_blobs) {
      if (h.size() != 64 || h.find_first_not_of("0123456789abcdef") != std::string::npos) {
        throw Error(fmt::format("\"{}\" is not a sha256", h));
      }
    }
    return r;
  } catch (const std::exception& e) {
    throw Error(fmt::format("{} is not an image revision: {}", file.string(), e.what()), ErrorKind::config);
  }
}

// "name@rev" -> (name, rev)
std::optional<std::pair<std::string, std::uint32_t>> split_meta_name(const std::string& file) {
  const auto at = file.rfind('@');
  if (at == std::string::npos || at == 0) return std::nullopt;
  std::uint32_t rev = 0;
  const char* b = file.data() + at + 1;
  const char* e = file.data() + file.size();
  const auto [end, ec] = std::from_chars(b, e, rev);
  if (ec != std::errc() || end != e || b == e) return std::nullopt;
  return std::make_pair(file.substr(0, at), rev);
}

void run_qemu_img(std::vector<std::string> args, const std::string& what) {
  Command c;
  c.argv = {qemu_img()};
  c.argv.insert(c.argv.end(), args.begin(), args.end());
  c.timeout = kQemuImgTimeout;
  with_context(what, [&] { run_checked(c); });
}

}  // namespace image_repo_detail

using namespace image_repo_detail;

namespace {

// The version .config declares (pcocc writes YAML, `version: 2`; ours is also JSON); 0 when it
// declares none.
int repo_version(const std::string& name, const fs::path& path) {
  const auto cfg = path / ".config";
  if (!fs::exists(cfg)) {
    throw Error(fmt::format("repository {} ({}) does not exist yet: nothing was imported or saved into it", name,
                            path.string()),
                ErrorKind::not_found);
  }
  const std::string text = read_file(cfg, kMaxMetadataBytes);
  try {
    const YAML::Node doc = YAML::Load(text);
    if (doc.IsMap() && doc["version"]) return doc["version"].as<int>();
  } catch (const YAML::Exception&) {
    // Reported below, with the text.
  }
  throw Error(fmt::format("repository {}: {} does not say its version ({})", name, cfg.string(), text),
              ErrorKind::config);
}

}  // namespace

ImageRepo ImageRepo::open(std::string name, fs::path path) {
  const int version = repo_version(name, path);
  if (version == 1) {
    throw Error(fmt::format("repository {} ({}) is in pcocc's format 1: upgrade it to format 2, which pcocc 0.7 "
                            "reads too, with `vm image repo gc {}`",
                            name, path.string(), name),
                ErrorKind::config);
  }
  if (version != 2) {
    throw Error(fmt::format("repository {}: {} is a version {} repository; this slurm-vm reads version 2", name,
                            path.string(), version),
                ErrorKind::config);
  }
  return ImageRepo(std::move(name), std::move(path));
}

ImageRepo ImageRepo::open_any_version(std::string name, fs::path path) {
  const int version = repo_version(name, path);
  if (version != 1 && version != 2) return open(std::move(name), std::move(path));  // its message
  return ImageRepo(std::move(name), std::move(path), version);
}

ImageRepo ImageRepo::open_or_create(std::string name, fs::path path, Visibility visibility) {
  if (!fs::exists(path / ".config")) {
    const mode_t dir_mode = visibility == Visibility::owner_only ? 0700 : 0755;
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    if (ec) throw Error::from_errno("cannot create " + path.parent_path().string(), ec.value());
    if (::mkdir(path.c_str(), dir_mode) != 0 && errno != EEXIST) {
      throw Error::from_errno("cannot create " + path.string(), errno);
    }
    for (const fs::path& d : {path / "data", path / "meta", path / ".tmp"}) {
      if (::mkdir(d.c_str(), dir_mode) != 0 && errno != EEXIST) throw Error::from_errno("cannot create " + d.string(), errno);
    }
    const auto tmp = scratch_name(path / ".tmp", "config");
    write_new_file(tmp, "{version: 2}\n", 0644);
    // Two first imports at once: the loser's link fails, the winner's file is the same.
    if (::link(tmp.c_str(), (path / ".config").c_str()) != 0 && errno != EEXIST) {
      const int e = errno;
      ::unlink(tmp.c_str());
      throw Error::from_errno("cannot create " + (path / ".config").string(), e);
    }
    ::unlink(tmp.c_str());
  }
  return open(std::move(name), std::move(path));
}

fs::path ImageRepo::blob_path(const std::string& hash) const { return path_ / "data" / hash.substr(0, 2) / hash; }

std::vector<std::string> ImageRepo::image_names() const {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(path_ / "meta", ec)) {
    if (auto p = split_meta_name(e.path().filename().string())) names.push_back(p->first);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::vector<ImageRevision> ImageRepo::revisions(const std::string& name) const {
  std::vector<ImageRevision> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(path_ / "meta", ec)) {
    const auto p = split_meta_name(e.path().filename().string());
    if (p && p->first == name) out.push_back(parse_meta(e.path()));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.revision < b.revision; });
  return out;
}

std::optional<ImageRevision> ImageRepo::find(const std::string& name, std::optional<std::uint32_t> revision) const {
  if (revision) {
    const auto file = path_ / "meta" / fmt::format("{}@{}", name, *revision);
    if (!fs::exists(file)) return std::nullopt;
    return parse_meta(file);
  }
  auto all = revisions(name);
  if (all.empty()) return std::nullopt;
  return all.back();
}

std::string ImageRepo::store_blob(const fs::path& file) {
  const std::string hash = sha256_file(file);
  const fs::path dest = blob_path(hash);
  if (::mkdir(dest.parent_path().c_str(), 0755) != 0 && errno != EEXIST) {
    throw Error::from_errno("cannot create " + dest.parent_path().string(), errno);
  }
  if (::chmod(file.c_str(), 0444) != 0) throw Error::from_errno("chmod " + file.string(), errno);
  // The same content may already be there (content addressing): then ours is dropped.
  if (::link(file.c_str(), dest.c_str()) != 0 && errno != EEXIST) {
    throw Error::from_errno("cannot store " + dest.string(), errno);
  }
  ::unlink(file.c_str());
  return hash;
}

ImageRevision ImageRepo::commit(ImageRevision rev, bool new_image) {
  if (new_image && !revisions(rev.name).empty()) {
    throw Error(fmt::format("image {}:{} exists already: choose another name", name_, rev.name), ErrorKind::usage);
  }
  rev.timestamp = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count();
  // link(2) never replaces: a revision another save took meanwhile makes us take the next.
  for (int attempt = 0; attempt < 1000; ++attempt, ++rev.revision) {
    const auto tmp = scratch_name(tmp_dir(), "meta");
    write_new_file(tmp, to_json(rev).dump(2) + "\n", 0444);
    const auto dest = path_ / "meta" / fmt::format("{}@{}", rev.name, rev.revision);
    const int rc = ::link(tmp.c_str(), dest.c_str());
    const int err = errno;
    ::unlink(tmp.c_str());
    if (rc == 0) return rev;
    if (err != EEXIST) throw Error::from_errno("cannot create " + dest.string(), err);
    if (new_image) {
      throw Error(fmt::format("image {}:{} was created meanwhile by someone else", name_, rev.name), ErrorKind::usage);
    }
  }
  throw Error(fmt::format("image {}:{}: no free revision number", name_, rev.name), ErrorKind::system);
}

ImageRevision ImageRepo::add_layer(const std::string& name, const std::optional<ImageRevision>& below,
                                   const fs::path& layer, const std::string& owner) {
  if (!valid_image_name(name)) throw Error(fmt::format("\"{}\" is not an image name", name), ErrorKind::usage);
  const WriteGuard guard = write_guard();
  if (below) {
    // The backing file as pcocc writes it, relative to the layer's own place in data/.
    const std::string rel = fmt::format("../../data/{}/{}", below->data_blobs.back().substr(0, 2),
                                        below->data_blobs.back());
    run_qemu_img({"rebase", "-u", "-F", "qcow2", "-b", rel, layer.string()}, "pointing the new layer at its base");
  }
  ImageRevision rev;
  rev.name = name;
  rev.owner = owner;
  rev.revision = below && below->name == name ? below->revision + 1 : 0;
  if (below) rev.data_blobs = below->data_blobs;
  rev.data_blobs.push_back(store_blob(layer));
  return commit(std::move(rev), !(below && below->name == name));
}

ImageRevision ImageRepo::add_standalone(const std::string& name, const std::optional<ImageRevision>& previous,
                                        const fs::path& image, const std::string& owner) {
  if (!valid_image_name(name)) throw Error(fmt::format("\"{}\" is not an image name", name), ErrorKind::usage);
  const WriteGuard guard = write_guard();
  const bool next_of_same = previous && previous->name == name;
  ImageRevision rev;
  rev.name = name;
  rev.owner = owner;
  rev.revision = next_of_same ? previous->revision + 1 : 0;
  rev.data_blobs.push_back(store_blob(image));
  return commit(std::move(rev), !next_of_same);
}

void ImageRepo::copy_blobs_from(const ImageRepo& from, const ImageRevision& rev) {
  for (const auto& hash : rev.data_blobs) {
    if (fs::exists(blob_path(hash))) continue;
    const auto tmp = scratch_name(tmp_dir(), "blob");
    std::error_code ec;
    fs::copy_file(from.blob_path(hash), tmp, ec);
    if (ec) throw Error::from_errno(fmt::format("cannot copy {}", from.blob_path(hash).string()), ec.value());
    store_blob(tmp);
  }
}

ImageRevision ImageRepo::base_from_file(const fs::path& file) {
  const auto tmp = scratch_name(tmp_dir(), "base");
  try {
    run_qemu_img({"convert", "-O", "qcow2", file.string(), tmp.string()}, "converting " + file.string());
    ImageRevision rev;
    rev.data_blobs.push_back(store_blob(tmp));
    return rev;
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
}

ImageRevision ImageRepo::import_file(const std::string& name, const fs::path& source, const std::string& owner,
                                     const std::string& source_format) {
  if (!valid_image_name(name)) throw Error(fmt::format("\"{}\" is not an image name", name), ErrorKind::usage);
  if (!revisions(name).empty()) {
    throw Error(fmt::format("image {}:{} exists already: choose another name", name_, name), ErrorKind::usage);
  }
  const WriteGuard guard = write_guard();
  const auto tmp = scratch_name(tmp_dir(), "import");
  try {
    // A standalone qcow2 (backing chains flattened), whatever the source's format.
    std::vector<std::string> args = {"convert", "-O", "qcow2"};
    if (!source_format.empty()) args.insert(args.end(), {"-f", source_format});
    args.insert(args.end(), {source.string(), tmp.string()});
    run_qemu_img(args, "converting " + source.string());
    ImageRevision rev;
    rev.name = name;
    rev.owner = owner;
    rev.data_blobs.push_back(store_blob(tmp));
    return commit(std::move(rev), true);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
}

std::size_t ImageRepo::remove(const std::string& name, std::optional<std::uint32_t> revision) {
  std::size_t n = 0;
  for (const auto& r : revisions(name)) {
    if (revision && r.revision != *revision) continue;
    const auto file = path_ / "meta" / fmt::format("{}@{}", name, r.revision);
    if (::unlink(file.c_str()) != 0 && errno != ENOENT) throw Error::from_errno("cannot remove " + file.string(), errno);
    ++n;
  }
  return n;
}

std::string sha256_file(const fs::path& file) {
  Command c;
  c.argv = {"/usr/bin/sha256sum", "--", file.string()};
  c.timeout = std::chrono::minutes(30);
  const RunResult r = with_context("hashing " + file.string(), [&] { return run_checked(c); });
  const std::string hash = r.out.substr(0, r.out.find(' '));
  if (hash.size() != 64) throw Error("sha256sum: unexpected output: " + r.out, ErrorKind::system);
  return hash;
}

}  // namespace slurmvm
