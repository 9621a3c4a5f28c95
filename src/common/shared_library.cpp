// Libraries opened on first use (shared_library.hpp).
#include "shared_library.hpp"

#include <dlfcn.h>

#include <fmt/format.h>

#include "error.hpp"

namespace slurmvm {

SharedLibrary SharedLibrary::open(const char* soname, std::string_view needed_for, std::string_view package) {
  void* handle = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    throw Error(fmt::format("{} needs {}, which does not load ({}); install {}", needed_for, soname,
                            why != nullptr ? why : "no reason given", package),
                ErrorKind::system);
  }
  return SharedLibrary(handle, soname);
}

void* SharedLibrary::symbol(const char* name) const {
  ::dlerror();
  void* address = ::dlsym(handle_, name);
  if (address == nullptr) {
    const char* why = ::dlerror();
    throw Error(fmt::format("{} has no function {} ({})", soname_, name, why != nullptr ? why : "null symbol"),
                ErrorKind::system);
  }
  return address;
}

}  // namespace slurmvm
