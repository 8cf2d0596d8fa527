// JSON-lines sink; see sink.h.
#include "outputs/sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace rampart::outputs {

Result<std::unique_ptr<JsonlSink>> JsonlSink::open(const std::string& path) {
  if (path == "-") return std::unique_ptr<JsonlSink>(new JsonlSink(STDOUT_FILENO, false, "-"));
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return fail_errno("opening output " + path);
  return std::unique_ptr<JsonlSink>(new JsonlSink(fd, true, path));
}

JsonlSink::~JsonlSink() {
  flush();
  if (owned_) close(fd_);
}

void JsonlSink::flush() {
  size_t off = 0;
  while (off < buf_.size()) {
    ssize_t n = write(fd_, buf_.data() + off, buf_.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ++write_errors_;
      last_errno_ = n < 0 ? errno : ENOSPC;
      bytes_lost_ += buf_.size() - off;
      break;
    }
    off += static_cast<size_t>(n);
    bytes_written_ += static_cast<uint64_t>(n);
  }
  buf_.clear();
}

}  // namespace rampart::outputs
