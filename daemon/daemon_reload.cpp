// When policies are reloaded, and what is said about it: the API's
// ReloadPolicies, SIGHUP, changes in the policy directory (inotify,
// debounced), and retries after the kernel refused a write. The reload
// itself, atomic across every kernel mechanism, is the policy runtime's
// (engine/policy_runtime.cpp). Everything runs on the pipeline's loop thread.
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "daemon.h"
#include "outputs/json_writer.h"
#include "util/clock.h"

namespace rampart {

engine::ReloadResult Daemon::reload_policies(const std::string& dir, const std::string& text, const std::string& source,
                                             bool keep_deleted, uint32_t* retry_in_ms) {
  engine::ReloadResult r = policies().reload(dir, text, source, keep_deleted);
  // A refused kernel write: a reload of the policy directory is tried again later.
  if (r.kernel_refused && text.empty() && dir == opts_.config.policy_dir) {
    uint32_t ms = schedule_reload_retry();
    if (retry_in_ms) *retry_in_ms = ms;
  }
  if (r.applied) {
    reload_backoff_ms_ = 0;
    if (reload_retry_) reload_retry_->cancel();
  }
  ++(r.applied ? reloads_ok_ : reloads_failed_);
  return r;
}

ReloadAnswer Daemon::reload(const ReloadAsk& ask, const api::Peer& peer) {
  return reload_and_audit(ask, peer, /*keep_deleted=*/false);  // an explicit reload applies deletions
}

ReloadAnswer Daemon::reload_and_audit(const ReloadAsk& ask, const api::Peer& peer, bool keep_deleted) {
  ReloadAnswer a;
  std::string dir = ask.dir.empty() ? opts_.config.policy_dir : ask.dir;
  std::string source = ask.source.empty() ? "<request>" : ask.source;
  if (ask.text.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
      a.invalid = "policy directory " + dir + " does not exist";
      return a;
    }
  }
  a.result = reload_policies(dir, ask.text, source, keep_deleted, &a.retry_in_ms);
  const auto& r = a.result;
  std::string what = ask.text.empty() ? dir : source;
  if (r.applied) {
    audit("policy_reload", 0, peer, "applied",
          what + ": generation " + std::to_string(r.generation) + ", " + std::to_string(r.added.size()) + " added, " +
              std::to_string(r.removed.size()) + " removed, " + std::to_string(r.changed.size()) + " changed");
  } else {
    audit("policy_reload", 0, peer, "rejected",
          what + ": " + std::to_string(r.errors.size()) +
              " errors, first: " + (r.errors.empty() ? std::string() : r.errors.front().str()));
  }
  return a;
}

void Daemon::reload_from_trigger(const std::string& why) {
  api::Peer peer;
  peer.transport = why;
  std::error_code ec;
  if (!std::filesystem::is_directory(opts_.config.policy_dir, ec)) {
    log(why + ": policy directory " + opts_.config.policy_dir + " does not exist; nothing reloaded");
    return;
  }
  // SIGHUP is the operator's word, like the API; inotify and retries keep
  // the policies of deleted files.
  auto a = reload_and_audit({}, peer, /*keep_deleted=*/why != "SIGHUP");
  for (const auto& d : a.result.errors) log("  " + d.str());
}

void Daemon::alert_kept(const std::string& path, const std::vector<std::string>& names) {
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  const uint64_t now = boot_now_ns();
  auto& o = engine_->output();
  outputs::JsonWriter w(o.buffer());
  o.begin_record(w, now, "policy_alert");
  w.field("reason", "file_deleted").field("file", path);
  w.key("policies").begin_array();
  for (const auto& n : names) w.value(n);
  w.end_array();
  w.field("action", "kept");
  o.end_record(w);
  log("ALERT: policy file " + path + " was deleted; its policies (" + list +
      ") stay in force. To remove them: `rampartctl policy reload` or SIGHUP");
}

uint32_t Daemon::schedule_reload_retry() {
  reload_backoff_ms_ = std::clamp<uint32_t>(reload_backoff_ms_ * 2, 1000, 60000);
  if (!reload_retry_) reload_retry_ = std::make_unique<boost::asio::steady_timer>(io_);
  reload_retry_->expires_after(std::chrono::milliseconds(reload_backoff_ms_));
  reload_retry_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    ++reload_retries_;
    reload_from_trigger("retry");
  });
  log("the kernel refused a policy write; the policies in force are unchanged; the reload of " +
      opts_.config.policy_dir + " is retried in " + std::to_string(reload_backoff_ms_) + " ms");
  return reload_backoff_ms_;
}

void Daemon::start_reload_triggers() {
  hup_ = std::make_unique<boost::asio::signal_set>(io_, SIGHUP);
  struct Hup {
    Daemon* d;
    void operator()(const boost::system::error_code& ec, int) const {
      if (ec) return;
      d->reload_from_trigger("SIGHUP");
      d->hup_->async_wait(*this);
    }
  };
  hup_->async_wait(Hup{this});

  inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd_ < 0) {
    log("warning: inotify_init1: " + std::string(std::strerror(errno)) + "; policy directory changes are not watched");
    return;
  }
  constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE;
  if (inotify_add_watch(inotify_fd_, opts_.config.policy_dir.c_str(), kMask) < 0) {
    close(inotify_fd_);
    inotify_fd_ = -1;
    if (errno != ENOENT) log("warning: cannot watch " + opts_.config.policy_dir + ": " + std::strerror(errno));
    return;
  }
  inotify_ = std::make_unique<boost::asio::posix::stream_descriptor>(io_, inotify_fd_);
  debounce_ = std::make_unique<boost::asio::steady_timer>(io_);
  arm_inotify();
}

void Daemon::arm_inotify() {
  inotify_->async_read_some(boost::asio::buffer(inotify_buf_), [this](const boost::system::error_code& ec, size_t) {
    if (ec) return;
    // Editors write a file in several steps: reload once things settle.
    debounce_->expires_after(std::chrono::milliseconds(300));
    debounce_->async_wait([this](const boost::system::error_code& e) {
      if (!e) reload_from_trigger("inotify");
    });
    arm_inotify();
  });
}

}  // namespace rampart
