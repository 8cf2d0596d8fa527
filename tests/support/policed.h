// The e2e and lsm tiers' usual set-up, on Daemon: a copy of bash in the
// scratch dir (policed-bash), a policy "e2e-policed" selecting it, and
// rampartd on a config that marks none of the machine's own filesystems.
// Also: running a shell and reading what it printed.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "support/rampartd.h"
#include "support/scratch_tmpfs.h"

namespace rampart::testing {

// No exec marks on /, no marks on /etc: the machine's files are never held.
inline const std::string kScopedConfig = "enforcement:\n  exec_mounts: []\n  sensitive_paths: []\n";

class PolicedBash : public Daemon {
 public:
  // The policy allows connects to 127.0.0.1:allowed_port only.
  PolicedBash(const std::string& mode, uint16_t allowed_port);
  // spec: the YAML after spec.mode (allow, deny, ...); config: rampartd's
  // config ("" for kScopedConfig); dir: an existing directory to use;
  // binary: another build of rampartd (rampartd_faults).
  PolicedBash(const std::string& mode, const std::string& spec, const std::string& config, const std::string& dir = "",
              const std::string& binary = "");
  const std::string& bash() const { return bash_; }
  // Lets the last events arrive, stops rampartd, and returns its enforce events.
  std::vector<nlohmann::json> enforce_events();

 private:
  std::string bash_;
};

// Runs `shell -c script` and returns (exit code, stdout+stderr).
std::pair<int, std::string> run_shell(const std::string& shell, const std::string& script);

// Connects to 127.0.0.1:a, then :b, through bash's /dev/tcp; prints connected-PORT for each.
std::string connect_script(uint16_t a, uint16_t b);

// A policy allowing execs of fs's allowed-* files, and a config marking fs for execs.
std::string exec_policy(const ScratchTmpfs& fs);
std::string exec_config(const ScratchTmpfs& fs);

}  // namespace rampart::testing
