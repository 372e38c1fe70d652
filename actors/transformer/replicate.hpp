#pragma once

// Mode `replicate` (spec/target.md): the WAL messages of the source rewritten for a standby
// Milvus that takes them through ReplicateMessage. Ids, shard and names become the target's,
// timestamps become the ones the target channel gets. Pure functions and one small clock:
// no actors, no I/O.

#include "actors/base/error.hpp"
#include "actors/reader/decode.hpp"

#include "milvus.pb.h"
#include "msg.pb.h"

#include <caf/expected.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace cdc::transform {

namespace pb = ::milvus::proto;

/// Where a source collection lives on the target, as the target describes it.
struct target_collection {
  std::string db_name;
  std::string name;
  int64_t id = 0;
  /// Virtual channels, index = shard index (the number after the last 'v').
  std::vector<std::string> vchannels;
  /// Partition name -> id.
  std::map<std::string, int64_t> partitions;
  /// Field name -> id on the target (the source's ids are kept for fields not listed).
  std::map<std::string, int64_t> field_ids;
  /// The newest creation time of the collection and its partitions on the target (hybrid).
  /// Messages of the collection go later: a consumer of a new channel may skip everything up
  /// to the creation time (Milvus 2.4 seeks at the collection's CreatedAt). A 2.3.5 standby
  /// dates a DDL by its replicateInfo.msgTimestamp, i.e. by the source's time.
  uint64_t created_ts = 0;
};

/// The physical channels of a target collection, in shard order, without repeats.
std::vector<std::string> physical_channels(const target_collection& collection);

/// The target vchannel of a source vchannel: the one with the same shard index. Error when
/// the shard index is malformed or the target has fewer shards.
caf::expected<std::string> target_vchannel(const target_collection& collection,
                                           std::string_view source_vchannel);

/// A WAL Insert for the target: collectionID, partitionID (by partition name), shardName,
/// db and collection names, field ids by name; `base.timestamp` and every row timestamp set
/// to `ts` (the Insert half of a 2.3.5 upsert has base.timestamp 0); `base.msgID` kept (unique
/// in the source's channel; whatever is sent again gets one of resend_ids). Error when the
/// partition is not in `collection.partitions` or the shard has no counterpart.
caf::expected<pb::msg::InsertRequest> replicate_insert(const pb::msg::InsertRequest& insert,
                                                       const target_collection& collection,
                                                       uint64_t ts);

/// A WAL Delete for the target, rewritten like an Insert. partitionID -1 (all partitions)
/// stays; a partition is looked up by name, and by `source_partitions` (source id -> name)
/// when the message carries only its id. Error when the partition cannot be named.
caf::expected<pb::msg::DeleteRequest>
replicate_delete(const pb::msg::DeleteRequest& del, const target_collection& collection,
                 uint64_t ts, const std::map<int64_t, std::string>& source_partitions = {});

/// The Delete that goes before a replayed (already rewritten) Insert, at the Insert's own
/// timestamp: a copy of the rows that reached the target before a crash carries an older
/// timestamp and is deleted, the replayed rows stay (a delete removes only older rows). The
/// same as Milvus's own upsert. Its msgID is `msg_id` (from resend_ids).
pb::msg::DeleteRequest replay_delete(const pb::msg::InsertRequest& rewritten,
                                     const wal::primary_keys& keys, int64_t msg_id);

/// Sets the time of a rewritten Insert or Delete: `base.timestamp` and every row's.
void set_time(pb::msg::InsertRequest& msg, uint64_t ts);
void set_time(pb::msg::DeleteRequest& msg, uint64_t ts);

/// A TimeTick at `ts`: a standby makes the messages up to `ts` of its channel visible.
pb::msg::TimeTickMsg time_tick(uint64_t ts);

/// The ReplicateMessage of `msgs` (serialized messages, the last one usually a TimeTick) for
/// target channel `channel`: BeginTs/EndTs, start and end positions (the source offsets as
/// message ids, 8 bytes little endian), `base.replicateInfo = {isReplicate, msgTimestamp:
/// end_ts}`.
pb::milvus::ReplicateMessageRequest replicate_request(const std::string& channel,
                                                      std::vector<std::string> msgs,
                                                      uint64_t begin_ts, uint64_t end_ts,
                                                      int64_t first_offset, int64_t last_offset);

/// Message ids for what goes to a standby channel more than once (issue 11).
///
/// A standby's consumers drop a DML message whose msgID they already saw in the same message
/// pack (Milvus 2.3 mq_msgstream "found duplicated msg"), and a pack spans many TimeTicks when
/// the consumer lags more than 10 s (its "pursuit mode": a restarted standby replaying from
/// its checkpoint, or a backlog of old source times). Whatever goes again (an upsert's Inserts
/// after its Delete, a resend after a failed attempt, the replay window after a crash) goes
/// after a Delete of its keys; with the source's msgID it would be dropped as a duplicate of
/// its first copy, which that Delete removes: the rows would be lost. So each of them gets an
/// id of its own, never used before in the channel: negative (source ids are positive), from
/// a counter in units of 1/4096 ms of hybrid time that starts above everything the previous
/// run may have sent (the stored target time), with 10 bits of the task in the low bits so
/// that two tasks writing to one standby do not share ids.
class resend_ids {
public:
  resend_ids() = default;
  /// `floor`: the highest hybrid time stored as sent (ids handed out before are below it);
  /// `task`: the task id, for the low bits.
  resend_ids(uint64_t floor, std::string_view task);

  /// Keeps the counter at or above hybrid time `ts` (ids follow the clock: two tasks'
  /// counters stay apart unless they hand out ids in the same 1/4096 ms).
  void advance(uint64_t ts) { counter_ = std::max(counter_, (ts >> 6) + 1); }

  /// A new id.
  int64_t next();

  /// A hybrid time at or above every id handed out (store it before sending them).
  uint64_t covers() const { return counter_ << 6; }

private:
  uint64_t counter_ = 0;
  uint64_t salt_ = 0;
};

/// The timestamps one target channel gets. They increase (a message is never older than
/// what the channel got before, TimeTicks included: the standby takes a TimeTick as "nothing
/// older follows"); messages of one source time keep one time (an upsert's Insert and Delete)
/// until a TimeTick covers it; and a source time is kept whenever that allows.
class channel_clock {
public:
  /// `floor`: everything is sent later than this (the time the target may already hold:
  /// the highest timestamp sent before a restart).
  channel_clock() = default;
  explicit channel_clock(uint64_t floor) : last_(floor) {}

  /// The time for a message of source time `ts` that must be later than `floor` (the
  /// creation time of its collection on the target). The time its source time got before,
  /// unless a TimeTick covered that: a later piece of one source time (Milvus splits a large
  /// Insert into several records; an upsert's Delete follows its Inserts) read in a later
  /// batch then gets a new time, later than the TimeTick.
  uint64_t assign(uint64_t ts, uint64_t floor = 0);

  /// The time for a TimeTick of source time `ts`: never earlier than any message sent.
  uint64_t tick(uint64_t ts);

  /// A time later than everything given out, for messages of source time `ts` that are sent
  /// again (a resend after a failure); later messages of that source time get it too.
  uint64_t renew(uint64_t ts);

  /// The latest time given out.
  uint64_t last() const { return last_; }

private:
  uint64_t last_ = 0;
  /// The time of the latest TimeTick given out.
  uint64_t ticked_ = 0;
  /// Recent source time -> time given, so that an Insert and a Delete of one upsert keep one
  /// time even when another collection's message came between them.
  std::map<uint64_t, uint64_t> recent_;
};

} // namespace cdc::transform
