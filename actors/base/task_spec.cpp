#include "actors/base/task_spec.hpp"

namespace cdc {

const char* to_string(task_state state) {
  switch (state) {
  case task_state::initial:
    return "Initial";
  case task_state::running:
    return "Running";
  case task_state::paused:
    return "Paused";
  }
  return "Unknown";
}

const char* to_string(target_mode mode) {
  return mode == target_mode::replicate ? "replicate" : "api";
}

namespace {

bool names_overlap(const std::string& a, const std::string& b) {
  return a == "*" || b == "*" || a == b;
}

} // namespace

bool selections_overlap(const task_spec& a, const task_spec& b) {
  if (a.target.uri != b.target.uri)
    return false;
  for (const auto& [db_a, collections_a] : a.db_collections)
    for (const auto& [db_b, collections_b] : b.db_collections) {
      if (!names_overlap(db_a, db_b))
        continue;
      for (const auto& ca : collections_a)
        for (const auto& cb : collections_b)
          if (names_overlap(ca.name, cb.name))
            return true;
    }
  return false;
}

} // namespace cdc
