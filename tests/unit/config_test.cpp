// Unit tests for rampartd's configuration (daemon/config/config.h): the
// embedded default file parses to the documented defaults, an empty document
// keeps them, every key can be overridden, and every kind of bad input is
// rejected with a message that names the place (file:line:column) and the key.
#include "config/config.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <string>
#include <vector>

#include "shared/rp_abi.h"

using rampart::config::Config;
using rampart::config::kDefaultConfigYaml;
using rampart::config::load_file;
using rampart::config::parse;

namespace {

// The documented defaults, as in config/rampart.yaml and config.h.
void check_defaults(const Config& c) {
  CHECK(c.output_path == "-");
  CHECK(c.ringbuf_size_mb == 16);
  CHECK(c.wakeup_kb == 256);
  CHECK(c.poll_interval_ms == 5);
  CHECK(c.excluded_events.empty());
  CHECK(c.process_table_max == 65536);
  CHECK(c.stats_interval_s == 0);
  CHECK(c.ringbuf_size_kb == 0);
  CHECK(c.ringbuf_bytes() == 16u << 20);
  CHECK(c.trust_max_processes == 65536);
  CHECK(c.trust_max_evidence == 32);
  CHECK(c.rate_process_per_s == 500000);
  CHECK(c.rate_process_burst == 1000000);
  CHECK(c.rate_cgroup_per_s == 1000000);
  CHECK(c.rate_cgroup_burst == 2000000);
  CHECK(c.overload_check_ms == 250);
  CHECK(c.learning.state_dir == "/var/lib/rampart");
  CHECK(c.learning.collapse_threshold == 8);
  CHECK(c.learning.max_items == 4096);
  CHECK(c.learning.stability_window_s == 86400);
  CHECK_FALSE(c.learning.auto_promote);
  CHECK(c.learning.shadow_period_s == 86400);
  CHECK(c.learning.flush_interval_s == 10);
}

// The error message for `text`, which must fail to parse.
std::string error_for(const std::string& text) {
  auto r = parse(text, "test.yaml");
  INFO("input:\n" << text);
  REQUIRE_FALSE(r.has_value());
  INFO("message: " << r.error().message);
  CHECK(r.error().code == 0);  // not from a syscall
  CHECK_FALSE(r.error().message.empty());
  return r.error().message;
}

}  // namespace

TEST_CASE("the embedded default config parses to the documented defaults", "[unit]") {
  REQUIRE_FALSE(kDefaultConfigYaml.empty());
  auto r = parse(kDefaultConfigYaml, "<embedded>");
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.has_value());
  check_defaults(*r);
  check_defaults(rampart::config::defaults());
  check_defaults(Config{});  // the struct's own initializers agree with the file
}

TEST_CASE("an empty document gives the defaults", "[unit]") {
  for (const char* text : {"", "\n", "# nothing but a comment\n", "---\n"}) {
    INFO("input: '" << text << "'");
    auto r = parse(text, "test.yaml");
    REQUIRE(r.has_value());
    check_defaults(*r);
  }
}

TEST_CASE("every key can be overridden", "[unit]") {
  const std::string text =
      "output:\n"
      "  path: /var/log/rampart/events.jsonl\n"
      "ringbuf:\n"
      "  size_mb: 64\n"
      "  wakeup_kb: 512\n"
      "  poll_interval_ms: 100\n"
      "events:\n"
      "  exclude: [open, fork]\n"
      "process_table:\n"
      "  max_entries: 1024\n"
      "stats:\n"
      "  interval_s: 60\n";
  auto r = parse(text, "test.yaml");
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.has_value());
  CHECK(r->output_path == "/var/log/rampart/events.jsonl");
  CHECK(r->ringbuf_size_mb == 64);
  CHECK(r->wakeup_kb == 512);
  CHECK(r->poll_interval_ms == 100);
  CHECK(r->excluded_events == std::vector<uint32_t>{RP_EV_OPEN, RP_EV_FORK});
  CHECK(r->process_table_max == 1024);
  CHECK(r->stats_interval_s == 60);
}

