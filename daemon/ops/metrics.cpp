// Prometheus text exposition; see metrics.h.
#include "ops/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace rampart::ops {

std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

MetricsText& MetricsText::family(std::string_view name, std::string_view type, std::string_view help) {
  return standard_family("rampart_" + std::string(name), type, help);
}

MetricsText& MetricsText::standard_family(std::string_view name, std::string_view type, std::string_view help) {
  name_ = std::string(name);
  out_ += "# HELP " + name_ + " " + std::string(help) + "\n# TYPE " + name_ + " " + std::string(type) + "\n";
  return *this;
}

void MetricsText::begin_sample(std::string_view suffix, Labels labels,
                               std::initializer_list<std::pair<std::string_view, std::string_view>> extra) {
  out_ += name_;
  out_ += suffix;
  if (labels.size() + extra.size()) {
    out_ += '{';
    bool first = true;
    for (const auto* list : {&labels, &extra})
      for (const auto& [k, v] : *list) {
        if (!first) out_ += ',';
        first = false;
        out_ += k;
        out_ += "=\"" + escape_label(v) + "\"";
      }
    out_ += '}';
  }
  out_ += ' ';
}

MetricsText& MetricsText::sample(uint64_t value, Labels labels, std::string_view suffix) {
  begin_sample(suffix, labels);
  out_ += std::to_string(value);
  out_ += '\n';
  return *this;
}

MetricsText& MetricsText::sample(double value, Labels labels, std::string_view suffix) {
  begin_sample(suffix, labels);
  char buf[64];
  if (std::isinf(value))
    std::snprintf(buf, sizeof buf, "%s", value > 0 ? "+Inf" : "-Inf");
  else
    std::snprintf(buf, sizeof buf, "%.15g", value);
  out_ += buf;
  out_ += '\n';
  return *this;
}

void Histogram::observe(double seconds) {
  ++count_;
  sum_ += seconds;
  for (size_t i = 0; i < kBounds.size(); ++i)
    if (seconds <= kBounds[i]) {
      ++buckets_[i];
      return;
    }
}

void Histogram::write(MetricsText& m) const {
  uint64_t cumulative = 0;
  char le[32];
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i];
    std::snprintf(le, sizeof le, "%g", kBounds[i]);
    m.begin_sample("_bucket", {}, {{"le", le}});
    m.out_ += std::to_string(cumulative) + "\n";
  }
  m.begin_sample("_bucket", {}, {{"le", "+Inf"}});
  m.out_ += std::to_string(count_) + "\n";
  m.sample(sum_, {}, "_sum");
  m.sample(count_, {}, "_count");
}

ProcessStats read_process_stats() {
  ProcessStats s;
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0)
    s.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                    static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  const long page = sysconf(_SC_PAGESIZE);
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    unsigned long long size = 0, resident = 0;
    if (std::fscanf(f, "%llu %llu", &size, &resident) == 2) {
      s.virtual_bytes = size * static_cast<uint64_t>(page);
      s.resident_bytes = resident * static_cast<uint64_t>(page);
    }
    std::fclose(f);
  }
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') ++s.open_fds;
    closedir(d);
    if (s.open_fds) --s.open_fds;  // the directory's own fd
  }
  // Field 22 of /proc/self/stat: start time in clock ticks since boot.
  std::ifstream stat("/proc/self/stat");
  std::string line;
  if (std::getline(stat, line)) {
    auto close = line.rfind(')');
    if (close != std::string::npos) {
      std::istringstream rest(line.substr(close + 2));
      std::string field;
      for (int i = 3; i <= 22 && rest >> field; ++i)
        if (i == 22) {
          double ticks = std::strtod(field.c_str(), nullptr);
          timespec boot{}, real{};
          clock_gettime(CLOCK_BOOTTIME, &boot);
          clock_gettime(CLOCK_REALTIME, &real);
          double boot_epoch =
              static_cast<double>(real.tv_sec - boot.tv_sec) + static_cast<double>(real.tv_nsec - boot.tv_nsec) / 1e9;
          s.start_time_seconds = boot_epoch + ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
        }
    }
  }
  return s;
}

}  // namespace rampart::ops
