#pragma once

// The collections a task does not replicate, shared by its writer (which decides, from the
// task's selection and the source's answer about each collection) and its reader (which then
// skips the rows of those collections without decoding them).

#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <unordered_set>

namespace cdc::wal {

class collection_filter {
public:
  /// From now on, Inserts and Deletes of collection `id` are not decoded.
  void skip(int64_t id) {
    std::unique_lock lock{mutex_};
    skipped_.insert(id);
  }

  bool skipped(int64_t id) const {
    std::shared_lock lock{mutex_};
    return skipped_.contains(id);
  }

private:
  mutable std::shared_mutex mutex_;
  std::unordered_set<int64_t> skipped_;
};

} // namespace cdc::wal
