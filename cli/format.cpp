// rampartctl's tables; see format.h.
#include "format.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

namespace rampart::cli {

void Table::print(std::ostream& out, const std::string& indent) const {
  std::vector<size_t> width(header_.size(), 0);
  auto measure = [&width](const std::vector<std::string>& r) {
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], r[i].size());
  };
  measure(header_);
  for (const auto& r : rows_) measure(r);
  auto line = [&](const std::vector<std::string>& r) {
    std::string s = indent;
    for (size_t i = 0; i < r.size(); ++i) {
      s += r[i];
      if (i + 1 < r.size()) s += std::string(width[i] - r[i].size() + 2, ' ');
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    out << s << "\n";
  };
  line(header_);
  for (const auto& r : rows_) line(r);
}

std::string level_name(v1::Level l) {
  switch (l) {
    case v1::LEVEL_OBSERVE:
      return "observe";
    case v1::LEVEL_ALERT:
      return "alert";
    case v1::LEVEL_DENY:
      return "deny";
    case v1::LEVEL_QUARANTINE:
      return "quarantine";
    case v1::LEVEL_KILL:
      return "kill";
    default:
      return "level-" + std::to_string(static_cast<int>(l));
  }
}

bool parse_level(const std::string& s, v1::Level* out) {
  for (int l = v1::LEVEL_OBSERVE; l <= v1::LEVEL_KILL; ++l) {
    if (s == level_name(static_cast<v1::Level>(l)) || s == std::to_string(l)) {
      *out = static_cast<v1::Level>(l);
      return true;
    }
  }
  return false;
}

std::string duration(uint64_t ns) {
  uint64_t s = ns / 1'000'000'000;
  char buf[64];
  if (s >= 86400)
    std::snprintf(buf, sizeof(buf), "%llud %lluh", (unsigned long long)(s / 86400),
                  (unsigned long long)(s % 86400 / 3600));
  else if (s >= 3600)
    std::snprintf(buf, sizeof(buf), "%lluh %llum", (unsigned long long)(s / 3600), (unsigned long long)(s % 3600 / 60));
  else if (s >= 60)
    std::snprintf(buf, sizeof(buf), "%llum %llus", (unsigned long long)(s / 60), (unsigned long long)(s % 60));
  else
    std::snprintf(buf, sizeof(buf), "%.1fs", static_cast<double>(ns) / 1e9);
  return buf;
}

