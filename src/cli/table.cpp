#include "table.hpp"

#include <algorithm>
#include <iostream>
#include <ostream>

#include <nlohmann/json.hpp>

#include "error.hpp"

namespace slurmvm::cli {

Table::Table(std::vector<std::string> header) : header_(std::move(header)) {}

void Table::add_row(std::vector<std::string> row) {
  if (row.size() != header_.size()) throw Error("table row has the wrong number of cells");
  rows_.push_back(std::move(row));
}

void Table::print(std::ostream& out) const {
  std::vector<std::size_t> width(header_.size());
  for (std::size_t c = 0; c < header_.size(); ++c) {
    width[c] = header_[c].size();
    for (const auto& row : rows_) width[c] = std::max(width[c], row[c].size());
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line.append(width[c] - row[c].size() + 2, ' ');
    }
    // An empty last cell would leave the padding of the one before it.
    line.erase(line.find_last_not_of(' ') + 1);
    out << line << '\n';
  };
  print_row(header_);
  for (const auto& row : rows_) print_row(row);
}

void print_listing(const Table& table, const nlohmann::json& json, bool as_json) {
  if (as_json) {
    std::cout << json.dump(2) << '\n';
  } else {
    table.print(std::cout);
  }
}

}  // namespace slurmvm::cli
