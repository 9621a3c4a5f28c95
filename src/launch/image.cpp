// Image resolution and overlays (image.hpp).
#include "launch/image.hpp"

#include <unistd.h>

#include <charconv>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "error.hpp"
#include "launch/job_dir.hpp"
#include "launch/qemu_binary.hpp"
#include "subprocess.hpp"

namespace slurmvm::launch {

namespace fs = std::filesystem;

fs::path resolve_image_file(std::string_view image) {
  if (image.empty()) throw Error("the template's image is empty", ErrorKind::config);
  if (image.find('/') == std::string_view::npos) {
    throw Error(fmt::format("image \"{}\" names a repository image, not a file", image), ErrorKind::internal);
  }
  const fs::path path(image);
  if (!path.is_absolute()) {
    throw Error(fmt::format("image \"{}\" is a relative path: write it absolute (%{{homedir}}/... "
                            "or ~/... work)",
                            image),
                ErrorKind::config);
  }
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    throw Error(fmt::format("image {} does not exist", path.string()), ErrorKind::not_found);
  }
  if (fs::is_directory(st)) {
    auto file = newest_legacy_revision(path);
    if (!file) {
      throw Error(fmt::format("image directory {} holds no `image` nor `image-revN` file",
                              path.string()),
                  ErrorKind::not_found);
    }
    return *file;
  }
  return path;
}

std::optional<fs::path> newest_legacy_revision(const fs::path& dir) {
  std::optional<fs::path> best;
  long best_rev = -1;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    long rev = -1;
    if (name == "image") {
      rev = 0;
    } else if (name.starts_with("image-rev")) {
      const std::string_view digits = std::string_view(name).substr(9);
      long n = 0;
      const auto [ptr, err] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
      if (err != std::errc() || ptr != digits.data() + digits.size() || digits.empty()) continue;
      rev = n;
    } else {
      continue;
    }
    if (rev > best_rev) {
      best_rev = rev;
      best = it->path();
    }
  }
  if (ec) throw Error(fmt::format("cannot list the image directory {}", dir.string()), ErrorKind::system, ec.value());
  return best;
}

fs::path qemu_img_binary() { return find_in_fixed_dirs("qemu-img"); }

BaseImage inspect_image(const fs::path& file) {
  if (::access(file.c_str(), R_OK) != 0) {
    throw Error::from_errno(fmt::format("cannot read the image {}", file.string()), errno);
  }
  Command c;
  // -U: the base is shared by every VM of the job and may be opened (locked) by running ones.
  c.argv = {qemu_img_binary().string(), "info", "-U", "--output=json", file.string()};
  c.timeout = kQemuImgTimeout;
  const RunResult r = run_checked(c);
  std::string format;
  try {
    format = nlohmann::json::parse(r.out).at("format").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("qemu-img info {}: unexpected output: {}", file.string(), e.what()),
                ErrorKind::system);
  }
  if (format != "qcow2" && format != "raw") {
    throw Error(fmt::format("image {} is in {} format: only qcow2 and raw images are supported "
                            "(convert it: qemu-img convert -O qcow2)",
                            file.string(), format),
                ErrorKind::config);
  }
  return {file, format};
}

void create_overlay(const BaseImage& base, const fs::path& overlay) {
  // A new overlay every launch: the VM boots from the template's image, as pcocc's did.
  remove_if_exists(overlay);
  Command c;
  c.argv = {qemu_img_binary().string(), "create", "-q", "-f", "qcow2", "-F", base.format,
            "-b", base.path.string(), overlay.string()};
  c.timeout = kQemuImgTimeout;
  with_context(fmt::format("creating the disk overlay {}", overlay.string()), [&] { run_checked(c); });
}

}  // namespace slurmvm::launch
