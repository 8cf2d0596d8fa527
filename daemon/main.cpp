// rampartd: the Rampart runtime-protection daemon. Parses the command line,
// loads the config (embedded defaults when none is given) and runs the
// pipeline until SIGINT or SIGTERM. Fatal errors end here with a message and
// a non-zero exit code.
#include <CLI/CLI.hpp>
#include <iostream>
#include <optional>
#include <string>
#include <utility>

#include "config/config.h"
#include "daemon.h"
#include "ops/log.h"
#include "policy/policy.h"

namespace {

constexpr const char* kDescription =
    "Runs the Rampart daemon in the foreground: loads its BPF programs and prints\n"
    "every process, file, network and privilege event as one JSON line.";

constexpr const char* kExitCodes = "exit codes: 0 clean shutdown, 1 start-up error, 2 usage or config error";

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
  bool check = false, quiet = false, version = false, print_default = false;
  CLI::App app(kDescription, "rampartd");
  app.get_formatter()->label("Usage", "usage");
  app.get_formatter()->column_width(26);
  app.footer(kExitCodes);
  app.add_option("--config", config_path,
                 "configuration file (default: the embedded defaults; see --print-default-config)")
      ->type_name("FILE");
  app.add_option("--output", output, "where JSON lines go: \"-\" for stdout or a file (overrides output.path)")
      ->type_name("PATH");
  app.add_flag("--check-config", check, "validate the configuration and exit");
  app.add_option("--policy-dir", policy_dir, "policy directory (overrides policy.dir); it must exist")
      ->type_name("DIR");
  app.add_option("--check-policy", check_policy,
                 "validate the policies in DIR and exit; nothing is loaded into the kernel")
      ->type_name("DIR");
  app.add_flag("--print-default-config", print_default, "print the embedded configuration and exit");
  app.add_flag("--quiet", quiet, "no start-up banner on stderr");
  app.add_flag("--version", version, "print the version and exit");
  app.set_help_flag("-h,--help", "this text");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);  // the help on stdout, exit 0
  } catch (const CLI::ExtrasError&) {
    return usage_error("unknown argument '" + app.remaining().front() + "'");
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  }
  // An empty value is a slip (an unset shell variable), never "the default".
  for (auto [value, name] : {std::pair{&config_path, "--config"}, std::pair{&output, "--output"},
                             std::pair{&policy_dir, "--policy-dir"}, std::pair{&check_policy, "--check-policy"}})
    if (*value && (*value)->empty()) return usage_error(std::string(name) + " needs a value, got ''");
  if (version) {
    std::cout << "rampartd " << RAMPART_VERSION << " (event ABI " << RP_ABI_VERSION << ")\n";
    return 0;
  }
  if (print_default) {
    std::cout << rampart::config::kDefaultConfigYaml;
    return 0;
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