TEST_CASE("keys left out keep their defaults", "[unit]") {
  auto r = parse("ringbuf:\n  size_mb: 1\nevents:\n  exclude:\n    - exec\n    - memfd_create\n", "test.yaml");
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.has_value());
  CHECK(r->ringbuf_size_mb == 1);
  CHECK(r->wakeup_kb == 256);
  CHECK(r->poll_interval_ms == 5);
  CHECK(r->output_path == "-");
  CHECK(r->excluded_events == std::vector<uint32_t>{RP_EV_EXEC, RP_EV_MEMFD_CREATE});
}

TEST_CASE("an unknown top-level key is named with its position", "[unit]") {
  auto msg = error_for("output:\n  path: x\nbogus: 1\n");
  CHECK_THAT(msg, Catch::Contains("test.yaml:3:1:"));
  CHECK_THAT(msg, Catch::Contains("unknown key 'bogus'"));
  CHECK_THAT(msg, Catch::Contains("ringbuf"));  // lists the keys it knows
}

TEST_CASE("an unknown nested key is named with its section", "[unit]") {
  auto msg = error_for("ringbuf:\n  size_mb: 16\n  bogus: 2\n");
  CHECK_THAT(msg, Catch::Contains("test.yaml:3:3:"));
  CHECK_THAT(msg, Catch::Contains("ringbuf.bogus"));
  CHECK_THAT(msg, Catch::Contains("size_mb"));
}

TEST_CASE("a value of the wrong type is rejected", "[unit]") {
  SECTION("a string for size_mb") {
    auto msg = error_for("ringbuf:\n  size_mb: big\n");
    CHECK_THAT(msg, Catch::Contains("test.yaml:2:12:"));
    CHECK_THAT(msg, Catch::Contains("ringbuf.size_mb"));
    CHECK_THAT(msg, Catch::Contains("integer"));
  }
  SECTION("a negative number") {
    auto msg = error_for("stats:\n  interval_s: -1\n");
    CHECK_THAT(msg, Catch::Contains("test.yaml:2:15:"));
    CHECK_THAT(msg, Catch::Contains("stats.interval_s"));
  }
  SECTION("a list for a number") {
    auto msg = error_for("process_table:\n  max_entries: [1, 2]\n");
    CHECK_THAT(msg, Catch::Contains("test.yaml:2:16:"));
    CHECK_THAT(msg, Catch::Contains("process_table.max_entries"));
  }
  SECTION("a scalar for a section") {
    auto msg = error_for("ringbuf: 5\n");
    CHECK_THAT(msg, Catch::Contains("test.yaml:1:10:"));
    CHECK_THAT(msg, Catch::Contains("'ringbuf' must be a mapping"));
  }
  SECTION("a scalar for the exclude list") {
    auto msg = error_for("events:\n  exclude: open\n");
    CHECK_THAT(msg, Catch::Contains("test.yaml:2:12:"));
    CHECK_THAT(msg, Catch::Contains("events.exclude"));
  }
  SECTION("an empty output path") {
    auto msg = error_for("output:\n  path: \"\"\n");
    CHECK_THAT(msg, Catch::Contains("test.yaml:2:9:"));
    CHECK_THAT(msg, Catch::Contains("output.path"));
  }
}

TEST_CASE("a value out of range is rejected", "[unit]") {
  SECTION("poll_interval_ms: 0") {
    auto msg = error_for("ringbuf:\n  poll_interval_ms: 0\n");
    CHECK_THAT(msg, Catch::Contains("test.yaml:2:21:"));
    CHECK_THAT(msg, Catch::Contains("ringbuf.poll_interval_ms"));
    CHECK_THAT(msg, Catch::Contains("between 1 and 1000"));
  }
  SECTION("size_mb too large") {
    auto msg = error_for("ringbuf:\n  size_mb: 2048\n");
    CHECK_THAT(msg, Catch::Contains("test.yaml:2:12:"));
    CHECK_THAT(msg, Catch::Contains("ringbuf.size_mb"));
  }
  SECTION("a number too large for 32 bits") {
    auto msg = error_for("process_table:\n  max_entries: 99999999999999999999\n");
    CHECK_THAT(msg, Catch::Contains("test.yaml:2:16:"));
    CHECK_THAT(msg, Catch::Contains("process_table.max_entries"));
  }
}