void print_status(std::ostream& out, const v1::GetStatusResponse& s) {
  out << "rampartd " << s.version() << " (event ABI " << s.abi_version() << "), pid " << s.pid() << ", up "
      << duration(s.uptime_ns()) << "\n";
  out << "policies: " << s.policy_count() << " from " << s.policy_dir() << ", generation " << s.policy_generation()
      << "\n";
  if (!s.api_listeners().empty()) out << "api: " << s.api_listeners() << "\n";
  out << "\ncapability matrix:\n";
  Table caps({"CAPABILITY", "AVAILABLE", "DETAIL"});
  for (const auto& c : s.capabilities()) caps.row({c.name(), c.available() ? "yes" : "no", c.detail()});
  caps.print(out, "  ");
  out << "\nenforcement:\n";
  Table mech({"OPERATION", "MECHANISM", "DETAIL"});
  for (const auto& m : s.mechanisms()) mech.row({m.operation(), m.mechanism(), m.detail()});
  mech.print(out, "  ");
  out << "\n" << s.attached_programs_size() << " programs attached, " << s.traced_syscalls() << " syscalls traced\n";
  out << "\nevents (types with any activity):\n";
  Table ev({"TYPE", "EMITTED", "FILTERED", "DROPPED", "RATE-LIMITED", "DELIVERED"});
  for (const auto& e : s.events())
    if (e.emitted() || e.filtered() || e.dropped() || e.rate_limited() || e.delivered())
      ev.row({e.type(), std::to_string(e.emitted()), std::to_string(e.filtered()), std::to_string(e.dropped()),
              std::to_string(e.rate_limited()), std::to_string(e.delivered())});
  if (ev.empty())
    out << "  none yet\n";
  else
    ev.print(out, "  ");
  out << "\nreceived " << s.received() << ", decode errors " << s.decode_errors() << ", synthesized " << s.synthesized()
      << "\n";
  const auto& o = s.overload();
  out << "overload: " << o.dropped() << " dropped (ring buffer full, " << (o.ringbuf_bytes() >> 10) << " KiB; by cpu:";
  for (int c = 0; c < o.dropped_per_cpu_size(); ++c) out << " cpu" << c << " " << o.dropped_per_cpu(c);
  out << "), " << o.rate_limited() << " rate-limited (per process "
      << (o.process_rate() ? std::to_string(o.process_rate()) + "/s" : "off") << ", per cgroup "
      << (o.cgroup_rate() ? std::to_string(o.cgroup_rate()) + "/s" : "off") << "); " << o.alerts() << " alerts, "
      << o.quarantined() << " fail-closed quarantines (" << o.quarantined_now() << " held now)\n";
  const auto& kw = s.kernel_writes();
  out << "kernel writes refused: " << kw.failed() << " (" << kw.pending() << " pending";
  if (kw.pending()) out << ", oldest " << kw.oldest_pending_ms() << " ms";
  out << ", " << kw.recovered() << " landed on retry, " << kw.superseded() << " superseded, " << kw.abandoned()
      << " abandoned at exit, " << kw.not_kept() << " not kept); reloads retried " << kw.reload_retries() << "\n";
  if (!kw.last_error().empty()) out << "  last: " << kw.last_error() << "\n";
  out << "\nmemory: rss " << (s.resident_bytes() >> 10) << " KiB, " << s.open_fds() << " fds\n";
  Table st({"STATE", "ENTRIES", "LIMIT", "APPROX KIB", "EVICTIONS"});
  for (const auto& u : s.state())
    st.row({u.name(), std::to_string(u.entries()), u.limit() ? std::to_string(u.limit()) : "-",
            std::to_string((u.approx_bytes() + 1023) >> 10), std::to_string(u.evictions())});
  st.print(out, "  ");
  out << "verdicts:";
  for (const char* l : {"observe", "alert", "deny", "quarantine", "kill"}) {
    auto it = s.verdicts_by_level().find(l);
    out << " " << l << " " << (it == s.verdicts_by_level().end() ? 0 : it->second);
  }
  out << "; manual quarantines " << s.quarantined_manually() << "\n";
  out << "rule hits " << s.rule_hits() << ", verdicts applied " << s.verdicts_applied() << ", kills " << s.kills()
      << ", denied " << s.denies() << ", would deny (audit) " << s.would_deny() << "\n";
  out << "streams: " << s.streams().subscribers() << " subscribers, " << s.streams().sent() << " events sent, "
      << s.streams().missed() << " missed by slow subscribers\n";
}

void print_verdict(std::ostream& out, const v1::Verdict& v) {
  out << "pid " << v.pid();
  if (!v.comm().empty()) out << " (" << v.comm() << ")";
  if (!v.exe().empty()) out << " " << v.exe();
  out << "\n";
  out << "score " << v.score() << ", level " << level_name(v.level())
      << (v.manual_quarantine() ? " (manual quarantine)" : "") << "\n";
  out << "policy " << v.policy() << " (" << v.policy_mode() << ")"
      << (v.enforced() ? ", enforced in the kernel" : ", not enforced (audit)") << "\n";
  if (!v.container_id().empty()) out << "container " << v.container_id() << "\n";
  if (!v.tracked()) out << "no rule has fired on this process\n";
  if (v.evidence_size() > 0) {
    out << "\nevidence (oldest first"
        << (v.evidence_dropped() ? ", " + std::to_string(v.evidence_dropped()) + " older dropped" : "") << "):\n";
    Table t({"RULE", "WEIGHT", "EVENT", "DETAIL"});
    for (const auto& e : v.evidence())
      t.row({e.rule_id(), "-" + std::to_string(e.weight()), e.event_type(), e.detail()});
    t.print(out, "  ");
  }
  if (v.ancestry_size() > 0) {
    out << "\nancestry (nearest first):\n";
    Table t({"PID", "COMM", "EXE"});
    for (const auto& a : v.ancestry()) t.row({std::to_string(a.pid()), a.comm(), a.exe()});
    t.print(out, "  ");
  }
}

