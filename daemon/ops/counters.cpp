// The counter registry and its renderings; see counters.h.
#include "ops/counters.h"

#include <memory>
#include <stdexcept>

namespace rampart::ops {
namespace {

uint64_t as_integer(const Counters::Value& v) {
  if (const auto* u = std::get_if<uint64_t>(&v)) return *u;
  return static_cast<uint64_t>(std::get<double>(v));
}

// The stats JSON as a tree, children in the order they first appear, so the
// line is built from paths without sorting or duplicating objects.
struct Node {
  std::string key;
  std::vector<std::unique_ptr<Node>> children;  // an object
  std::vector<uint64_t> items;                  // an array
  bool is_array = false;
  bool is_leaf = false;
  uint64_t value = 0;

  Node& child(const std::string& k) {
    for (auto& c : children)
      if (c->key == k) return *c;
    children.push_back(std::make_unique<Node>());
    children.back()->key = k;
    return *children.back();
  }

  void write(outputs::JsonWriter& w) const {
    for (const auto& c : children) {
      w.key(c->key);
      if (c->is_leaf) {
        w.value(c->value);
      } else if (c->is_array) {
        w.begin_array();
        for (auto v : c->items) w.value(v);
        w.end_array();
      } else {
        w.begin_object();
        c->write(w);
        w.end_object();
      }
    }
  }
};

// The path's segments with each "<label>" replaced by the sample's value.
std::vector<std::string> resolve(const Counters::Definition& def, const Counters::Sample& s) {
  std::vector<std::string> out;
  std::string_view path = def.stats_path;
  while (!path.empty()) {
    auto dot = path.find('.');
    std::string_view seg = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view() : path.substr(dot + 1);
    if (seg.size() > 2 && seg.front() == '<' && seg.back() == '>') {
      auto name = seg.substr(1, seg.size() - 2);
      for (size_t i = 0; i < def.labels.size() && i < s.labels.size(); ++i)
        if (def.labels[i] == name) seg = s.labels[i];
    }
    out.emplace_back(seg);
  }
  return out;
}

}  // namespace

void Counters::define(Definition def, Read read) {
  for (const auto& [d, _] : defs_)
    if (d.name == def.name) throw std::logic_error("counter defined twice: " + def.name);
  if (def.labels.size() > 2) throw std::logic_error("counter with more than two labels: " + def.name);
  defs_.emplace_back(std::move(def), std::move(read));
}

Counters::Snapshot Counters::read() const {
  if (refresh_) refresh_();
  Snapshot s;
  s.entries_.reserve(defs_.size());
  for (const auto& [def, read] : defs_) s.entries_.push_back({&def, read()});
  return s;
}

void Counters::Snapshot::write_json(outputs::JsonWriter& w) const {
  Node root;
  for (const auto& e : entries_) {
    if (e.def->stats_path.empty()) continue;
    for (const auto& s : e.samples) {
      auto segs = resolve(*e.def, s);
      Node* n = &root;
      for (size_t i = 0; i + 1 < segs.size(); ++i) n = &n->child(segs[i]);
      const std::string& last = segs.back();
      if (last.size() > 2 && last.ends_with("[]")) {
        Node& a = n->child(last.substr(0, last.size() - 2));
        a.is_array = true;
        a.items.push_back(as_integer(s.value));
      } else {
        Node& leaf = n->child(last);
        leaf.is_leaf = true;
        leaf.value = as_integer(s.value);
      }
    }
  }
  root.write(w);
}

void Counters::Snapshot::write_metrics(MetricsText& m) const {
  for (const auto& e : entries_) {
    if (!e.def->metrics || e.samples.empty()) continue;
    m.family(e.def->name, e.def->kind == Kind::kCounter ? "counter" : "gauge", e.def->help);
    const auto& names = e.def->labels;
    for (const auto& s : e.samples) {
      std::visit(
          [&](auto v) {
            // MetricsText takes its labels as a braced list: one per count.
            if (names.empty() || s.labels.empty())
              m.sample(v);
            else if (names.size() == 1 || s.labels.size() == 1)
              m.sample(v, {{names[0], s.labels[0]}});
            else
              m.sample(v, {{names[0], s.labels[0]}, {names[1], s.labels[1]}});
          },
          s.value);
    }
  }
}

const Counters::Snapshot::Entry& Counters::Snapshot::find(std::string_view name) const {
  for (const auto& e : entries_)
    if (e.def->name == name) return e;
  throw std::logic_error("no counter named " + std::string(name));
}

const std::vector<Counters::Sample>& Counters::Snapshot::samples(std::string_view name) const {
  return find(name).samples;
}

uint64_t Counters::Snapshot::value(std::string_view name,
                                   const std::vector<std::pair<std::string, std::string>>& where) const {
  const auto& e = find(name);
  uint64_t sum = 0;
  for (const auto& s : e.samples) {
    bool match = true;
    for (const auto& [label, want] : where) {
      bool found = false;
      for (size_t i = 0; i < e.def->labels.size() && i < s.labels.size(); ++i)
        if (e.def->labels[i] == label && s.labels[i] == want) found = true;
      match = match && found;
    }
    if (match) sum += as_integer(s.value);
  }
  return sum;
}

}  // namespace rampart::ops
