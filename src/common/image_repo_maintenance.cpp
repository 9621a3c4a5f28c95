// Image repositories: copy, resize, garbage collection and pcocc's format 1 (image_repo.hpp).
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "error.hpp"
#include "file_read.hpp"
#include "image_repo.hpp"
#include "image_repo_detail.hpp"
#include "log.hpp"
#include "subprocess.hpp"

namespace slurmvm {

namespace fs = std::filesystem;
using namespace image_repo_detail;
using nlohmann::json;

namespace {

// .tmp entries older than this are leftovers of a crashed import or save: every writer of ours
// holds the WriteGuard while its files are there, and a pcocc writer still at work touches its
// file more often than this.
constexpr auto kStaleTmpAge = std::chrono::hours(1);

// Takes flock `op` on `fd` within `wait`; false when it did not.
bool flock_within(int fd, int op, std::chrono::seconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    if (::flock(fd, op | LOCK_NB) == 0) return true;
    if (errno == EINTR) continue;
    if (errno != EWOULDBLOCK) throw Error::from_errno("flock", errno);
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// Next to .config, not in .tmp: pcocc's own gc empties .tmp, and a lock file replaced while held
// would split the lock in two.
UniqueFd open_lock_file(const fs::path& repo) {
  const fs::path file = repo / ".gc-lock";
  UniqueFd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd) throw Error::from_errno("cannot open " + file.string() + " (is the repository writable?)", errno);
  return fd;
}

// The size the file has on disk, 0 when it is gone.
std::uintmax_t disk_size(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return 0;
  return static_cast<std::uintmax_t>(st.st_blocks) * 512;
}

// A format 1 metadata file: YAML, with the same fields as format 2's JSON.
ImageRevision parse_v1_meta(const fs::path& file) {
  try {
    const YAML::Node m = YAML::Load(read_file(file, kMaxMetadataBytes));
    ImageRevision r;
    r.name = m["name"].as<std::string>();
    r.revision = m["revision"].as<std::uint32_t>();
    r.kind = m["kind"] ? m["kind"].as<std::string>() : "vm";
    r.owner = m["owner"] ? m["owner"].as<std::string>() : "";
    r.timestamp = m["timestamp"] ? static_cast<std::int64_t>(m["timestamp"].as<double>()) : 0;
    for (const auto& b : m["data_blobs"]) r.data_blobs.push_back(b.as<std::string>());
    if (r.data_blobs.empty() || !valid_image_name(r.name)) throw Error("no data_blobs, or a bad name");
    // custom_meta: pcocc's is a mapping or null; it holds nothing slurm-vm reads.
    r.custom_meta = "{}";
    return r;
  } catch (const std::exception& e) {
    throw Error(fmt::format("{} is not a pcocc format 1 image revision: {}", file.string(), e.what()),
                ErrorKind::config);
  }
}

}  // namespace

std::uint64_t parse_image_size(std::string_view text, std::uint64_t current) {
  const std::string_view original = text;
  const auto bad = [&] {
    return Error(fmt::format("\"{}\" is not a size: expected e.g. 20G, 512M or +1G", original), ErrorKind::usage);
  };
  const bool relative = text.starts_with('+');
  if (relative) text.remove_prefix(1);
  unsigned shift = 0;
  if (!text.empty()) {
    switch (text.back()) {
      case 'k': case 'K': shift = 10; break;
      case 'm': case 'M': shift = 20; break;
      case 'g': case 'G': shift = 30; break;
      case 't': case 'T': shift = 40; break;
      default: break;
    }
    if (shift != 0) text.remove_suffix(1);
  }
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) throw bad();
  constexpr std::uint64_t kMax = std::uint64_t{1} << 63;
  if (n > (kMax >> shift)) throw bad();
  n <<= shift;
  if (!relative) return n;
  if (n > kMax - current) throw bad();
  return current + n;
}

ImageRepo::WriteGuard ImageRepo::write_guard(std::chrono::seconds wait) const {
  UniqueFd fd = open_lock_file(path_);
  if (!flock_within(fd.get(), LOCK_SH, wait)) {
    throw Error(fmt::format("repository {}: a garbage collection has held it for {} s; try again", name_,
                            wait.count()),
                ErrorKind::timeout);
  }
  return WriteGuard(std::move(fd));
}

ImageRevision ImageRepo::copy_image(const ImageRepo& from, const ImageRevision& rev, const std::string& name,
                                    const std::string& owner) {
  if (!valid_image_name(name)) throw Error(fmt::format("\"{}\" is not an image name", name), ErrorKind::usage);
  if (!revisions(name).empty()) {
    throw Error(fmt::format("image {}:{} exists already: choose another name", name_, name), ErrorKind::usage);
  }
  const WriteGuard guard = write_guard();
  if (from.path() != path_) copy_blobs_from(from, rev);
  ImageRevision copy;
  copy.name = name;
  copy.owner = owner;
  copy.kind = rev.kind;
  copy.data_blobs = rev.data_blobs;
  copy.custom_meta = rev.custom_meta;
  return commit(std::move(copy), true);
}

