// Scratch directories and whole-file reads and writes; see files.h.
#include "support/files.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace rampart::testing {

TempDir::TempDir(std::string tmpl, mode_t mode) {
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp " + tmpl + ": " + std::strerror(errno));
  path_ = tmpl;
  chmod(path_.c_str(), mode);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  { std::ofstream(tmp) << text; }
  std::filesystem::rename(tmp, path);
}

std::vector<nlohmann::json> read_json_lines(const std::string& path) {
  const std::string text = slurp(path);
  std::vector<nlohmann::json> out;
  for (size_t at = 0, nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1)
    if (nl > at)
      out.push_back(nlohmann::json::parse(text.begin() + static_cast<long>(at), text.begin() + static_cast<long>(nl)));
  return out;
}

}  // namespace rampart::testing
