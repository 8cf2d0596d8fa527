// Where learned profiles live: one JSON file per profile, NAME.json, in the
// state directory (learning.state_dir). Writes are crash-safe: a temporary
// file in the same directory, fsync, rename, fsync of the directory. A file
// the strict loader rejects is reported and renamed to NAME.json.corrupt-TIME,
// so that it is neither loaded nor overwritten, and the daemon goes on.
#pragma once

#include <string>
#include <vector>

#include "learn/profile.h"
#include "util/result.h"

namespace rampart::learn {

struct Rejected {
  std::string path;      // the file as found
  std::string reason;    // what the loader said
  std::string moved_to;  // where it was set aside ("" if the rename failed)
};

struct Loaded {
  std::vector<Profile> profiles;
  std::vector<Rejected> rejected;
};

// Reads every NAME.json in dir (a missing dir holds nothing). A file whose
// profile name differs from its file name is rejected too.
Loaded load_profiles(const std::string& dir, int64_t now);

// Writes dir/NAME.json crash-safely, creating dir (0700) when missing.
Result<void> save_profile(const std::string& dir, const Profile& p);

std::string profile_path(const std::string& dir, const std::string& name);

}  // namespace rampart::learn
