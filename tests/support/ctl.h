// rampartctl runs for the tests (RAMPARTCTL_PATH, which the test-support
// library defines), and the counts they print.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace rampart::testing {

struct CtlResult {
  int code = -1;  // exit code, or 128 + the signal that ended it
  std::string out, err;
};

// Runs rampartctl --socket SOCKET ARGS...; as another uid/gid if given.
CtlResult ctl(const std::string& socket, const std::vector<std::string>& args, int uid = -1, int gid = -1);

// A count from rampartctl --json or a status: protobuf's JSON writes 64-bit
// integers as strings, and leaves zeros out.
uint64_t json_u64(const nlohmann::json& j);

}  // namespace rampart::testing
