// rampartd's log: levelled messages to stderr (text or JSON lines) or, under
// systemd, to the journal with their priority and fields. The daemon's
// messages keep their established wording ("attached 4 programs ..."); a
// leading "warning: ", "error: " or "fatal: " sets the level, so old call
// sites log at the right level unchanged. Thread-safe (the fanotify guard's
// thread may log too); never on the event path.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace rampart::ops {

enum class LogLevel { kDebug, kInfo, kWarning, kError };
enum class LogFormat { kText, kJson };
enum class LogTarget { kAuto, kStderr, kJournal };

// "debug", "info", "warning", "error"; nullopt for anything else.
std::optional<LogLevel> log_level_from_name(std::string_view name);
const char* log_level_name(LogLevel l);

struct LogOptions {
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kText;
  // kAuto: the journal when stderr is the journal's stream (JOURNAL_STREAM
  // names stderr's device and inode, as systemd sets it), else stderr.
  LogTarget target = LogTarget::kAuto;
};

void configure_log(const LogOptions& opts);
// Where messages go now: "stderr" or "journal".
const char* log_destination();

void log(LogLevel level, std::string_view msg);
// A message in the daemon's style: its level comes from a "warning: ",
// "error: " or "fatal: " prefix (kept in text; dropped in JSON and the
// journal, which carry the level as a field), else info.
void log_line(std::string_view msg);

// One log record as it is written to stderr, without the trailing newline.
// Exposed for the unit tests. `unix_ns` is the wall-clock time.
std::string format_log(LogFormat format, LogLevel level, std::string_view msg, int64_t unix_ns);
// The level and the message without its prefix.
std::pair<LogLevel, std::string_view> split_level(std::string_view msg);

// Whether stderr is connected to the journal (JOURNAL_STREAM matches it).
bool stderr_is_journal();

}  // namespace rampart::ops
