// Policy reload triggers and their audit; see reloads.h.
#include "edges/reloads.h"

#include <signal.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "ops/log.h"
#include "outputs/json_writer.h"
#include "util/clock.h"

namespace rampart::edges {

Reloads::Reloads(boost::asio::io_context& io, std::string policy_dir, engine::PolicyRuntime& runtime,
                 engine::Output& out, Audit& audit)
    : io_(io), dir_(std::move(policy_dir)), runtime_(runtime), out_(out), audit_(audit) {
  runtime_.on_kept([this](const std::string& path, const std::vector<std::string>& names) { alert_kept(path, names); });
}

// The stream descriptor owns and closes the inotify fd.
Reloads::~Reloads() = default;

engine::ReloadResult Reloads::run(const std::string& dir, const std::string& text, const std::string& source,
                                  bool keep_deleted, uint32_t* retry_in_ms) {
  engine::ReloadResult r = runtime_.reload(dir, text, source, keep_deleted);
  // A refused kernel write: a reload of the policy directory is tried again later.
  if (r.kernel_refused && text.empty() && dir == dir_) {
    uint32_t ms = schedule_retry();
    if (retry_in_ms) *retry_in_ms = ms;
  }
  if (r.applied) {
    backoff_ms_ = 0;
    if (retry_) retry_->cancel();
  }
  ++(r.applied ? ok_ : failed_);
  return r;
}

engine::ReloadResult Reloads::reload_dir(const std::string& source) { return run(dir_, "", source, true); }

ReloadAnswer Reloads::reload(const ReloadAsk& ask, const api::Peer& peer) {
  return reload_and_audit(ask, peer, /*keep_deleted=*/false);
}

ReloadAnswer Reloads::reload_and_audit(const ReloadAsk& ask, const api::Peer& peer, bool keep_deleted) {
  ReloadAnswer a;
  std::string dir = ask.dir.empty() ? dir_ : ask.dir;
  std::string source = ask.source.empty() ? "<request>" : ask.source;
  if (ask.text.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
      a.invalid = "policy directory " + dir + " does not exist";
      return a;
    }
  }
  a.result = run(dir, ask.text, source, keep_deleted, &a.retry_in_ms);
  const auto& r = a.result;
  std::string what = ask.text.empty() ? dir : source;
  if (r.applied) {
    audit_.record("policy_reload", 0, peer, "applied",
                  what + ": generation " + std::to_string(r.generation) + ", " + std::to_string(r.added.size()) +
                      " added, " + std::to_string(r.removed.size()) + " removed, " + std::to_string(r.changed.size()) +
                      " changed");
  } else {
    audit_.record("policy_reload", 0, peer, "rejected",
                  what + ": " + std::to_string(r.errors.size()) +
                      " errors, first: " + (r.errors.empty() ? std::string() : r.errors.front().str()));
  }
  return a;
}

void Reloads::from_trigger(const std::string& why) {
  api::Peer peer;
  peer.transport = why;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir_, ec)) {
    ops::log_line(why + ": policy directory " + dir_ + " does not exist; nothing reloaded");
    return;
  }
  // SIGHUP is the operator's word, like the API; inotify and retries keep
  // the policies of deleted files.
  auto a = reload_and_audit({}, peer, /*keep_deleted=*/why != "SIGHUP");
  for (const auto& d : a.result.errors) ops::log_line("  " + d.str());
}

void Reloads::alert_kept(const std::string& path, const std::vector<std::string>& names) {
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  outputs::JsonWriter w(out_.buffer());
  out_.begin_record(w, boot_now_ns(), "policy_alert");
  w.field("reason", "file_deleted").field("file", path);
  w.key("policies").begin_array();
  for (const auto& n : names) w.value(n);
  w.end_array();
  w.field("action", "kept");
  out_.end_record(w);
  ops::log_line("ALERT: policy file " + path + " was deleted; its policies (" + list +
                ") stay in force. To remove them: `rampartctl policy reload` or SIGHUP");
}

uint32_t Reloads::schedule_retry() {
  backoff_ms_ = std::clamp<uint32_t>(backoff_ms_ * 2, 1000, 60000);
  if (!retry_) retry_ = std::make_unique<boost::asio::steady_timer>(io_);
  retry_->expires_after(std::chrono::milliseconds(backoff_ms_));
  retry_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    ++retries_;
    from_trigger("retry");
  });
  ops::log_line("the kernel refused a policy write; the policies in force are unchanged; the reload of " + dir_ +
                " is retried in " + std::to_string(backoff_ms_) + " ms");
  return backoff_ms_;
}

void Reloads::start_triggers() {
  hup_ = std::make_unique<boost::asio::signal_set>(io_, SIGHUP);
  struct Hup {
    Reloads* r;
    void operator()(const boost::system::error_code& ec, int) const {
      if (ec) return;
      r->from_trigger("SIGHUP");
      r->hup_->async_wait(*this);
    }
  };
  hup_->async_wait(Hup{this});

  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) {
    ops::log_line("warning: inotify_init1: " + std::string(std::strerror(errno)) +
                  "; policy directory changes are not watched");
    return;
  }
  constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE;
  if (inotify_add_watch(inotify_fd_, dir_.c_str(), kMask) < 0) {
    const int err = errno;
    close(inotify_fd_);
    inotify_fd_ = -1;
    if (err != ENOENT) ops::log_line("warning: cannot watch " + dir_ + ": " + std::strerror(err));
    return;
  }
  inotify_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, inotify_fd_);
  debounce_ = std::make_unique<boost::asio::steady_timer>(io_);
  arm_inotify();
}

void Reloads::arm_inotify() {
  inotify_->async_read_some(boost::asio::buffer(inotify_buf_), [this](const boost::system::error_code& ec, size_t) {
    if (ec) return;
    // Editors write a file in several steps: reload once things settle.
    debounce_->expires_after(std::chrono::milliseconds(300));
    debounce_->async_wait([this](const boost::system::error_code& e) {
      if (!e) from_trigger("inotify");
    });
    arm_inotify();
  });
}

}  // namespace rampart::edges
