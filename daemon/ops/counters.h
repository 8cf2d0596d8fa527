// The daemon's counters and gauges, each defined once: its Prometheus family
// (name, help, kind, label names), its place in the {"type":"stats"} JSON
// line, and a function that reads its current samples. The stats line,
// /metrics and GetStatus all render from one reading of this registry, so
// a counter cannot appear in one and be missed or renamed in another.
// Definitions are made once at start; reading them is cheap (it calls each
// read function once) and happens on the loop thread, without locks.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "ops/metrics.h"
#include "outputs/json_writer.h"

namespace rampart::ops {

class Counters {
 public:
  enum class Kind { kCounter, kGauge };
  using Value = std::variant<uint64_t, double>;
  struct Sample {
    std::vector<std::string> labels;  // label values, in the order of Definition::labels
    Value value = uint64_t{0};
  };
  using Read = std::function<std::vector<Sample>()>;

  struct Definition {
    // Unique. For an exported counter, its Prometheus family without the
    // "rampart_" prefix.
    std::string name;
    std::string help;
    Kind kind = Kind::kCounter;
    std::vector<std::string> labels;  // label names (at most two)
    // Where each sample goes in the stats JSON, e.g. "trust.rule_hits" or
    // "events.<type>.delivered" (<label> takes the sample's value of that
    // label); a trailing "[]" appends the samples to an array. Empty: not in
    // the stats line. Stats values are integers.
    std::string stats_path;
    // False: only in the stats line and GetStatus, not in /metrics.
    bool metrics = true;
  };

  // One reading of every counter: what the three renderings work from.
  class Snapshot {
   public:
    // The stats fields, into an object the caller has begun.
    void write_json(outputs::JsonWriter& w) const;
    // Every exported family that has samples (a family without any, e.g.
    // kubelet_* when there is no kubelet, is left out with its HELP).
    void write_metrics(MetricsText& m) const;
    // The sum of a counter's samples, or of those whose labels match
    // `where` (name, value) pairs. An unknown name throws std::logic_error:
    // it is a typo in the daemon, not a state of the host.
    uint64_t value(std::string_view name, const std::vector<std::pair<std::string, std::string>>& where = {}) const;
    const std::vector<Sample>& samples(std::string_view name) const;

   private:
    friend class Counters;
    struct Entry {
      const Definition* def;
      std::vector<Sample> samples;
    };
    const Entry& find(std::string_view name) const;
    std::vector<Entry> entries_;
  };

  // Adds a definition; a repeated name or more than two labels throws
  // std::logic_error (both are mistakes in the daemon's set-up).
  void define(Definition def, Read read);
  // Called at the start of every read(): e.g. one read of the kernel's
  // per-CPU stats map that several counters then share.
  void on_read(std::function<void()> refresh) { refresh_ = std::move(refresh); }
  Snapshot read() const;
  size_t size() const { return defs_.size(); }

  // One unlabelled sample.
  static std::vector<Sample> one(Value v) { return {Sample{{}, v}}; }

 private:
  std::vector<std::pair<Definition, Read>> defs_;
  std::function<void()> refresh_;
};

}  // namespace rampart::ops
