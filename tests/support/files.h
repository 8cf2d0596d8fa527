// Files for the tests that run rampartd: a scratch directory removed at the
// end, a file read whole, a file written in one step (readers never see half
// of it), and JSON lines read back.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rampart::testing {

// mkdtemp(tmpl), by default mode 0755 (the children the tests run as other
// users read it), removed with everything in it when destroyed.
class TempDir {
 public:
  explicit TempDir(std::string tmpl = "/tmp/rampart-test-XXXXXX", mode_t mode = 0755);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The whole file ("" if it cannot be read).
std::string slurp(const std::string& path);

// Writes PATH.tmp and renames it over path.
void write_file(const std::string& path, const std::string& text);

// Every complete line of a JSON-lines file, parsed; throws on a line that is
// not JSON. A last line without its newline is still being written, and is
// left out.
std::vector<nlohmann::json> read_json_lines(const std::string& path);

}  // namespace rampart::testing
