#pragma once

// Durable state of the server in RocksDB: tasks and their checkpoints. This is the one place
// that knows the key layout:
//
//   task/<task_id>                  -> the task in its stored JSON form
//                                      (actors/base/task_json.hpp)
//   checkpoint/<task_id>/<channel>  -> 16 bytes: Kafka offset, hybrid timestamp (little endian)
//   intent/<task_id>/<channel>      -> 8 bytes: the highest offset the writer started to apply
//   target-time/<task_id>           -> 8 bytes: the highest hybrid timestamp sent to the target
//                                      (mode replicate)
//
// An intent is written before a batch goes to the target and a checkpoint after the target
// acknowledged it; after a crash, the records between the two (the replay window) may be on
// the target already, so the writer replays them idempotently (inserts as upserts).
//
// All methods are safe to call from several threads (RocksDB is).

#include "actors/base/task_spec.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace rocksdb {
class DB;
}

namespace cdc {

class store {
public:
  /// Opens (creating if needed) the database in `data_dir`. Fails with
  /// `ec::storage_failure` and a message naming the directory and the cause.
  static caf::expected<std::unique_ptr<store>> open(const std::string& data_dir);

  ~store();
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  /// Writes a task (create or state change), synced to disk before returning.
  caf::error put_task(const task_record& task);

  /// Removes a task and all its checkpoints in one atomic write.
  caf::error delete_task(const std::string& task_id);

  /// All stored tasks, ordered by id.
  caf::expected<std::vector<task_record>> load_tasks() const;

  /// Records the progress of one source channel of a task.
  caf::error put_checkpoint(const std::string& task_id, const checkpoint& cp);

  /// All checkpoints of a task, ordered by channel name.
  caf::expected<std::vector<checkpoint>> checkpoints(const std::string& task_id) const;

  /// Records that records of `channel` up to `offset` are about to be applied.
  caf::error put_intent(const std::string& task_id, const std::string& channel, int64_t offset);

  /// The intents of a task: channel -> highest offset started.
  caf::expected<std::map<std::string, int64_t>> intents(const std::string& task_id) const;

  /// Records that nothing sent to the target of a task carries a timestamp above `ts` (mode
  /// replicate: written before the messages go out, so that after a crash everything is sent
  /// with later timestamps than whatever reached the target before).
  caf::error put_target_time(const std::string& task_id, uint64_t ts);

  /// The last `put_target_time` of a task; 0 when there is none.
  caf::expected<uint64_t> target_time(const std::string& task_id) const;

private:
  explicit store(std::unique_ptr<rocksdb::DB> db);

  std::unique_ptr<rocksdb::DB> db_;
};

} // namespace cdc