std::uint64_t ImageRepo::virtual_size(const ImageRevision& rev) const {
  Command c;
  c.argv = {qemu_img(), "info", "--output=json", "-U", top_layer(rev).string()};
  c.timeout = std::chrono::minutes(1);
  const RunResult r = with_context(fmt::format("reading the size of {}:{}@{}", name_, rev.name, rev.revision),
                                   [&] { return run_checked(c); });
  try {
    return json::parse(r.out).at("virtual-size").get<std::uint64_t>();
  } catch (const json::exception& e) {
    throw Error(fmt::format("qemu-img info on {}: {}", top_layer(rev).string(), e.what()), ErrorKind::system);
  }
}

ImageRevision ImageRepo::resize(const ImageRevision& rev, std::uint64_t new_size, const std::string& owner) {
  const std::uint64_t now = virtual_size(rev);
  if (new_size < now) {
    throw Error(fmt::format("{}:{}@{} is {} bytes: an image only grows (a smaller one would cut the end off its "
                            "filesystems)",
                            name_, rev.name, rev.revision, now),
                ErrorKind::usage);
  }
  const WriteGuard guard = write_guard();
  const fs::path layer = scratch_name(tmp_dir(), "resize");
  try {
    // An empty layer over the current top, larger: qemu-img points it at the absolute path,
    // add_layer() rebases it onto the relative one pcocc uses.
    run_qemu_img({"create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", top_layer(rev).string(), layer.string(),
                  std::to_string(new_size)},
                 "creating the resized layer");
    return add_layer(rev.name, rev, layer, owner);
  } catch (...) {
    ::unlink(layer.c_str());
    throw;
  }
}

void ImageRepo::upgrade_from_v1(GcReport& report) {
  // Format 1 keeps each revision as meta/<h[:2]>/<sha256(name\nrev)>, YAML. The new meta/ is
  // built aside, then swapped in; .config says 2 only once it is in place. A crash in between
  // leaves meta.v1 next to a missing meta/, which the next gc puts back first.
  const fs::path meta = path_ / "meta", old = path_ / "meta.v1";
  std::error_code ec;
  // Format 1 repositories may lack .tmp, where the new files are made.
  if (::mkdir(tmp_dir().c_str(), 0755) != 0 && errno != EEXIST) {
    throw Error::from_errno("cannot create " + tmp_dir().string(), errno);
  }
  if (!fs::exists(meta, ec) && fs::exists(old, ec)) fs::rename(old, meta);
  std::vector<ImageRevision> revs;
  for (const auto& sub : fs::directory_iterator(meta)) {
    if (!sub.is_directory()) continue;
    for (const auto& f : fs::directory_iterator(sub.path())) revs.push_back(parse_v1_meta(f.path()));
  }
  const fs::path fresh = scratch_name(tmp_dir(), "meta-v2");
  if (::mkdir(fresh.c_str(), 0755) != 0) throw Error::from_errno("cannot create " + fresh.string(), errno);
  try {
    for (const auto& r : revs) {
      write_new_file(fresh / fmt::format("{}@{}", r.name, r.revision), to_json(r).dump(2) + "\n", 0444);
    }
    fs::rename(meta, old);
    fs::rename(fresh, meta);
  } catch (...) {
    fs::remove_all(fresh, ec);
    if (!fs::exists(meta, ec) && fs::exists(old, ec)) fs::rename(old, meta, ec);
    throw;
  }
  const fs::path cfg_tmp = scratch_name(tmp_dir(), "config");
  write_new_file(cfg_tmp, "{version: 2}\n", 0644);
  fs::rename(cfg_tmp, path_ / ".config");
  fs::remove_all(old, ec);
  if (ec) log_warning("repository {}: cannot remove {}: {}", name_, old.string(), ec.message());
  version_ = 2;
  report.upgraded_revisions = revs.size();
}

ImageRepo::GcReport ImageRepo::collect_garbage(std::chrono::seconds wait) {
  GcReport report;
  const UniqueFd fd = open_lock_file(path_);
  if (!flock_within(fd.get(), LOCK_EX, wait)) {
    throw Error(fmt::format("repository {}: an import, a save or a copy into it is in progress; run the garbage "
                            "collection again once it is done",
                            name_),
                ErrorKind::timeout);
  }
  if (version_ == 1) upgrade_from_v1(report);

  std::set<std::string> referenced;
  for (const auto& name : image_names()) {
    for (const auto& r : revisions(name)) referenced.insert(r.data_blobs.begin(), r.data_blobs.end());
  }
  std::error_code ec;
  for (const auto& sub : fs::directory_iterator(path_ / "data", ec)) {
    if (!sub.is_directory()) continue;
    for (const auto& blob : fs::directory_iterator(sub.path())) {
      if (referenced.count(blob.path().filename().string()) != 0) continue;
      const auto bytes = disk_size(blob.path());
      if (::unlink(blob.path().c_str()) != 0) throw Error::from_errno("cannot remove " + blob.path().string(), errno);
      ++report.blobs;
      report.bytes += bytes;
    }
    ::rmdir(sub.path().c_str());  // only when empty, as pcocc does
  }
  const auto now = fs::file_time_type::clock::now();
  for (const auto& e : fs::directory_iterator(tmp_dir(), ec)) {
    std::error_code tec;
    const auto mtime = fs::last_write_time(e.path(), tec);
    if (tec || now - mtime < kStaleTmpAge) continue;
    report.bytes += e.is_directory() ? 0 : disk_size(e.path());
    fs::remove_all(e.path(), tec);
    if (tec) throw Error::from_errno("cannot remove " + e.path().string(), tec.value());
    ++report.tmp_files;
  }
  return report;
}

}  // namespace slurmvm
