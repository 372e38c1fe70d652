#pragma once

// Mode `api` (spec/target.md): every change through the public RPCs of the target, which
// stays a normal Milvus. Decides what a task replicates (its database/collection selection),
// keeps the schema cache, and runs the operations the transformer plans.

#include "actors/transformer/plan.hpp"
#include "actors/writer/applier.hpp"
#include "actors/writer/source_client.hpp"
#include "actors/writer/target_writer.hpp"

#include <map>
#include <optional>
#include <set>

namespace cdc {

namespace metrics {
class registry;
}

class api_applier : public applier {
public:
  api_applier(task_spec spec, std::string replicate_channel, std::string source_uri,
              std::string source_token, std::shared_ptr<metrics::registry> metrics = nullptr,
              milvus::writer_options options = {},
              std::shared_ptr<wal::collection_filter> skip = nullptr);

  caf::error apply(const std::vector<wal::event>& events,
                   const std::map<std::string, int64_t>& replay_until) override;

  std::vector<std::string> channels_before(const wal::event& ddl) override;

  void cancel() override { target_.cancel(); }

private:
  /// The cache entry of the collection of a DML-channel event: from its CreateCollection
  /// message, else from the source's DescribeCollection. nullopt: not replicated by this task.
  caf::expected<std::optional<transform::collection_info>*> collection_of(const wal::event& e);

  /// A collection the source had before the task saw its CreateCollection: created on the
  /// target from the source's description, with its partitions, indexes and load state (a
  /// target that has it already keeps it).
  caf::error adopt(const transform::collection_info& info);
  /// The replicated collection named `name` in database `db` (its source name), or nullptr.
  transform::collection_info* find(const std::string& db, const std::string& name);

  /// Before a replicate-channel DDL: a collection it names by a name not known here may have
  /// been renamed on the source, or be named through an alias (follow_name).
  caf::error follow_names_of(const wal::event& ddl);

  /// Keeps the Inserts of the newest timestamp of `e`'s channel (see recent_inserts_).
  void remember(const wal::event& e);

  /// Puts before each Delete of `run` the Inserts of its channel, collection and timestamp
  /// that were applied before `run`: the halves of one upsert, to be paired.
  void pair_with_recent_inserts(std::vector<wal::event>& run);

  /// Applies the events [first, last) of one collection.
  caf::error apply_collection(const wal::event* first, const wal::event* last, bool replay);

  /// Applies one event of the replicate channel (DDL/DCL).
  caf::error apply_ddl(const wal::event& e);

  /// Counts a call in the metrics and turns a failure into an error naming it.
  caf::error settle(const milvus::write_status& status);

  /// Creates on the target the partitions the source has and the target may not (Milvus
  /// 2.3.5 writes no CreatePartition to its WAL): before a DDL on the collection.
  caf::error sync_partitions(const std::string& db, const std::string& name);

  /// Creates partition `partition` of `info` on the target unless done before.
  caf::error ensure_partition(const transform::collection_info& info, const std::string& partition);

  /// Calls the target for one planned operation.
  caf::error execute(const transform::op& op);
  caf::error execute(const transform::ddl& request);

  task_spec spec_;
  std::string replicate_channel_;
  transform::name_mapper names_;
  transform::options options_;
  milvus::target_writer target_;
  milvus::source_client source_;
  /// Source collection id -> what the target needs to know; nullopt when not replicated.
  std::map<int64_t, std::optional<transform::collection_info>> collections_;
  /// Per DML channel: the Inserts of the newest timestamp applied from it. The writer applies
  /// Inserts as they arrive, so an upsert's Delete half may come in a later batch than its
  /// Insert half; until a later time shows up on the channel, such a Delete is paired with
  /// these (a Delete at the same time as Inserts only comes from an upsert).
  struct recent_inserts {
    uint64_t timestamp = 0;
    std::vector<wal::event> inserts;
  };
  std::map<std::string, recent_inserts> recent_inserts_;
  /// Source collection id -> the other names events gave it, looked up at the source once
  /// (aliases, names before a rename).
  std::map<int64_t, std::set<std::string>> other_names_;
  /// Source collection id -> user partitions known to exist on the target.
  std::map<int64_t, std::set<std::string>> partitions_;
  std::shared_ptr<metrics::registry> metrics_;
  /// Where the collections this task does not replicate are named for the reader.
  std::shared_ptr<wal::collection_filter> skip_;
};

} // namespace cdc
