// A shared library loaded on first use instead of at start-up. The dynamic loader maps every
// library the program links and, for those built BIND_NOW (most of Debian's), resolves all of
// their symbols before main(): libpq with its Kerberos, LDAP and GnuTLS and XGBoost with
// OpenMP took about 7 ms of the 13 ms `netpulse process` took on an empty file (2026-12-05),
// and librdkafka with its TLS and compression about 2 ms more, although only the PostgreSQL
// store, `train --algo xgboost` and Kafka inputs and outputs use them. Their API files take
// the functions from here instead of linking the library.
#pragma once

#include <stdexcept>
#include <string>

#include "core/status.hpp"

namespace netpulse::core {

class SharedLibrary {
 public:
  // Loads `soname` ("libpq.so.5"); throws std::runtime_error, one line naming `what` ("the
  // PostgreSQL client library"), when it cannot be loaded. The library is never unloaded:
  // pointers into it may be held anywhere.
  SharedLibrary(const char* soname, const char* what);
  SharedLibrary(const SharedLibrary&) = delete;
  SharedLibrary& operator=(const SharedLibrary&) = delete;

  // The function `name`, as type F (the type of its declaration in the library's header);
  // throws std::runtime_error when the library lacks it.
  template <class F>
  F function(const char* name) const {
    return reinterpret_cast<F>(symbol(name));
  }

 private:
  void* symbol(const char* name) const;

  void* handle_ = nullptr;
  std::string soname_;
  std::string what_;
};

// Calls accessor(), which loads a library (see NETPULSE_LAZY_API): ok, or an I/O error with
// the one-line reason when it cannot be loaded.
template <class Accessor>
Status load_library(Accessor&& accessor) {
  try {
    accessor();
    return Status();
  } catch (const std::runtime_error& e) {
    return Status::io_error(e.what());
  }
}

}  // namespace netpulse::core

// Declares `struct Api`, one member per function FUNCTIONS(X) lists (X(name) each, typed as
// its declaration), and `const Api& accessor()`, which loads `soname` on its first call and
// looks every function up once; it throws std::runtime_error (one line naming `what`) when the
// library or a function is missing, and tries again at the next call. The _STRUCT and
// _ACCESSOR halves are for a table declared in a header and defined in one source file.
#define NETPULSE_LAZY_API(Api, accessor, soname, what, FUNCTIONS) \
  NETPULSE_LAZY_API_STRUCT(Api, FUNCTIONS)                        \
  NETPULSE_LAZY_API_ACCESSOR(Api, accessor, soname, what, FUNCTIONS)
#define NETPULSE_LAZY_API_STRUCT(Api, FUNCTIONS) \
  struct Api {                                   \
    FUNCTIONS(NETPULSE_LAZY_API_MEMBER)          \
  };
#define NETPULSE_LAZY_API_ACCESSOR(Api, accessor, soname, what, FUNCTIONS) \
  const Api& accessor() {                                                  \
    static const Api api = [] {                                            \
      static const ::netpulse::core::SharedLibrary lib(soname, what);      \
      Api a;                                                               \
      FUNCTIONS(NETPULSE_LAZY_API_LOAD)                                    \
      return a;                                                            \
    }();                                                                   \
    return api;                                                            \
  }
#define NETPULSE_LAZY_API_MEMBER(f) decltype(&::f) f;
#define NETPULSE_LAZY_API_LOAD(f) a.f = lib.function<decltype(&::f)>(#f);
