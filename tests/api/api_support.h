// Helpers for the API tier: a rampartd with its API socket in a scratch
// directory, rampartctl runs, a loopback listener that accepts, and a gRPC
// stub for the tests that need more control than the CLI gives.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "rampart/v1/rampart.grpc.pb.h"

namespace rampart::testing {

std::string slurp(const std::string& path);
void write_file(const std::string& path, const std::string& text);

// A policy document selecting one executable by path.
std::string policy_yaml(const std::string& name, const std::string& exe, const std::string& mode,
                        const std::string& allow_connect);

// rampartd with --policy-dir DIR/policies, --output DIR/events.jsonl and
// api.socket DIR/rampart.sock.
class ApiDaemon {
 public:
  // extra_config: YAML lines added under api: (indented by two spaces).
  explicit ApiDaemon(const std::string& extra_api_config = "", const std::string& extra_config = "");
  ~ApiDaemon();
  bool ready() const { return ready_; }
  const std::string& dir() const { return dir_; }
  std::string socket() const { return dir_ + "/rampart.sock"; }
  std::string policy_dir() const { return dir_ + "/policies"; }
  std::string stderr_text() const { return slurp(dir_ + "/stderr.txt"); }
  std::vector<nlohmann::json> events() const;
  std::unique_ptr<v1::Rampart::Stub> stub() const;
  void stop();
  // Starts it (again, after stop()) on the same directory; stderr.txt starts over.
  bool start();
  pid_t pid() const { return pid_; }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  bool ready_ = false;
};

struct CtlResult {
  int code = -1;
  std::string out, err;
};
// Runs rampartctl with --socket SOCKET and args; as another uid/gid if given.
CtlResult ctl(const std::string& socket, const std::vector<std::string>& args, int uid = -1, int gid = -1);

// 127.0.0.1 listener that accepts and closes, so connects never back up.
class Listener {
 public:
  Listener();
  ~Listener();
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A loopback TCP port that was free a moment ago.
uint16_t free_port();

// A count from rampartctl --json or a status: protobuf's JSON writes 64-bit
// integers as strings, and leaves zeros out.
uint64_t json_u64(const nlohmann::json& j);

// Boot-clock and realtime nanoseconds.
int64_t realtime_ns();

}  // namespace rampart::testing
