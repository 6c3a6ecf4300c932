#include "core/shared_library.hpp"

#include <dlfcn.h>

#include <stdexcept>

namespace netpulse::core {

SharedLibrary::SharedLibrary(const char* soname, const char* what) : soname_(soname), what_(what) {
  handle_ = ::dlopen(soname, RTLD_LAZY | RTLD_LOCAL);
  if (handle_ == nullptr) {
    const char* e = ::dlerror();
    throw std::runtime_error("cannot load " + what_ + " (" + soname_ +
                             "): " + (e ? e : "unknown error"));
  }
}

void* SharedLibrary::symbol(const char* name) const {
  ::dlerror();
  void* p = ::dlsym(handle_, name);
  if (p == nullptr)
    throw std::runtime_error(what_ + " (" + soname_ + ") has no " + name +
                             ": a version older than netpulse was built with?");
  return p;
}

}  // namespace netpulse::core
