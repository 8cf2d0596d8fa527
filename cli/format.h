// rampartctl's output: readable tables for people, and one-line summaries of
// events taken from their JSON. Kept apart from the command code so the
// formats are easy to find and change together.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "rampart/v1/rampart.pb.h"

namespace rampart::cli {

// A left-aligned text table; the last column is not padded.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  bool empty() const { return rows_.empty(); }
  void print(std::ostream& out, const std::string& indent = "") const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

std::string level_name(v1::Level l);
// "observe", "alert", ...; false if not a level name (or a digit 0-4).
bool parse_level(const std::string& s, v1::Level* out);
std::string duration(uint64_t ns);  // "3d 4h", "12m 5s", "1.2s"

void print_status(std::ostream& out, const v1::GetStatusResponse& s);
void print_verdict(std::ostream& out, const v1::Verdict& v);
void print_verdicts(std::ostream& out, const v1::ListVerdictsResponse& r);
void print_policies(std::ostream& out, const v1::ListPoliciesResponse& r);
void print_errors(std::ostream& out, const google::protobuf::RepeatedPtrField<v1::PolicyError>& errors);
void print_reload(std::ostream& out, const v1::ReloadPoliciesResponse& r);
// Learned profiles; with_counts: also the shadow would-deny and anomaly counts per rule.
void print_profiles(std::ostream& out, const v1::ListProfilesResponse& r, bool with_counts);
void print_profile(std::ostream& out, const v1::GetProfileResponse& r);
// One line per event: time, type, pid, comm, and what it was about.
void print_event_line(std::ostream& out, const v1::Event& e);

}  // namespace rampart::cli
