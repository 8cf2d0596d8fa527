// Operations code, no privileges: the Prometheus text format and the
// histogram, the log record formats and levels, metrics listen addresses
// and the config's metrics: and log: sections.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "config/config.h"
#include "ops/address.h"
#include "ops/log.h"
#include "ops/metrics.h"

using namespace rampart;

TEST_CASE("metrics: families carry HELP and TYPE, samples their labels, escaped") {
  ops::MetricsText m;
  m.family("events_total", "counter", "Events by type.");
  m.sample(uint64_t{3}, {{"type", "exec"}});
  m.sample(uint64_t{0}, {{"type", "we\"ird\\\n"}});
  m.standard_family("process_cpu_seconds_total", "counter", "CPU.");
  m.sample(1.5);
  CHECK(m.text() ==
        "# HELP rampart_events_total Events by type.\n"
        "# TYPE rampart_events_total counter\n"
        "rampart_events_total{type=\"exec\"} 3\n"
        "rampart_events_total{type=\"we\\\"ird\\\\\\n\"} 0\n"
        "# HELP process_cpu_seconds_total CPU.\n"
        "# TYPE process_cpu_seconds_total counter\n"
        "process_cpu_seconds_total 1.5\n");
}

TEST_CASE("metrics: the histogram's buckets are cumulative and end in +Inf") {
  ops::Histogram h;
  h.observe(0.0001);  // first bucket
  h.observe(0.003);   // 0.005
  h.observe(0.003);
  h.observe(100);  // past the last bound: only +Inf
  ops::MetricsText m;
  m.family("verdict_latency_seconds", "histogram", "Latency.");
  h.write(m);
  const auto& t = m.text();
  CHECK(t.find("rampart_verdict_latency_seconds_bucket{le=\"0.0005\"} 1\n") != std::string::npos);
  CHECK(t.find("rampart_verdict_latency_seconds_bucket{le=\"0.0025\"} 1\n") != std::string::npos);
  CHECK(t.find("rampart_verdict_latency_seconds_bucket{le=\"0.005\"} 3\n") != std::string::npos);
  CHECK(t.find("rampart_verdict_latency_seconds_bucket{le=\"5\"} 3\n") != std::string::npos);
  CHECK(t.find("rampart_verdict_latency_seconds_bucket{le=\"+Inf\"} 4\n") != std::string::npos);
  CHECK(t.find("rampart_verdict_latency_seconds_count 4\n") != std::string::npos);
  CHECK(h.sum() == Approx(100.0061));
}

TEST_CASE("metrics: the daemon's own CPU time and memory are read") {
  auto s = ops::read_process_stats();
  CHECK(s.resident_bytes > 0);
  CHECK(s.open_fds > 0);
  CHECK(s.start_time_seconds > 1.6e9);
}

TEST_CASE("log: a level prefix sets the level, and text keeps the message as it was") {
  using ops::LogLevel;
  CHECK(ops::split_level("warning: cannot mount x").first == LogLevel::kWarning);
  CHECK(ops::split_level("warning: cannot mount x").second == "cannot mount x");
  CHECK(ops::split_level("error: boom").first == LogLevel::kError);
  CHECK(ops::split_level("attached 4 programs").first == LogLevel::kInfo);
  CHECK(ops::format_log(ops::LogFormat::kText, LogLevel::kInfo, "attached 4 programs", 0) ==
        "rampartd: attached 4 programs");
  CHECK(ops::format_log(ops::LogFormat::kText, LogLevel::kWarning, "warning: x", 0) == "rampartd: warning: x");
  CHECK(ops::format_log(ops::LogFormat::kText, LogLevel::kError, "fatal: y", 0) == "rampartd: fatal: y");
  // A message without a prefix logged at warning gets one in text.
  CHECK(ops::format_log(ops::LogFormat::kText, LogLevel::kWarning, "z", 0) == "rampartd: warning: z");
}

TEST_CASE("log: JSON records carry time, level and the message without its prefix") {
  auto line = ops::format_log(ops::LogFormat::kJson, ops::LogLevel::kWarning, "warning: disk \"full\"",
                              1'700'000'000'123'456'789);
  auto j = nlohmann::json::parse(line);
  CHECK(j["level"] == "warning");
  CHECK(j["msg"] == "disk \"full\"");
  CHECK(j["logger"] == "rampartd");
  CHECK(j["time"] == "2023-11-14T22:13:20.123456789Z");
  CHECK(line.find('\n') == std::string::npos);
}

TEST_CASE("log: level names") {
  CHECK(ops::log_level_from_name("debug") == ops::LogLevel::kDebug);
  CHECK(ops::log_level_from_name("error") == ops::LogLevel::kError);
  CHECK_FALSE(ops::log_level_from_name("loud"));
}

TEST_CASE("metrics address: numeric host and port, loopback told apart") {
  auto a = ops::parse_listen_address("127.0.0.1:9464");
  REQUIRE(a);
  CHECK(a->host == "127.0.0.1");
  CHECK(a->port == 9464);
  CHECK(a->loopback);
  CHECK(ops::parse_listen_address("127.8.0.1:0")->loopback);
  CHECK(ops::parse_listen_address("[::1]:9464")->loopback);
  CHECK_FALSE(ops::parse_listen_address("0.0.0.0:9464")->loopback);
  CHECK_FALSE(ops::parse_listen_address("[::]:1")->loopback);
  CHECK_FALSE(ops::parse_listen_address("localhost:9464"));  // no name lookups
  CHECK_FALSE(ops::parse_listen_address("127.0.0.1"));
  CHECK_FALSE(ops::parse_listen_address("127.0.0.1:70000"));
  CHECK_FALSE(ops::parse_listen_address("::1:80"));
}

TEST_CASE("config: metrics on loopback by default, remote only when allowed") {
  auto d = config::defaults();
  CHECK(d.metrics_address == "127.0.0.1:9464");
  CHECK_FALSE(d.metrics_allow_remote);
  CHECK(d.log_level == "info");
  CHECK(d.log_format == "text");
  CHECK(config::parse("metrics:\n  address: \"\"\n", "t.yaml")->metrics_address.empty());
  auto remote = config::parse("metrics:\n  address: \"0.0.0.0:9464\"\n", "t.yaml");
  REQUIRE_FALSE(remote);
  CHECK(remote.error().what().find("t.yaml:2:12: 'metrics.address': 0.0.0.0:9464 is not a loopback address") !=
        std::string::npos);
  CHECK(config::parse("metrics:\n  address: \"0.0.0.0:9464\"\n  allow_remote: true\n", "t.yaml"));
  auto bad = config::parse("metrics:\n  address: \"localhost:1\"\n", "t.yaml");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().what().find("t.yaml:2:12: 'metrics.address'") != std::string::npos);
  auto level = config::parse("log:\n  level: loud\n", "t.yaml");
  REQUIRE_FALSE(level);
  CHECK(level.error().what().find("'log.level' must be one of: debug, info, warning, error, got 'loud'") !=
        std::string::npos);
  CHECK(config::parse("log:\n  format: json\n", "t.yaml")->log_format == "json");
}
