// Who is calling the API, for the access check and the audit trail. Plain
// data, no generated types: the daemon's core audits with it too.
#pragma once

#include <cstdint>
#include <string>

namespace rampart::api {

struct Peer {
  std::string transport;   // "unix" or "tcp" (or the trigger: "SIGHUP", "inotify", "retry")
  bool has_creds = false;  // unix: SO_PEERCRED was read
  uint32_t uid = 0, gid = 0, pid = 0;
  std::string address;   // tcp: "ipv4:127.0.0.1:5000"; unix: the socket path
  std::string identity;  // tcp with mTLS: the client certificate's subject CN
  std::string describe() const;
};

}  // namespace rampart::api
