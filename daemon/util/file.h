// Reading a whole (small) file: config, policies, certificates, tokens.
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "util/result.h"

namespace rampart {

// The file's bytes; the error reads "cannot read [what ]PATH: <errno text>".
inline Result<std::string> read_text_file(const std::string& path, std::string_view what = {}) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail_errno("cannot read " + (what.empty() ? std::string() : std::string(what) + " ") + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace rampart