void print_verdicts(std::ostream& out, const v1::ListVerdictsResponse& r) {
  if (r.verdicts_size() == 0) {
    out << "no process has a score of its own at that level\n";
    return;
  }
  Table t({"PID", "SCORE", "LEVEL", "POLICY", "EVIDENCE", "EXE"});
  for (const auto& v : r.verdicts()) {
    std::string last = v.evidence_size() ? v.evidence(v.evidence_size() - 1).rule_id() : "";
    if (v.evidence_size() > 1) last += " (+" + std::to_string(v.evidence_size() - 1) + ")";
    t.row({std::to_string(v.pid()), std::to_string(v.score()),
           level_name(v.level()) + (v.manual_quarantine() ? "*" : ""), v.policy(), last,
           v.exe().empty() ? v.comm() : v.exe()});
  }
  t.print(out);
  out << "(* manual quarantine)\n";
}

void print_policies(std::ostream& out, const v1::ListPoliciesResponse& r) {
  out << r.policies_size() << " policies from " << r.dir() << ", generation " << r.generation() << "\n";
  if (r.policies_size() == 0) return;
  Table t({"NAME", "MODE", "ID", "RESTRICTS", "DENY", "SELECTOR", "SOURCE"});
  for (const auto& p : r.policies()) {
    std::string restricts, sel;
    for (const auto& x : p.restricts()) restricts += (restricts.empty() ? "" : ",") + x;
    for (const auto& x : p.selector()) sel += (sel.empty() ? "" : "; ") + x;
    t.row({p.name(), p.mode(), std::to_string(p.kernel_id()), restricts.empty() ? "-" : restricts,
           std::to_string(p.deny_rules()), sel, p.source() + (p.kept().empty() ? "" : " (DELETED, kept)")});
  }
  t.print(out);
  for (const auto& p : r.policies())
    if (!p.kept().empty()) out << "kept: " << p.name() << ": " << p.kept() << "\n";
}

