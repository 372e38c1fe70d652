#pragma once

// Mode `replicate` (spec/target.md): the target is a standby Milvus (2.3.2-2.5, run with
// common.ttMsgEnabled=false) that only the CDC writes to. DML goes to the target's own
// channels through ReplicateMessage, rewritten for the target (ids, shard, names, times),
// followed by TimeTicks so that the standby makes it visible; DDL/DCL goes through the
// normal RPCs marked with `base.replicateInfo`.
//
// Delivery after a crash: everything sent after a restart carries a later timestamp than
// whatever reached the target before (the highest timestamp sent is stored before sending),
// and an Insert of the replay window goes out as Delete + Insert of its keys at one
// timestamp, Milvus's own upsert: a copy of the rows that reached the target before the
// crash is older and goes, the replayed rows stay. No row is duplicated and none is lost.

#include "actors/transformer/convert.hpp"
#include "actors/transformer/replicate.hpp"
#include "actors/writer/applier.hpp"
#include "actors/writer/source_client.hpp"
#include "actors/writer/target_writer.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <variant>

namespace cdc {

class store;

namespace metrics {
class registry;
}

/// Limits of mode replicate.
struct replicate_options {
  /// Size of one ReplicateMessage (its messages serialized); larger batches are split, never
  /// between messages of one source time. A single message (at most the source's Kafka
  /// message size) goes alone.
  size_t max_request_bytes = size_t{8} << 20;
  /// A target channel with nothing to write gets a TimeTick at most this often.
  std::chrono::milliseconds tick_interval{200};
  /// A source channel silent this long no longer holds the TimeTicks back (Milvus ticks the
  /// channels in use about every 200 ms; one no collection uses goes quiet).
  std::chrono::milliseconds idle_source{3000};
  /// The replicate-msg channel probed at start (an empty ReplicateMessage): a normal Milvus
  /// refuses it, a standby answers. Milvus 2.3.5 answers its own replicate channel's
  /// position without writing anything; any other name makes a standby create that topic.
  std::string probe_channel = "by-dev-replicate-msg";
};

class replicate_applier : public applier {
public:
  replicate_applier(task_spec spec, std::string replicate_channel, std::string source_uri,
                    std::string source_token, std::shared_ptr<store> db,
                    std::shared_ptr<metrics::registry> metrics = nullptr,
                    milvus::writer_options writer_options = {}, replicate_options options = {},
                    std::shared_ptr<wal::collection_filter> skip = nullptr);

  /// Checks that the target takes ReplicateMessage (a normal Milvus refuses it: an error that
  /// names common.ttMsgEnabled), loads the highest timestamp sent before, and finds the
  /// collections both sides have already (their channels get TimeTicks from now on).
  caf::error start() override;

  caf::error apply(const std::vector<wal::event>& events,
                   const std::map<std::string, int64_t>& replay_until) override;

  /// The source channels of the collection(s) a replicate-channel event names.
  std::vector<std::string> channels_before(const wal::event& ddl) override;

  void cancel() override { target_.cancel(); }

private:
  /// A replicated source collection and its counterpart on the target.
  struct collection_entry {
    transform::collection_info source;
    transform::target_collection target;
  };

  /// What is about to go to one target channel.
  /// A rewritten Insert or Delete waiting for its ReplicateMessage.
  struct pending_msg {
    std::variant<::milvus::proto::msg::InsertRequest, ::milvus::proto::msg::DeleteRequest> msg;
    uint64_t source_ts = 0;
    int64_t offset = -1;
    /// An Insert's keys, and whether a Delete of them at its time goes before it (the
    /// replay window; a resend).
    wal::primary_keys keys;
    bool with_delete = false;
    /// It may have reached the target before (a resend): it goes with an id of its own
    /// (transform::resend_ids), not the source's.
    bool resent = false;
  };

  struct channel_state {
    transform::channel_clock clock;
    std::vector<pending_msg> msgs;
    size_t bytes = 0;
    uint64_t begin_ts = 0;
    /// The latest time given to a pending message, and its source time.
    uint64_t pending_ts = 0;
    uint64_t pending_source_ts = 0;
    int64_t first_offset = -1;
    int64_t last_offset = -1;
    size_t insert_rows = 0;
    size_t delete_rows = 0;
    std::chrono::steady_clock::time_point last_send;
  };

  /// The entry of the collection of a DML-channel event: created on the target from its
  /// CreateCollection message or from the source's DescribeCollection when the target lacks
  /// it. nullptr: not replicated by this task (or dropped).
  caf::expected<collection_entry*> collection_of(const wal::event& e);

  /// The replicated collection named `name` in database `db` (its source name), or nullptr.
  collection_entry* find(const std::string& db, const std::string& name);

  /// Has the target follow a rename or alias an event's name `seen` shows (follow_name),
  /// the DDL at source time `ts`.
  caf::error follow(collection_entry& entry, const std::string& seen, uint64_t ts,
                    const milvus::source_collection* described = nullptr);

  /// Before a replicate-channel DDL: a collection it names by a name not known here may have
  /// been renamed on the source, or be named through an alias.
  caf::error follow_names_of(const wal::event& ddl);

  /// Creates the collection on the target (idempotent) and describes it there.
  caf::expected<collection_entry> to_target(transform::collection_info source, uint64_t ts);

