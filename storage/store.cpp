#include "storage/store.hpp"

#include "actors/base/error.hpp"
#include "actors/base/task_json.hpp"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <cstring>
#include <filesystem>

namespace cdc {

namespace {

constexpr std::string_view task_prefix = "task/";
constexpr std::string_view checkpoint_prefix = "checkpoint/";
constexpr std::string_view intent_prefix = "intent/";
constexpr std::string_view target_time_prefix = "target-time/";

std::string task_key(const std::string& task_id) {
  return std::string{task_prefix} + task_id;
}

std::string checkpoint_task_prefix(const std::string& task_id) {
  return std::string{checkpoint_prefix} + task_id + "/";
}

std::string intent_task_prefix(const std::string& task_id) {
  return std::string{intent_prefix} + task_id + "/";
}

caf::error storage_error(const std::string& what, const rocksdb::Status& status) {
  return make_error(ec::storage_failure, what + ": " + status.ToString());
}

std::string encode_checkpoint(const checkpoint& cp) {
  // Fixed little-endian layout, independent of the host, so a data dir can move machines.
  std::string out(16, '\0');
  auto offset = static_cast<uint64_t>(cp.offset);
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<char>((offset >> (8 * i)) & 0xff);
    out[8 + i] = static_cast<char>((cp.timestamp >> (8 * i)) & 0xff);
  }
  return out;
}

uint64_t read_le64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

} // namespace

store::store(std::unique_ptr<rocksdb::DB> db) : db_(std::move(db)) {}

store::~store() {
  if (db_)
    db_->Close();
}

caf::expected<std::unique_ptr<store>> store::open(const std::string& data_dir) {
  std::error_code fs_err;
  std::filesystem::create_directories(data_dir, fs_err);
  if (fs_err)
    return make_error(ec::storage_failure,
                      "cannot create data directory '" + data_dir + "': " + fs_err.message());
  // Tokens of targets are stored here: keep the directory to its owner.
  std::filesystem::permissions(data_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, fs_err);
  rocksdb::Options options;
  options.create_if_missing = true;
  options.keep_log_file_num = 5;
  rocksdb::DB* raw = nullptr;
  auto status = rocksdb::DB::Open(options, data_dir, &raw);
  if (!status.ok())
    return storage_error("cannot open data directory '" + data_dir + "'", status);
  return std::unique_ptr<store>{new store{std::unique_ptr<rocksdb::DB>{raw}}};
}

caf::error store::put_task(const task_record& task) {
  rocksdb::WriteOptions sync;
  sync.sync = true;
  auto status = db_->Put(sync, task_key(task.spec.task_id), to_storage_json(task));
  if (!status.ok())
    return storage_error("cannot store task " + task.spec.task_id, status);
  return {};
}

caf::error store::delete_task(const std::string& task_id) {
  rocksdb::WriteBatch batch;
  batch.Delete(task_key(task_id));
  batch.Delete(std::string{target_time_prefix} + task_id);
  for (const auto& prefix : {checkpoint_task_prefix(task_id), intent_task_prefix(task_id)}) {
    std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{})};
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next())
      batch.Delete(it->key());
    if (!it->status().ok())
      return storage_error("cannot list the positions of task " + task_id, it->status());
  }
  rocksdb::WriteOptions sync;
  sync.sync = true;
  auto status = db_->Write(sync, &batch);
  if (!status.ok())
    return storage_error("cannot delete task " + task_id, status);
  return {};
}

caf::expected<std::vector<task_record>> store::load_tasks() const {
  std::vector<task_record> tasks;
  std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{})};
  for (it->Seek(task_prefix); it->Valid() && it->key().starts_with(task_prefix); it->Next()) {
    auto task = from_storage_json(it->value().ToString());
    if (!task)
      return make_error(ec::storage_failure,
                        "key " + it->key().ToString() + ": " + message_of(task.error()));
    tasks.push_back(std::move(*task));
  }
  if (!it->status().ok())
    return storage_error("cannot read tasks", it->status());
  return tasks;
}

caf::error store::put_checkpoint(const std::string& task_id, const checkpoint& cp) {
  // Not synced: RocksDB's write-ahead log survives a crash of the process, and a checkpoint
  // that is lost with the machine only makes the replay window (written idempotently) longer.
  auto status = db_->Put(rocksdb::WriteOptions{}, checkpoint_task_prefix(task_id) + cp.channel,
                         encode_checkpoint(cp));
  if (!status.ok())
    return storage_error("cannot store checkpoint of task " + task_id, status);
  return {};
}

caf::expected<std::vector<checkpoint>> store::checkpoints(const std::string& task_id) const {
  std::vector<checkpoint> result;
  auto prefix = checkpoint_task_prefix(task_id);
  std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{})};
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    auto value = it->value();
    if (value.size() != 16)
      return make_error(ec::storage_failure, "checkpoint " + it->key().ToString() + " has " +
                                                 std::to_string(value.size()) +
                                                 " bytes, expected 16");
    checkpoint cp;
    cp.channel = it->key().ToString().substr(prefix.size());
    cp.offset = static_cast<int64_t>(read_le64(value.data()));
    cp.timestamp = read_le64(value.data() + 8);
    result.push_back(std::move(cp));
  }
  if (!it->status().ok())
    return storage_error("cannot read checkpoints of task " + task_id, it->status());
  return result;
}

} // namespace cdc

namespace cdc {

caf::error store::put_intent(const std::string& task_id, const std::string& channel,
                             int64_t offset) {
  std::string value(8, '\0');
  for (int i = 0; i < 8; ++i)
    value[i] = static_cast<char>((static_cast<uint64_t>(offset) >> (8 * i)) & 0xff);
  auto status = db_->Put(rocksdb::WriteOptions{}, intent_task_prefix(task_id) + channel, value);
  if (!status.ok())
    return storage_error("cannot store the apply intent of task " + task_id, status);
  return {};
}

caf::expected<std::map<std::string, int64_t>> store::intents(const std::string& task_id) const {
  std::map<std::string, int64_t> result;
  auto prefix = intent_task_prefix(task_id);
  std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{})};
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->value().size() != 8)
      return make_error(ec::storage_failure, "intent " + it->key().ToString() + " is corrupt");
    result[it->key().ToString().substr(prefix.size())] =
        static_cast<int64_t>(read_le64(it->value().data()));
  }
  if (!it->status().ok())
    return storage_error("cannot read the intents of task " + task_id, it->status());
  return result;
}

} // namespace cdc

namespace cdc {

caf::error store::put_target_time(const std::string& task_id, uint64_t ts) {
  std::string value(8, '\0');
  for (int i = 0; i < 8; ++i)
    value[i] = static_cast<char>((ts >> (8 * i)) & 0xff);
  // Not synced, like the intents: the WAL of RocksDB survives a crash of the process.
  auto status = db_->Put(rocksdb::WriteOptions{}, std::string{target_time_prefix} + task_id, value);
  if (!status.ok())
    return storage_error("cannot store the target time of task " + task_id, status);
  return {};
}

caf::expected<uint64_t> store::target_time(const std::string& task_id) const {
  std::string value;
  auto status = db_->Get(rocksdb::ReadOptions{}, std::string{target_time_prefix} + task_id, &value);
  if (status.IsNotFound())
    return uint64_t{0};
  if (!status.ok())
    return storage_error("cannot read the target time of task " + task_id, status);
  if (value.size() != 8)
    return make_error(ec::storage_failure, "the target time of task " + task_id + " is corrupt");
  return read_le64(value.data());
}

} // namespace cdc
