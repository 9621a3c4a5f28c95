// The template's image and the VM's copy-on-write overlay of it. An image with a '/' is a path
// (after %{...} expansion): a qcow2 or raw file, or a pcocc legacy image directory holding
// `image` (revision 0) and `image-revN` (revision N; the highest is used). Without one it is a
// repository image, `[REPO:]NAME[@REV]` (image_repo.hpp).
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace slurmvm::launch {

struct BaseImage {
  std::filesystem::path path;  // absolute, the file itself
  std::string format;          // "qcow2" or "raw"
};

// The file an image path names: `image` itself, or the newest revision in a legacy
// directory. Throws Error(ErrorKind::config) for relative paths,
// ErrorKind::not_found when nothing is there.
std::filesystem::path resolve_image_file(std::string_view image);

// The newest revision file in a legacy directory: the highest image-revN, else `image`;
// nullopt when there is neither. Pure apart from listing the directory.
std::optional<std::filesystem::path> newest_legacy_revision(const std::filesystem::path& dir);

// Asks qemu-img which format the file is (qcow2 or raw; anything else is refused).
BaseImage inspect_image(const std::filesystem::path& file);

// Creates (or replaces) `overlay`, a qcow2 file backed by `base`, with qemu-img.
void create_overlay(const BaseImage& base, const std::filesystem::path& overlay);

// qemu-img, found in the same fixed directories as QEMU (no PATH trust).
std::filesystem::path qemu_img_binary();

inline constexpr std::chrono::seconds kQemuImgTimeout{60};

}  // namespace slurmvm::launch