  /// Fills `entry.target` from the target's DescribeCollection and ShowPartitions.
  caf::error describe_target(collection_entry& entry);

  /// A collection the source had before the task saw its CreateCollection, just created (or
  /// found) on the target: its partitions, indexes and load state follow, dated `ts`.
  caf::error adopt(collection_entry& entry, uint64_t ts);

  /// Creates a partition the target lacks (Milvus 2.3.5 writes no CreatePartition message).
  caf::error ensure_partition(collection_entry& entry, const std::string& partition, uint64_t ts);

  caf::error apply_insert(collection_entry& entry, const wal::event& e, bool replay);
  caf::error apply_delete(collection_entry& entry, const wal::event& e);
  caf::error apply_drop_collection(const wal::event& e, collection_entry* entry);
  caf::error apply_drop_partition(collection_entry& entry, const wal::event& e);
  caf::error apply_ddl(const wal::event& e);

  /// Creates on the target the partitions the source has and the target lacks (2.3-2.5 write
  /// no CreatePartition): before a DDL of the collection (index, load, flush, ...).
  caf::error sync_partitions(const std::string& db, const std::string& name, uint64_t ts);

  /// The time up to which every source channel has been applied: the oldest of what each
  /// channel seen in the last seconds guarantees (a TimeTick its time, a message one less,
  /// since more of its time may follow). 0 when no channel is known.
  uint64_t source_watermark() const;

  /// Calls a DDL request with `base.replicateInfo = {isReplicate, msgTimestamp: ts}`.
  caf::error call_replicated(const transform::ddl& request, uint64_t ts);

  /// Adds a message (given time `ts`) for target channel `channel`; sends what is pending
  /// first when it would grow too large.
  caf::error queue(const std::string& channel, pending_msg msg, uint64_t ts);

  /// Sends the pending messages of a channel and a TimeTick at `tick` (raised to the last
  /// time the channel got): the standby makes them visible. A failed attempt may have
  /// written part of them: they are sent again later than anything before, each Insert after
  /// a Delete of its keys, which leaves every row once whatever reached the target.
  caf::error send(const std::string& channel, channel_state& state, uint64_t tick);

  /// Sends every channel's pending messages (before DDL: the target sees them first).
  caf::error send_pending();

  /// After a batch: pending messages and a TimeTick at the source watermark to every channel
  /// of a replicated collection (pure TimeTicks at most every tick_interval; `repeat`: also
  /// when the time did not advance).
  caf::error tick_all(bool repeat);

  channel_state& channel(const std::string& name);

  /// Keeps a rewritten Insert of source channel `topic` if its source time is the newest
  /// there (see recent_inserts_).
  void remember(const wal::event& e, const std::string& channel, const pending_msg& msg,
                uint64_t ts);

  /// After the Delete of an upsert given time `ts`: its Inserts that went out earlier at an
  /// older time (a TimeTick covered them before the Delete was read) go again at `ts`, after
  /// the Delete, which would otherwise delete them.
  caf::error insert_again_after(const wal::event& del, const collection_entry& entry,
                                const std::string& channel, uint64_t ts);

  /// Stores `ts` as the highest timestamp sent, before it is sent.
  caf::error raise_target_time(uint64_t ts);

  /// Counts a call in the metrics and turns a failure into an error naming it.
  caf::error settle(const milvus::write_status& status);

  task_spec spec_;
  std::string replicate_channel_;
  transform::name_mapper names_;
  milvus::target_writer target_;
  milvus::source_client source_;
  std::shared_ptr<store> db_;
  std::shared_ptr<metrics::registry> metrics_;
  replicate_options options_;
  /// Told the collections this task does not replicate: the reader skips their rows.
  std::shared_ptr<wal::collection_filter> skip_;
  /// Source collection id -> entry; nullopt when not replicated.
  std::map<int64_t, std::optional<collection_entry>> collections_;
  /// Source collection id -> the other names events gave it, looked up at the source once.
  std::map<int64_t, std::set<std::string>> other_names_;
  /// Source collections dropped: their later events are ignored.
  std::set<int64_t> dropped_;
  /// Per source DML channel: the Inserts of the newest source time, as sent to the target.
  /// Milvus writes an upsert as Inserts then a Delete at one time; when a batch ends between
  /// them, the Inserts go out with a TimeTick, and the Delete, read later, must get a later
  /// time (nothing older may follow a TimeTick) at which it deletes them too: they are sent
  /// again after it.
  struct sent_insert {
    std::string channel;
    int64_t target_collection = 0;
    uint64_t ts = 0;
    ::milvus::proto::msg::InsertRequest msg;
    wal::primary_keys keys;
  };
  struct recent_inserts {
    uint64_t source_ts = 0;
    std::vector<sent_insert> inserts;
  };
  std::map<std::string, recent_inserts> recent_inserts_;
  std::map<std::string, channel_state> channels_;
  /// Ids of what goes to a channel more than once.
  transform::resend_ids resend_ids_;
  /// The highest timestamp stored as sent; at start, what the previous run sent.
  uint64_t target_time_ = 0;
  uint64_t restart_floor_ = 0;
  /// Per source DML channel: the time it guarantees (see source_watermark) and when it last
  /// had an event.
  struct source_clock {
    uint64_t safe = 0;
    std::chrono::steady_clock::time_point seen;
  };
  std::map<std::string, source_clock> sources_;
};

} // namespace cdc
