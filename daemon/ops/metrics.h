// Prometheus text exposition (format 0.0.4): a builder that writes metric
// families with their HELP and TYPE lines, and a fixed-bucket histogram.
// Pure: the daemon fills it from its own counters when /metrics is scraped,
// so nothing on the event path does more than bump a counter.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rampart::ops {

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

class MetricsText {
 public:
  // Starts a family named "rampart_" + name.
  MetricsText& family(std::string_view name, std::string_view type, std::string_view help);
  // Starts a family with the name as given: the standard process_* metrics.
  MetricsText& standard_family(std::string_view name, std::string_view type, std::string_view help);
  // A sample of the current family (suffix: "_total", "_bucket", ...).
  MetricsText& sample(double value, Labels labels = {}, std::string_view suffix = "");
  MetricsText& sample(uint64_t value, Labels labels = {}, std::string_view suffix = "");
  const std::string& text() const { return out_; }

 private:
  void begin_sample(std::string_view suffix, Labels labels,
                    std::initializer_list<std::pair<std::string_view, std::string_view>> extra = {});
  friend class Histogram;
  std::string out_;
  std::string name_;
};

// Cumulative histogram over fixed upper bounds in seconds.
class Histogram {
 public:
  static constexpr std::array<double, 12> kBounds{0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01,
                                                  0.025,  0.05,  0.1,    0.25,  1.0,    5.0};
  void observe(double seconds);
  uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  // Writes the _bucket, _sum and _count samples into the current family.
  void write(MetricsText& m) const;

 private:
  std::array<uint64_t, kBounds.size()> buckets_{};  // not cumulative: one per bound
  uint64_t count_ = 0;
  double sum_ = 0;
};

// Escapes a label value (backslash, double quote, newline).
std::string escape_label(std::string_view v);

// The daemon's own resource use, read from the kernel at scrape time.
struct ProcessStats {
  double cpu_seconds = 0;       // user + system
  uint64_t resident_bytes = 0;  // VmRSS
  uint64_t virtual_bytes = 0;
  uint64_t open_fds = 0;
  double start_time_seconds = 0;  // since the Unix epoch
};
ProcessStats read_process_stats();

}  // namespace rampart::ops
