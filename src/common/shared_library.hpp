// A shared library opened on first use (dlopen) instead of linked: for the dependencies that
// only some runs of a root helper need. Every library a program links costs each start its
// relocations and page faults: on the 2-vCPU test VM libssl + libcrypto add 3.4 ms, libnftables
// and its dependencies 2.1 ms, to a helper that starts in ~8 ms in all (docs/design.md §4), and
// vm-prolog and vm-epilog run for every job of the cluster, most of them not virtual clusters.
//
// The library's name is its SONAME, fixed at build time from the library the build found
// (cmake/SharedLibrarySoname.cmake): the same ABI the headers describe. Symbols are looked up
// with the headers' own declarations (decltype), so a signature cannot drift. A library stays
// loaded for the life of the process (never dlclose'd: its functions may be referenced until
// exit).
#pragma once

#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace slurmvm {

class SharedLibrary {
 public:
  // dlopen(soname, RTLD_NOW | RTLD_LOCAL). Error(system) naming the library, what needs it
  // (`needed_for`, e.g. "TLS to etcd") and the loader's reason, with the package to install.
  static SharedLibrary open(const char* soname, std::string_view needed_for, std::string_view package);

  // The function `name` of the library (or of a library it depends on), as the type of its
  // declaration: `lib.function<decltype(::SSL_new)>("SSL_new")`. Error(system) when missing.
  template <class Function>
  Function* function(const char* name) const {
    static_assert(std::is_function_v<Function>);
    return reinterpret_cast<Function*>(symbol(name));
  }

  const std::string& soname() const noexcept { return soname_; }

 private:
  SharedLibrary(void* handle, std::string soname) : handle_(handle), soname_(std::move(soname)) {}
  void* symbol(const char* name) const;

  void* handle_;
  std::string soname_;
};

}  // namespace slurmvm