TEST_CASE("size_mb must be a power of two", "[unit]") {
  auto msg = error_for("output:\n  path: \"-\"\nringbuf:\n  size_mb: 12\n");
  CHECK_THAT(msg, Catch::Contains("test.yaml:4:12:"));
  CHECK_THAT(msg, Catch::Contains("ringbuf.size_mb"));
  CHECK_THAT(msg, Catch::Contains("power of two"));
  for (const char* ok : {"1", "2", "512", "1024"}) {
    INFO("size_mb " << ok);
    CHECK(parse(std::string("ringbuf:\n  size_mb: ") + ok + "\n", "test.yaml").has_value());
  }
}

TEST_CASE("wakeup_kb must be smaller than the ring buffer", "[unit]") {
  auto msg = error_for("ringbuf:\n  size_mb: 1\n  wakeup_kb: 1024\n");
  CHECK_THAT(msg, Catch::Contains("test.yaml:3:14:"));
  CHECK_THAT(msg, Catch::Contains("ringbuf.wakeup_kb"));
  CHECK(parse("ringbuf:\n  size_mb: 1\n  wakeup_kb: 1020\n", "test.yaml").has_value());
}

TEST_CASE("events.exclude refuses enforce, the record of refusals, naming the item", "[unit]") {
  auto r = parse("events:\n  exclude: [open, enforce]\n", "test.yaml");
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().what(), Catch::Contains("test.yaml:2:19"));
  CHECK_THAT(r.error().what(), Catch::Contains("'enforce' cannot be excluded"));
}

TEST_CASE("an unknown event type in events.exclude points at the item", "[unit]") {
  SECTION("block list") {
    auto msg = error_for("events:\n  exclude:\n    - exec\n    - bogus\n");
    CHECK_THAT(msg, Catch::Contains("test.yaml:4:7:"));
    CHECK_THAT(msg, Catch::Contains("events.exclude"));
    CHECK_THAT(msg, Catch::Contains("'bogus'"));
  }
  SECTION("flow list") {
    auto msg = error_for("events:\n  exclude: [open, nope]\n");
    CHECK_THAT(msg, Catch::Contains("test.yaml:2:19:"));
    CHECK_THAT(msg, Catch::Contains("'nope'"));
  }
  SECTION("a name that is not a type, though the decoder knows it") {
    auto msg = error_for("events:\n  exclude: [unknown]\n");
    CHECK_THAT(msg, Catch::Contains("test.yaml:2:13:"));
  }
}

TEST_CASE("invalid YAML is reported with a line number", "[unit]") {
  SECTION("an unclosed flow list") {
    auto msg = error_for("ringbuf:\n  size_mb: 16\nevents:\n  exclude: [open, fork\n");
    CHECK_THAT(msg, Catch::StartsWith("test.yaml:"));
    CHECK_THAT(msg, Catch::Contains("invalid YAML"));
    CHECK_THAT(msg, Catch::Matches("test\\.yaml:[1-9][0-9]*:[1-9][0-9]*: .*"));
  }
  SECTION("bad indentation") {
    auto msg = error_for("ringbuf:\n  size_mb: 16\n wakeup_kb: 8\n");
    CHECK_THAT(msg, Catch::Contains("test.yaml:3:"));
    CHECK_THAT(msg, Catch::Contains("invalid YAML"));
  }
}

TEST_CASE("the top level must be a mapping", "[unit]") {
  for (const char* text : {"- output\n- ringbuf\n", "just a string\n", "42\n"}) {
    INFO("input: " << text);
    auto msg = error_for(text);
    CHECK_THAT(msg, Catch::Contains("test.yaml:1:1:"));
    CHECK_THAT(msg, Catch::Contains("the top level must be a mapping"));
  }
}

