// rampartd's log; see log.h.
#include "ops/log.h"

#include <sys/stat.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "outputs/event_json.h"
#include "outputs/json_writer.h"

namespace rampart::ops {
namespace {

std::mutex g_mutex;
LogOptions g_opts;
bool g_journal = false;

int syslog_priority(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return LOG_DEBUG;
    case LogLevel::kInfo:
      return LOG_INFO;
    case LogLevel::kWarning:
      return LOG_WARNING;
    case LogLevel::kError:
      return LOG_ERR;
  }
  return LOG_INFO;
}

int64_t now_unix_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

std::optional<LogLevel> log_level_from_name(std::string_view name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "warning") return LogLevel::kWarning;
  if (name == "error") return LogLevel::kError;
  return std::nullopt;
}

const char* log_level_name(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

bool stderr_is_journal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (!js) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

void configure_log(const LogOptions& opts) {
  std::lock_guard lock(g_mutex);
  g_opts = opts;
  g_journal = opts.target == LogTarget::kJournal || (opts.target == LogTarget::kAuto && stderr_is_journal());
}

const char* log_destination() {
  std::lock_guard lock(g_mutex);
  return g_journal ? "journal" : "stderr";
}

std::pair<LogLevel, std::string_view> split_level(std::string_view msg) {
  for (auto [prefix, level] : {std::pair{std::string_view("warning: "), LogLevel::kWarning},
                               std::pair{std::string_view("error: "), LogLevel::kError},
                               std::pair{std::string_view("fatal: "), LogLevel::kError}})
    if (msg.starts_with(prefix)) return {level, msg.substr(prefix.size())};
  return {LogLevel::kInfo, msg};
}

std::string format_log(LogFormat format, LogLevel level, std::string_view msg, int64_t unix_ns) {
  std::string out;
  if (format == LogFormat::kText) {
    out = "rampartd: ";
    if (level == LogLevel::kWarning || level == LogLevel::kError || level == LogLevel::kDebug)
      if (split_level(msg).first == LogLevel::kInfo) out += std::string(log_level_name(level)) + ": ";
    out += msg;
    return out;
  }
  auto [_, text] = split_level(msg);
  outputs::JsonWriter w(out);
  char buf[40];
  w.begin_object();
  w.field("time", outputs::format_rfc3339(buf, unix_ns));
  w.field("level", log_level_name(level)).field("logger", "rampartd").field("msg", text);
  w.end_object();
  return out;
}

void log(LogLevel level, std::string_view msg) {
  std::lock_guard lock(g_mutex);
  if (level < g_opts.level) return;
  if (g_journal) {
    auto [_, text] = split_level(msg);
    sd_journal_send("MESSAGE=%.*s", static_cast<int>(text.size()), text.data(), "PRIORITY=%i", syslog_priority(level),
                    "SYSLOG_IDENTIFIER=rampartd", "RAMPART_LEVEL=%s", log_level_name(level), nullptr);
    return;
  }
  std::string line = format_log(g_opts.format, level, msg, now_unix_ns());
  line.push_back('\n');
  // One write per record: lines from two threads never interleave.
  for (size_t off = 0; off < line.size();) {
    ssize_t n = ::write(STDERR_FILENO, line.data() + off, line.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

void log_line(std::string_view msg) { log(split_level(msg).first, msg); }

}  // namespace rampart::ops
