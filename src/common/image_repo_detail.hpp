// What the files of image_repo.hpp share: the repository's file-level helpers. Not for other
// code: use ImageRepo.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "image_repo.hpp"

namespace slurmvm::image_repo_detail {

// A repository's .config and an image's metadata are a few lines.
inline constexpr std::size_t kMaxMetadataBytes = 1 << 20;
inline constexpr auto kQemuImgTimeout = std::chrono::minutes(30);  // a conversion of a large image

// qemu-img from the system directories only (no PATH trust), as vm-launch finds QEMU.
std::string qemu_img();
// A unique name in `dir` for a file being made.
std::filesystem::path scratch_name(const std::filesystem::path& dir, std::string_view what);
// Creates `p` (O_EXCL, never following a link) with `content`, fsync'ed.
void write_new_file(const std::filesystem::path& p, const std::string& content, mode_t mode);
nlohmann::json to_json(const ImageRevision& r);
// A version 2 metadata file; Error(config) naming it when it is not one.
ImageRevision parse_meta(const std::filesystem::path& file);
// "name@rev" -> (name, rev)
std::optional<std::pair<std::string, std::uint32_t>> split_meta_name(const std::string& file);
// qemu-img ARGS with a deadline; Error naming `what` on failure.
void run_qemu_img(std::vector<std::string> args, const std::string& what);

}  // namespace slurmvm::image_repo_detail