TEST_CASE("load_file reads a file and names it in errors", "[unit]") {
  SECTION("a missing file") {
    const std::string path = "/nonexistent-rampart-dir/rampart.yaml";
    auto r = load_file(path);
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message, Catch::Contains(path));
    CHECK_THAT(r.error().what(), Catch::Contains(path));
  }
  SECTION("a file with an error: the path is the source") {
    char tmpl[] = "/tmp/rampart_config_XXXXXX";
    int fd = ::mkstemp(tmpl);
    REQUIRE(fd >= 0);
    ::close(fd);
    const std::string path = tmpl;
    std::ofstream(path) << "ringbuf:\n  size_mb: 16\n  wakeup_kb: x\n";
    auto bad = load_file(path);
    std::ofstream(path) << "stats:\n  interval_s: 10\n";
    auto good = load_file(path);
    ::unlink(path.c_str());

    REQUIRE_FALSE(bad.has_value());
    CHECK_THAT(bad.error().message, Catch::Contains(path + ":3:14:"));
    CHECK_THAT(bad.error().message, Catch::Contains("ringbuf.wakeup_kb"));
    REQUIRE(good.has_value());
    CHECK(good->stats_interval_s == 10);
    CHECK(good->ringbuf_size_mb == 16);
  }
}

TEST_CASE("policy.dir and enforcement.network parse and are validated", "[unit]") {
  auto c = rampart::config::parse("policy:\n  dir: /srv/policies\nenforcement:\n  network: false\n", "t.yaml");
  REQUIRE(c.has_value());
  CHECK(c->policy_dir == "/srv/policies");
  CHECK(c->enforce_network == false);
  auto d = rampart::config::parse(rampart::config::kDefaultConfigYaml, "<embedded>");
  REQUIRE(d.has_value());
  CHECK(d->policy_dir == "/etc/rampart/policies");
  CHECK(d->enforce_network == true);
  auto bad = rampart::config::parse("enforcement:\n  network: maybe\n", "t.yaml");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().what().find("t.yaml:2:12") != std::string::npos);
  CHECK(bad.error().what().find("true or false") != std::string::npos);
}

TEST_CASE("enforcement: file mounts, sensitive paths and the decision deadline", "[unit]") {
  auto d = rampart::config::defaults();
  CHECK(d.decision_deadline_ms == 1000);
  CHECK(d.file_mounts.empty());
  CHECK(std::find(d.sensitive_paths.begin(), d.sensitive_paths.end(), "/etc/shadow") != d.sensitive_paths.end());
  CHECK(std::find(d.sensitive_paths.begin(), d.sensitive_paths.end(), "/root/.ssh/") != d.sensitive_paths.end());

  auto r = parse(
      "enforcement:\n  file_mounts: [/srv]\n  sensitive_paths: [\"/srv/keys/*.pem\", /srv/secret]\n"
      "  decision_deadline_ms: 250\n",
      "test.yaml");
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.has_value());
  CHECK(r->file_mounts == std::vector<std::string>{"/srv"});
  CHECK(r->sensitive_paths == std::vector<std::string>{"/srv/keys/*.pem", "/srv/secret"});
  CHECK(r->decision_deadline_ms == 250);

  auto msg = error_for("enforcement:\n  sensitive_paths: [\"relative/path\"]\n");
  CHECK_THAT(msg, Catch::Contains("enforcement.sensitive_paths"));
  CHECK_THAT(msg, Catch::Contains("relative/path"));
  msg = error_for("enforcement:\n  decision_deadline_ms: 0\n");
  CHECK_THAT(msg, Catch::Contains("test.yaml:2:25:"));
  CHECK_THAT(msg, Catch::Contains("between 10 and 60000"));
  msg = error_for("enforcement:\n  file_mounts: [srv]\n");
  CHECK_THAT(msg, Catch::Contains("enforcement.file_mounts"));
}

