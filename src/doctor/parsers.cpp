#include "parsers.hpp"

#include <elf.h>

#include <charconv>
#include <cstring>
#include <regex>
#include <sstream>

namespace slurmvm::doctor {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    out.push_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return out;
}

std::vector<std::string> words_of(std::string_view s) {
  std::vector<std::string> out;
  std::istringstream in{std::string(s)};
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::optional<std::pair<int, int>> major_minor(std::string_view text, const std::regex& re) {
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_search(text.begin(), text.end(), m, re)) return std::nullopt;
  return std::pair{std::stoi(m[1].str()), std::stoi(m[2].str())};
}

template <class T>
bool read_struct(std::string_view elf, std::uint64_t offset, T& out) {
  if (offset > elf.size() || elf.size() - offset < sizeof(T)) return false;
  std::memcpy(&out, elf.data() + offset, sizeof(T));
  return true;
}

}  // namespace

std::map<std::string, std::string, std::less<>> parse_scontrol_config(std::string_view text) {
  std::map<std::string, std::string, std::less<>> out;
  for (std::string_view line : lines_of(text)) {
    const auto eq = line.find(" = ");
    if (eq == std::string_view::npos) continue;
    const std::string_view key = trim(line.substr(0, eq));
    if (key.empty() || key.find(' ') != std::string_view::npos) continue;
    out.emplace(std::string(key), std::string(trim(line.substr(eq + 3))));
  }
  return out;
}

std::vector<PlugstackLine> parse_plugstack(std::string_view text) {
  std::vector<PlugstackLine> out;
  int n = 0;
  for (std::string_view line : lines_of(text)) {
    ++n;
    if (const auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    auto words = words_of(line);
    if (words.empty()) continue;
    PlugstackLine p;
    p.line = n;
    if (words[0] == "include" && words.size() >= 2) {
      p.include = true;
      p.path = words[1];
    } else if ((words[0] == "required" || words[0] == "optional") && words.size() >= 2) {
      p.required = words[0] == "required";
      p.path = words[1];
      p.args.assign(words.begin() + 2, words.end());
    } else {
      continue;  // Slurm refuses such a line itself; not ours to judge
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::optional<std::pair<int, int>> parse_slurm_version(std::string_view text) {
  static const std::regex re(R"(slurm(?:-wlm)?\s+([0-9]+)\.([0-9]+))");
  return major_minor(text, re);
}

std::optional<std::pair<int, int>> parse_qemu_version(std::string_view text) {
  static const std::regex re(R"(QEMU emulator version ([0-9]+)\.([0-9]+))");
  return major_minor(text, re);
}

std::vector<std::string> forward_drop_chains(std::string_view ruleset, std::string_view skip_table) {
  std::vector<std::string> out;
  std::string family;
  std::string table;
  std::string chain;
  for (std::string_view raw : lines_of(ruleset)) {
    const std::string_view line = trim(raw);
    const auto w = words_of(line);
    if (w.size() >= 3 && w[0] == "table" && w.back() == "{") {
      family = w.size() == 4 ? w[1] : "ip";
      table = w.size() == 4 ? w[2] : w[1];
      chain.clear();
    } else if (w.size() >= 2 && w[0] == "chain" && w.back() == "{") {
      chain = w[1];
    } else if (line.find("hook forward") != std::string_view::npos &&
               line.find("policy drop") != std::string_view::npos && table != skip_table) {
      out.push_back(family + " " + table + " " + chain);
    }
  }
  return out;
}

std::optional<std::uint32_t> elf_u32_symbol(std::string_view elf, std::string_view name) {
  Elf64_Ehdr eh{};
  if (!read_struct(elf, 0, eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_shentsize != sizeof(Elf64_Shdr)) {
    return std::nullopt;
  }
  const auto section = [&](std::uint64_t i, Elf64_Shdr& sh) {
    return i < eh.e_shnum && read_struct(elf, eh.e_shoff + i * sizeof(Elf64_Shdr), sh);
  };
  for (std::uint64_t i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr symtab{};
    if (!section(i, symtab) || symtab.sh_type != SHT_DYNSYM || symtab.sh_entsize != sizeof(Elf64_Sym)) continue;
    Elf64_Shdr strtab{};
    if (!section(symtab.sh_link, strtab)) return std::nullopt;
    for (std::uint64_t k = 0; k < symtab.sh_size / sizeof(Elf64_Sym); ++k) {
      Elf64_Sym sym{};
      if (!read_struct(elf, symtab.sh_offset + k * sizeof(Elf64_Sym), sym)) return std::nullopt;
      if (sym.st_name >= strtab.sh_size || sym.st_shndx == SHN_UNDEF || sym.st_size != 4) continue;
      const std::uint64_t name_at = strtab.sh_offset + sym.st_name;
      if (name_at >= elf.size()) return std::nullopt;
      const std::string_view rest = elf.substr(name_at);
      if (rest.substr(0, rest.find('\0')) != name) continue;
      // The symbol's file offset: its address within the section that holds it.
      Elf64_Shdr holder{};
      if (!section(sym.st_shndx, holder) || holder.sh_type == SHT_NOBITS || sym.st_value < holder.sh_addr) {
        return std::nullopt;
      }
      std::uint32_t value = 0;
      if (!read_struct(elf, holder.sh_offset + (sym.st_value - holder.sh_addr), value)) return std::nullopt;
      return value;
    }
  }
  return std::nullopt;
}

}  // namespace slurmvm::doctor