namespace {

std::string unix_time(int64_t s) {
  if (s <= 0) return "-";
  char buf[32];
  std::time_t t = static_cast<std::time_t>(s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void print_counts(std::ostream& out, const char* what, const google::protobuf::Map<std::string, uint64_t>& m) {
  std::map<std::string, uint64_t> sorted(m.begin(), m.end());
  out << "  " << what << ":" << (sorted.empty() ? " none" : "") << "\n";
  for (const auto& [rule, n] : sorted) out << "    " << rule << "  " << n << "\n";
}

}  // namespace

void print_profiles(std::ostream& out, const v1::ListProfilesResponse& r, bool with_counts) {
  out << r.profiles_size() << " profiles in " << (r.state_dir().empty() ? "memory" : r.state_dir()) << "\n";
  if (r.profiles_size()) {
    Table t({"NAME", "STAGE", "ITEMS", "DROPPED", "LAST NEW", "STABLE", "POLICY"});
    for (const auto& p : r.profiles())
      t.row({p.name(), p.stage() + (p.stage() == "shadow" ? " until " + unix_time(p.shadow_until()) : ""),
             std::to_string(p.items()), std::to_string(p.dropped_items()), unix_time(p.last_new()),
             p.stable() ? "yes" : "at " + unix_time(p.stable_at()), p.policy_loaded() ? "loaded" : "not loaded"});
    t.print(out);
  }
  if (with_counts)
    for (const auto& p : r.profiles()) {
      out << p.name() << " (" << p.stage() << "):\n";
      print_counts(out, "would deny (shadow)", p.would_deny());
      print_counts(out, "anomalies", p.anomalies());
    }
  for (const auto& x : r.rejected())
    out << "rejected: " << x.path() << ": " << x.reason() << " ("
        << (x.moved_to().empty() ? "could not be moved aside" : "moved to " + x.moved_to()) << ")\n";
}

void print_profile(std::ostream& out, const v1::GetProfileResponse& r) {
  const auto& p = r.summary();
  out << "profile " << p.name() << ": " << p.stage() << ", " << p.items() << " items (" << p.dropped_items()
      << " dropped), created " << unix_time(p.created()) << ", last new " << unix_time(p.last_new()) << "\n";
  auto j = nlohmann::json::parse(r.json(), nullptr, false);
  if (j.is_discarded() || !j.contains("items")) return;
  for (const auto& [kind, list] : j["items"].items()) {
    if (list.empty()) continue;
    out << kind << ":\n";
    Table t({"COUNT", "FIRST SEEN", "LAST SEEN", "ITEM"});
    for (const auto& it : list) {
      std::string item = it.value("key", "");
      if (it.contains("parents") && !it["parents"].empty()) {
        item += "  (parents:";
        for (const auto& pa : it["parents"]) item += " " + pa.get<std::string>();
        item += ")";
      }
      t.row({std::to_string(it.value("count", uint64_t{0})), unix_time(it.value("first_seen", int64_t{0})),
             unix_time(it.value("last_seen", int64_t{0})), item});
    }
    t.print(out, "  ");
  }
}

void print_errors(std::ostream& out, const google::protobuf::RepeatedPtrField<v1::PolicyError>& errors) {
  for (const auto& e : errors) {
    if (e.line()) out << e.file() << ":" << e.line() << ":" << e.column() << ": ";
    out << e.message() << "\n";
  }
}

void print_reload(std::ostream& out, const v1::ReloadPoliciesResponse& r) {
  out << "reloaded: generation " << r.generation() << " in force (" << (r.duration_ns() / 1000) << " us)\n";
  auto list = [&out](const char* what, const auto& names) {
    if (names.empty()) return;
    out << "  " << what << ":";
    for (const auto& n : names) out << " " << n;
    out << "\n";
  };
  list("added", r.added());
  list("removed", r.removed());
  list("changed", r.changed());
  out << "  unchanged: " << r.unchanged() << "\n";
  for (const auto& n : r.notes()) out << "  note: " << n << "\n";
}

void print_event_line(std::ostream& out, const v1::Event& e) {
  std::string what;
  auto j = nlohmann::json::parse(e.json(), nullptr, false);
  if (!j.is_discarded()) {
    auto str = [&j](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : ""; };
    auto addr = [&j](const char* k) {
      if (!j.contains(k) || !j[k].is_object()) return std::string();
      return j[k].value("addr", "") + ":" + std::to_string(j[k].value("port", 0));
    };
    if (e.type() == "exec") {
      what = str("filename");
      if (j.contains("argv") && j["argv"].is_array()) {
        std::string args;
        for (size_t i = 1; i < j["argv"].size(); ++i) args += " " + j["argv"][i].get<std::string>();
        what += args;
      }
    } else if (e.type() == "enforce") {
      what = str("action") + " " + str("op") + " " + (j.contains("path") ? str("path") : addr("remote")) + " (" +
             str("mechanism") + ", policy " + str("policy") + ")";
    } else if (j.contains("path")) {
      what = str("path");
    } else if (j.contains("remote")) {
      what = addr("remote");
    } else if (j.contains("local")) {
      what = addr("local");
    } else if (j.contains("new_path")) {
      what = str("old_path") + " -> " + str("new_path");
    } else if (j.contains("child_pid")) {
      what = "child " + std::to_string(j.value("child_pid", 0));
    } else if (j.contains("exit_code")) {
      what = "exit " + std::to_string(j.value("exit_code", 0));
    }
    if (j.contains("error") && j["error"].is_string()) what += " -> " + j["error"].get<std::string>();
    if (j.contains("rules") && j["rules"].is_array())
      for (const auto& r : j["rules"]) what += " [rule " + r.value("id", "") + "]";
    if (j.contains("time") && j["time"].is_string()) {
      std::string t = j["time"].get<std::string>();  // 2026-11-27T03:06:20.695220940Z
      if (t.size() > 23) t = t.substr(11, 12);
      out << t << "  ";
    }
  }
  char head[96];
  std::snprintf(head, sizeof(head), "%-8s %7u %-15s ", e.type().c_str(), e.tgid(), e.comm().c_str());
  out << head << what << "\n";
}

}  // namespace rampart::cli
