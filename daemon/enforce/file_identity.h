// What a deny rule names, held by identity as well as by name. A path says
// nothing about the file's other names: a hard link, a bind mount, a rename
// or a path too long to resolve all reach the same inode. The kernel knows an
// inode as (device, inode number), and a file handle (name_to_handle_at) adds
// the generation, which tells a reused inode number from the file that was
// denied. A copy is a new inode with the same bytes: a denied binary is also
// known by its size and SHA-256, hashed only when an exec'd file has one of
// those sizes. The guard (perm_guard.cpp) checks these before the names, and
// adds to them whenever a name denies a file it did not know.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "enforce/file_rules.h"

namespace rampart::enforce {

struct FileId {
  uint64_t dev = 0, ino = 0;
  bool operator==(const FileId&) const = default;
};
struct FileIdHash {
  size_t operator()(const FileId& f) const { return std::hash<uint64_t>()(f.ino * 0x9e3779b97f4a7c15ull ^ f.dev); }
};

using Sha256 = std::array<uint8_t, 32>;

// The bytes of fd (from offset 0, at most max_bytes); nullopt when it cannot
// be read whole or is larger.
std::optional<Sha256> sha256_of(int fd, uint64_t max_bytes);
// The file handle of fd (handle type, then its bytes); empty when the
// filesystem has none.
std::string file_handle_of(int fd);

// A file as the guard sees it: its identity, size and ctime (which a write,
// a rename or a new link changes).
struct FileVersion {
  FileId id;
  uint64_t size = 0, ctime_ns = 0;
};

// What holds for a file: RP_PR_*_DENY flags, and the name the rule knows
// it by (the denied path, or "sha256:..." for a rule on contents).
struct Denial {
  uint32_t flags = 0;
  std::string name;
};

class DeniedObjects {
 public:
  // Binaries larger than this are not hashed (a copy of one goes unnoticed).
  static constexpr uint64_t kMaxHashed = 256ull << 20;

  // Records fd's file, known as `name`, as denied for `flags`
  // (RP_PR_READ_DENY, RP_PR_WRITE_DENY, RP_PR_EXEC_DENY); with
  // RP_PR_EXEC_DENY, its contents too. False when it was known already
  // with these flags, or the set is full.
  bool add(int fd, uint32_t flags, const std::string& name);
  // An executable denied by contents (a "sha256:" rule): from then on every
  // exec'd file is hashed, once per file version.
  void add_hash(const Sha256& sum, const std::string& name);
  // What holds for fd's file (v: its statx), by identity or, for exec, by contents.
  Denial match(int fd, const FileVersion& v, bool exec) const;

  size_t size() const { return ids_.size(); }
  // The sizes of the denied binaries known by contents (for exec_deny_size_map).
  std::vector<uint64_t> binary_sizes() const {
    std::vector<uint64_t> out;
    for (const auto& [size, contents] : by_size_) out.push_back(size);
    return out;
  }
  // Every file known by identity, with its flags (for the BPF LSM's inode_rules_map).
  std::vector<std::pair<FileId, uint32_t>> entries() const {
    std::vector<std::pair<FileId, uint32_t>> out;
    for (const auto& [id, known] : ids_) out.emplace_back(id, known.flags);
    return out;
  }

 private:
  static constexpr size_t kMaxIds = 65536, kMaxContents = 4096, kMaxHashCache = 4096;
  struct Known {
    uint32_t flags = 0;
    std::string handle;  // empty: the filesystem has none, (dev, ino) alone decides
    std::string name;
  };
  struct Content {
    Sha256 sum;
    std::string name;
  };
  std::optional<Sha256> hash(int fd, const FileVersion& v) const;
  std::unordered_map<FileId, Known, FileIdHash> ids_;
  std::unordered_map<uint64_t, std::vector<Content>> by_size_;  // denied binaries, by size
  std::vector<Content> any_size_;                               // "sha256:" rules
  size_t contents_ = 0;
  struct Hashed {
    uint64_t size, ctime_ns;
    Sha256 sum;
  };
  mutable std::unordered_map<FileId, Hashed, FileIdHash> hashed_;  // for "sha256:" rules: each file once
};

// The files that r's deny rules name now, by identity: each existing exact
// path, and the regular files under a prefix or glob, up to `limit` files in
// all (past it a note). `files` receives the paths, for inode marks, so that
// an open of any of their names reaches the guard.
DeniedObjects denied_objects(const GuardRule& r, std::vector<std::string>& files, std::vector<std::string>& notes,
                             size_t limit = 16384);

}  // namespace rampart::enforce
