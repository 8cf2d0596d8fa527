// When policies are reloaded, and what is said about it: the API's
// ReloadPolicies, SIGHUP, changes in the policy directory (inotify,
// debounced), profile stage changes, and retries after the kernel refused a
// write (1 s, doubling to 60 s). The reload itself, atomic across every
// kernel mechanism, is the policy runtime's (engine/policy_runtime.h).
// Everything runs on the pipeline's loop thread.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "control.h"
#include "edges/audit.h"
#include "engine/output.h"
#include "engine/policy_runtime.h"

namespace rampart::edges {

class Reloads {
 public:
  // Registers itself for the runtime's "a deleted file's policies were kept" alerts.
  Reloads(boost::asio::io_context& io, std::string policy_dir, engine::PolicyRuntime& runtime, engine::Output& out,
          Audit& audit);
  ~Reloads();
  // SIGHUP and the inotify watch of the policy directory.
  void start_triggers();
  // An operator's reload (the API): it applies deletions of policy files.
  ReloadAnswer reload(const ReloadAsk& ask, const api::Peer& peer);
  // The configured directory again, deleted files' policies kept (a
  // profile stage change installs its generated policy this way).
  engine::ReloadResult reload_dir(const std::string& source);

  uint64_t ok() const { return ok_; }
  uint64_t failed() const { return failed_; }
  uint64_t retries() const { return retries_; }

 private:
  ReloadAnswer reload_and_audit(const ReloadAsk& ask, const api::Peer& peer, bool keep_deleted);
  engine::ReloadResult run(const std::string& dir, const std::string& text, const std::string& source,
                           bool keep_deleted, uint32_t* retry_in_ms = nullptr);
  void from_trigger(const std::string& why);
  uint32_t schedule_retry();
  void arm_inotify();
  // A {"type":"policy_alert"} record and a log line: a deleted file's policies stay.
  void alert_kept(const std::string& path, const std::vector<std::string>& names);

  boost::asio::io_context& io_;
  std::string dir_;
  engine::PolicyRuntime& runtime_;
  engine::Output& out_;
  Audit& audit_;
  std::unique_ptr<boost::asio::signal_set> hup_;
  int inotify_fd_ = -1;
  std::unique_ptr<boost::asio::posix::stream_descriptor> inotify_;
  std::unique_ptr<boost::asio::steady_timer> debounce_, retry_;
  std::array<char, 4096> inotify_buf_{};
  uint32_t backoff_ms_ = 0;
  uint64_t ok_ = 0, failed_ = 0, retries_ = 0;
};

}  // namespace rampart::edges
