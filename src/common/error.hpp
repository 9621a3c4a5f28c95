// slurm-vm's one error type: an errno (0 when none), a message, and a chain of context
// strings added as the error travels up ("loading /etc/slurm-vm/templates.yaml", ...).
// Exceptions never cross a C boundary: main() runs through main_guard.hpp, each SPANK entry
// point through src/spank/guard.hpp.
#pragma once

#include <string>
#include <string_view>
#include <vector>
#include <exception>

namespace slurmvm {

// What kind of failure this is; decides the CLI exit code (docs/exit-codes.md).
enum class ErrorKind {
  internal = 1,   // a bug or an unexpected system failure
  usage = 2,      // bad command line
  config = 3,     // bad configuration file or cluster definition
  not_found = 4,  // a named object (template, job, VM) does not exist
  system = 5,     // an external program or a system call failed
  timeout = 6,    // a deadline passed
  // The virtual cluster ended before the user's command (a VM's QEMU killed or failing, every
  // guest powered off): `vm alloc`/`vm boot` stopped the command and said which VM and how.
  cluster_ended = 7,
};

class Error : public std::exception {
 public:
  explicit Error(std::string message, ErrorKind kind = ErrorKind::internal, int errnum = 0);

  // An error from a failed system call: errno is taken now, message says what was attempted.
  static Error from_errno(std::string what, int errnum);

  ErrorKind kind() const noexcept { return kind_; }
  int errnum() const noexcept { return errnum_; }
  const std::string& message() const noexcept { return message_; }
  // Outermost context first.
  const std::vector<std::string>& context() const noexcept { return context_; }

  // Adds an outer context ("while loading X"); returns *this so it can be rethrown.
  Error& add_context(std::string ctx);

  // "ctx1: ctx2: message: strerror(errno)"
  const char* what() const noexcept override { return rendered_.c_str(); }

 private:
  void render();

  std::string message_;
  ErrorKind kind_;
  int errnum_;
  std::vector<std::string> context_;
  std::string rendered_;
};

// The exit code a program returns for an error of this kind.
int exit_code_for(ErrorKind kind) noexcept;

// Calls f(); if it throws slurmvm::Error, adds ctx to it and rethrows. Keeps call sites flat.
template <class F>
decltype(auto) with_context(std::string_view ctx, F&& f) {
  try {
    return f();
  } catch (Error& e) {
    e.add_context(std::string(ctx));
    throw;
  }
}

}  // namespace slurmvm
