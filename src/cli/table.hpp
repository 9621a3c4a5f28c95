// Plain-text tables for the CLI: columns sized to their widest cell, two spaces apart, header
// in capitals, as in `squeue` and pcocc, so that output stays grep- and awk-friendly.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace slurmvm::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> header);
  void add_row(std::vector<std::string> row);
  bool empty() const noexcept { return rows_.empty(); }
  void print(std::ostream& out) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// What a listing verb prints on stdout: `json` (indented) with --json, else `table`.
void print_listing(const Table& table, const nlohmann::json& json, bool as_json);

}  // namespace slurmvm::cli