TEST_CASE("ringbuf.size_kb sets a small ring buffer, exclusive with size_mb", "[unit]") {
  auto r = parse("ringbuf:\n  size_kb: 8\n  wakeup_kb: 4\n", "test.yaml");
  REQUIRE(r.has_value());
  CHECK(r->ringbuf_bytes() == 8192);
  auto msg = error_for("ringbuf:\n  size_mb: 1\n  size_kb: 64\n  wakeup_kb: 4\n");
  CHECK_THAT(msg, Catch::Contains("test.yaml:3:12:"));
  CHECK_THAT(msg, Catch::Contains("not both"));
  CHECK_THAT(error_for("ringbuf:\n  size_kb: 12\n  wakeup_kb: 4\n"), Catch::Contains("power of two"));
  CHECK_THAT(error_for("ringbuf:\n  size_kb: 2\n"), Catch::Contains("between 4 and"));
  // The default wakeup threshold (256 KiB) does not fit a 64 KiB buffer.
  CHECK_THAT(error_for("ringbuf:\n  size_kb: 64\n"), Catch::Contains("ringbuf.wakeup_kb"));
}

TEST_CASE("ratelimit, trust and overload keys parse and are range-checked", "[unit]") {
  auto r = parse(
      "ratelimit:\n  process_per_s: 0\n  process_burst: 10\n  cgroup_per_s: 2000\n  cgroup_burst: 500\n"
      "trust:\n  max_processes: 128\n  max_evidence: 4\n"
      "overload:\n  check_interval_ms: 50\n",
      "test.yaml");
  REQUIRE(r.has_value());
  CHECK(r->rate_process_per_s == 0);
  CHECK(r->rate_process_burst == 10);
  CHECK(r->rate_cgroup_per_s == 2000);
  CHECK(r->rate_cgroup_burst == 500);
  CHECK(r->trust_max_processes == 128);
  CHECK(r->trust_max_evidence == 4);
  CHECK(r->overload_check_ms == 50);
  CHECK_THAT(error_for("ratelimit:\n  process_burst: 0\n"), Catch::Contains("test.yaml:2:18:"));
  CHECK_THAT(error_for("ratelimit:\n  cgroup_per_s: fast\n"), Catch::Contains("ratelimit.cgroup_per_s"));
  CHECK_THAT(error_for("ratelimit:\n  per_s: 5\n"), Catch::Contains("unknown key 'ratelimit.per_s'"));
  CHECK_THAT(error_for("trust:\n  max_evidence: 0\n"), Catch::Contains("trust.max_evidence"));
  CHECK_THAT(error_for("overload:\n  check_interval_ms: 5\n"), Catch::Contains("between 10 and 10000"));
}

TEST_CASE("learning: profile storage, collapse, bound and promotion", "[unit]") {
  auto c = parse(
      "learning:\n  state_dir: /srv/state\n  collapse_threshold: 3\n  max_items: 100\n"
      "  stability_window_s: 60\n  auto_promote: true\n  shadow_period_s: 0\n  flush_interval_s: 2\n",
      "test.yaml");
  REQUIRE(c);
  CHECK(c->learning.state_dir == "/srv/state");
  CHECK(c->learning.collapse_threshold == 3);
  CHECK(c->learning.max_items == 100);
  CHECK(c->learning.stability_window_s == 60);
  CHECK(c->learning.auto_promote);
  CHECK(c->learning.shadow_period_s == 0);
  CHECK(c->learning.flush_interval_s == 2);
  CHECK(parse("learning:\n  state_dir: \"\"\n", "test.yaml")->learning.state_dir.empty());
  CHECK(error_for("learning:\n  state_dir: relative\n") ==
        "test.yaml:2:14: 'learning.state_dir' must be an absolute directory, or \"\" for none");
  CHECK(error_for("learning:\n  max_items: 8\n").find("'learning.max_items' must be between 16") != std::string::npos);
  CHECK(error_for("learning:\n  window: 1\n").find("unknown key 'learning.window'") != std::string::npos);
}
