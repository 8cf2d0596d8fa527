// The JSON-lines sink: stdout or a file opened for appending. Events are
// appended to an in-memory buffer and written in batches (after each ring
// buffer drain, or when the buffer passes 1 MiB). A failed write is counted
// and the batch dropped: output trouble never stops the pipeline.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "util/result.h"

namespace rampart::outputs {

class JsonlSink {
 public:
  static Result<std::unique_ptr<JsonlSink>> open(const std::string& path);  // "-" = stdout
  ~JsonlSink();

  std::string& buffer() { return buf_; }
  void flush();
  void flush_if_large() {
    if (buf_.size() >= kFlushBytes) flush();
  }
  uint64_t bytes_written() const { return bytes_written_; }
  uint64_t write_errors() const { return write_errors_; }
  uint64_t bytes_lost() const { return bytes_lost_; }
  int last_errno() const { return last_errno_; }
  const std::string& path() const { return path_; }

 private:
  static constexpr size_t kFlushBytes = 1 << 20;
  JsonlSink(int fd, bool owned, std::string path) : fd_(fd), owned_(owned), path_(std::move(path)) {}

  int fd_;
  bool owned_;
  std::string path_;
  std::string buf_;
  uint64_t bytes_written_ = 0;
  uint64_t write_errors_ = 0;
  uint64_t bytes_lost_ = 0;
  int last_errno_ = 0;
};

}  // namespace rampart::outputs
