#include "error.hpp"

#include <cstring>

namespace slurmvm {

Error::Error(std::string message, ErrorKind kind, int errnum)
    : message_(std::move(message)), kind_(kind), errnum_(errnum) {
  render();
}

Error Error::from_errno(std::string what, int errnum) {
  return Error(std::move(what), ErrorKind::system, errnum);
}

Error& Error::add_context(std::string ctx) {
  context_.insert(context_.begin(), std::move(ctx));
  render();
  return *this;
}

void Error::render() {
  rendered_.clear();
  for (const auto& c : context_) {
    rendered_ += c;
    rendered_ += ": ";
  }
  rendered_ += message_;
  if (errnum_ != 0) {
    rendered_ += ": ";
    rendered_ += std::strerror(errnum_);
  }
}

int exit_code_for(ErrorKind kind) noexcept { return static_cast<int>(kind); }

}  // namespace slurmvm
