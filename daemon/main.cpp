// rampartd: the Rampart runtime-protection daemon. Parses the command line,
// loads the config (embedded defaults when none is given) and runs the
// pipeline until SIGINT or SIGTERM. Fatal errors end here with a message and
// a non-zero exit code.
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <optional>
#include <string>

#include "config/config.h"
#include "daemon.h"
#include "ops/log.h"
#include "policy/policy.h"

namespace {

constexpr const char* kUsage = R"(usage: rampartd [options]

Runs the Rampart daemon in the foreground: loads its BPF programs and prints
every process, file, network and privilege event as one JSON line.

options:
  --config FILE           configuration file (default: the embedded defaults;
                          see --print-default-config)
  --output PATH           where JSON lines go: "-" for stdout or a file
                          (overrides output.path)
  --check-config          validate the configuration and exit
  --policy-dir DIR        policy directory (overrides policy.dir); it must exist
  --check-policy DIR      validate the policies in DIR and exit; nothing is
                          loaded into the kernel
  --print-default-config  print the embedded configuration and exit
  --quiet                 no start-up banner on stderr
  --version               print the version and exit
  -h, --help              this text

exit codes: 0 clean shutdown, 1 start-up error, 2 usage or config error
)";

// Levels and format from the config's log: section (validated there).
void ops_configure_log(const rampart::config::Config& cfg) {
  rampart::ops::LogOptions lo;
  lo.level = rampart::ops::log_level_from_name(cfg.log_level).value_or(rampart::ops::LogLevel::kInfo);
  lo.format = cfg.log_format == "json" ? rampart::ops::LogFormat::kJson : rampart::ops::LogFormat::kText;
  rampart::ops::configure_log(lo);
}

int usage_error(const std::string& msg) {
  std::cerr << "rampartd: " << msg << "\n(see rampartd --help)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<std::string> config_path, output, policy_dir, check_policy;
  bool check = false, quiet = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> std::optional<std::string> {
      if (i + 1 >= argc || argv[i + 1][0] == '\0') return std::nullopt;
      (void)name;
      return std::string(argv[++i]);
    };
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (a == "--version") {
      std::cout << "rampartd " << RAMPART_VERSION << " (event ABI " << RP_ABI_VERSION << ")\n";
      return 0;
    } else if (a == "--print-default-config") {
      std::cout << rampart::config::kDefaultConfigYaml;
      return 0;
    } else if (a == "--config") {
      if (!(config_path = value("--config"))) return usage_error("--config needs a file");
    } else if (a == "--output") {
      if (!(output = value("--output"))) return usage_error("--output needs a path or -");
    } else if (a == "--policy-dir") {
      if (!(policy_dir = value("--policy-dir"))) return usage_error("--policy-dir needs a directory");
    } else if (a == "--check-policy") {
      if (!(check_policy = value("--check-policy"))) return usage_error("--check-policy needs a directory");
    } else if (a == "--check-config") {
      check = true;
    } else if (a == "--quiet") {
      quiet = true;
    } else {
      return usage_error("unknown argument '" + a + "'");
    }
  }

  if (check_policy) {
    auto set = rampart::policy::PolicySet::load_dir(*check_policy);
    if (!set) {
      std::cerr << "rampartd: invalid policy:\n" << set.error().what() << "\n";
      return 2;
    }
    std::cout << "rampartd: " << set->policies().size() << " policies in " << *check_policy << " are valid\n";
    for (const auto& p : set->policies())
      std::cout << "  " << p.name << " (" << rampart::policy::mode_name(p.mode) << ") " << p.pos.str() << "\n";
    return 0;
  }

  auto cfg = config_path ? rampart::config::load_file(*config_path)
                         : rampart::config::parse(rampart::config::kDefaultConfigYaml, "<embedded>");
  if (!cfg) {
    std::cerr << "rampartd: invalid config: " << cfg.error().what() << "\n";
    return 2;
  }
  if (output) cfg->output_path = *output;
  if (policy_dir) {
    cfg->policy_dir = *policy_dir;
    cfg->policy_dir_explicit = true;
  }
  ops_configure_log(*cfg);
  if (check) {
    std::cout << "rampartd: config " << (config_path ? *config_path : "<embedded>") << " is valid\n";
    return 0;
  }

  try {
    rampart::Daemon daemon({*cfg, quiet});
    return daemon.run();
  } catch (const std::exception& e) {
    rampart::ops::log(rampart::ops::LogLevel::kError, std::string("fatal: ") + e.what());
    return 1;
  }
}
