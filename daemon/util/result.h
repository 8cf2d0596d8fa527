// Result<T>: recoverable errors travel as values. An Error carries an errno
// (0 when not from a syscall) and a message that names the thing that failed
// (file:line:col, pid, map name). Exceptions are kept for fatal start-up
// errors and are caught in main.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <tl/expected.hpp>

namespace rampart {

struct Error {
  int code = 0;  // errno value, or 0
  std::string message;

  std::string what() const {
    if (code == 0) return message;
    return message + ": " + std::strerror(code);
  }
};

template <typename T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> fail(std::string message, int code = 0) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}

// For a syscall that just failed: captures errno.
inline tl::unexpected<Error> fail_errno(std::string message) { return fail(std::move(message), errno); }

}  // namespace rampart
