#include "report.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "error.hpp"

namespace slurmvm::doctor {

std::string_view to_string(Status s) noexcept {
  switch (s) {
    case Status::ok: return "ok";
    case Status::warn: return "warn";
    case Status::fail: return "fail";
    case Status::skip: return "skip";
  }
  return "fail";
}

namespace {

Status status_from(std::string_view s) {
  for (Status st : {Status::ok, Status::warn, Status::fail, Status::skip}) {
    if (to_string(st) == s) return st;
  }
  throw Error(fmt::format("vm doctor: unknown status '{}' in a node's report", s), ErrorKind::system);
}

}  // namespace

bool Report::ready() const {
  return std::none_of(findings.begin(), findings.end(), [](const Finding& f) { return f.status == Status::fail; });
}

std::string render_text(const Report& r) {
  int count[4] = {0, 0, 0, 0};
  std::size_t width = 5;
  for (const Finding& f : r.findings) {
    ++count[static_cast<int>(f.status)];
    width = std::max(width, f.check.size());
  }
  std::string out = fmt::format("{}: {} ({} ok, {} warning(s), {} failed, {} skipped)\n", r.host,
                                r.ready() ? "ready" : "NOT READY", count[0], count[1], count[2], count[3]);
  for (const Finding& f : r.findings) {
    const char* tag = f.status == Status::ok ? "ok  " : f.status == Status::warn ? "WARN" : f.status == Status::fail ? "FAIL" : "skip";
    out += fmt::format("  {}  {:<{}}  {}", tag, f.check, width, f.summary);
    if (!f.fix.empty() && (f.status == Status::warn || f.status == Status::fail)) out += " -> fix: " + f.fix;
    out += '\n';
  }
  return out;
}

nlohmann::json to_json(const Report& r) {
  nlohmann::json findings = nlohmann::json::array();
  for (const Finding& f : r.findings) {
    findings.push_back({{"check", f.check}, {"status", to_string(f.status)}, {"summary", f.summary}, {"fix", f.fix}});
  }
  return {{"host", r.host}, {"ready", r.ready()}, {"findings", std::move(findings)}};
}

Report report_from_json(const nlohmann::json& j) {
  try {
    Report r;
    r.host = j.at("host").get<std::string>();
    for (const auto& f : j.at("findings")) {
      r.findings.push_back({f.at("check").get<std::string>(), status_from(f.at("status").get<std::string>()),
                            f.at("summary").get<std::string>(), f.at("fix").get<std::string>()});
    }
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("vm doctor: a node's report is not one: {}", e.what()), ErrorKind::system);
  }
}

}  // namespace slurmvm::doctor
