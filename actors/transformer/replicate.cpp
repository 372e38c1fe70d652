#include "actors/transformer/replicate.hpp"

#include <algorithm>
#include <functional>

namespace cdc::transform {

namespace {

caf::error refused(const std::string& what) {
  return make_error(ec::target_refused, what);
}

std::string collection_text(const target_collection& collection) {
  return "target collection " + collection.db_name + "." + collection.name;
}

std::string offset_bytes(int64_t offset) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[static_cast<size_t>(i)] =
        static_cast<char>((static_cast<uint64_t>(offset) >> (8 * i)) & 0xff);
  return out;
}

/// Sets the target's ids, shard and names on a DML message (Insert or Delete).
template <class Message>
caf::error retarget(Message& msg, const target_collection& collection, uint64_t ts) {
  auto shard = target_vchannel(collection, msg.shardname());
  if (!shard)
    return shard.error();
  msg.set_shardname(*shard);
  msg.set_db_name(collection.db_name);
  msg.set_collection_name(collection.name);
  msg.set_collectionid(collection.id);
  msg.set_dbid(0);
  // base.msgID stays: the standby's consumers drop a DML message whose msgID they saw before
  // in the same TimeTick span (Milvus 2.3.5 mqTtMsgStream, "found duplicated msg"), and the
  // source's ids are unique.
  set_time(msg, ts);
  return {};
}

} // namespace

std::vector<std::string> physical_channels(const target_collection& collection) {
  std::vector<std::string> out;
  for (const auto& v : collection.vchannels) {
    std::string p{wal::physical_channel(v)};
    if (std::find(out.begin(), out.end(), p) == out.end())
      out.push_back(std::move(p));
  }
  return out;
}

caf::expected<std::string> target_vchannel(const target_collection& collection,
                                           std::string_view source_vchannel) {
  auto index = wal::shard_index(source_vchannel);
  if (index < 0)
    return refused("shard '" + std::string{source_vchannel} +
                   "' has no shard index (expected "
                   "<pchannel>_<collectionID>v<index>)");
  if (static_cast<size_t>(index) >= collection.vchannels.size())
    return refused("shard " + std::to_string(index) + " of source shard '" +
                   std::string{source_vchannel} + "' has no counterpart: the " +
                   collection_text(collection) + " has " +
                   std::to_string(collection.vchannels.size()) + " shard(s)");
  return collection.vchannels[static_cast<size_t>(index)];
}

caf::expected<pb::msg::InsertRequest> replicate_insert(const pb::msg::InsertRequest& insert,
                                                       const target_collection& collection,
                                                       uint64_t ts) {
  auto part = collection.partitions.find(insert.partition_name());
  if (part == collection.partitions.end())
    return refused("partition '" + insert.partition_name() + "' is not on the " +
                   collection_text(collection));
  pb::msg::InsertRequest out = insert;
  if (auto err = retarget(out, collection, ts))
    return err;
  out.set_partitionid(part->second);
  out.set_segmentid(0);
  for (auto& field : *out.mutable_fields_data())
    if (auto id = collection.field_ids.find(field.field_name()); id != collection.field_ids.end())
      field.set_field_id(id->second);
  return out;
}

caf::expected<pb::msg::DeleteRequest>
replicate_delete(const pb::msg::DeleteRequest& del, const target_collection& collection,
                 uint64_t ts, const std::map<int64_t, std::string>& source_partitions) {
  pb::msg::DeleteRequest out = del;
  if (auto err = retarget(out, collection, ts))
    return err;
  out.set_segment_id(0);
  if (del.partitionid() == -1)
    return out;
  std::string name = del.partition_name();
  if (name.empty())
    if (auto it = source_partitions.find(del.partitionid()); it != source_partitions.end())
      name = it->second;
  if (name.empty())
    return refused("a delete names partition " + std::to_string(del.partitionid()) +
                   " only by its source id, which is not known");
  auto part = collection.partitions.find(name);
  if (part == collection.partitions.end())
    return refused("partition '" + name + "' is not on the " + collection_text(collection));
  out.set_partition_name(name);
  out.set_partitionid(part->second);
  return out;
}

resend_ids::resend_ids(uint64_t floor, std::string_view task)
    : counter_((floor >> 6) + 1), salt_(std::hash<std::string_view>{}(task)&1023) {}

int64_t resend_ids::next() {
  // 2^52.7 today (hybrid time >> 6) << 10: below 2^63.
  auto id = static_cast<int64_t>(((counter_ & ((uint64_t{1} << 53) - 1)) << 10) | salt_);
  ++counter_;
  return -id - 1;
}

pb::msg::DeleteRequest replay_delete(const pb::msg::InsertRequest& rewritten,
                                     const wal::primary_keys& keys, int64_t msg_id) {
  pb::msg::DeleteRequest del;
  auto* base = del.mutable_base();
  base->set_msg_type(pb::common::Delete);
  base->set_timestamp(rewritten.base().timestamp());
  // An id of its own (the standby drops a repeated msgID in one TimeTick span); the source's
  // ids are positive.
  base->set_msgid(msg_id);
  base->set_sourceid(rewritten.base().sourceid());
  del.set_shardname(rewritten.shardname());
  del.set_db_name(rewritten.db_name());
  del.set_collection_name(rewritten.collection_name());
  del.set_partition_name(rewritten.partition_name());
  del.set_collectionid(rewritten.collectionid());
  del.set_partitionid(rewritten.partitionid());
  if (!keys.strings.empty())
    for (const auto& k : keys.strings)
      del.mutable_primary_keys()->mutable_str_id()->add_data(k);
  else
    for (auto k : keys.ints)
      del.mutable_primary_keys()->mutable_int_id()->add_data(k);
  for (size_t i = 0; i < keys.size(); ++i)
    del.add_timestamps(rewritten.base().timestamp());
  del.set_num_rows(static_cast<int64_t>(keys.size()));
  return del;
}

void set_time(pb::msg::InsertRequest& msg, uint64_t ts) {
  msg.mutable_base()->set_timestamp(ts);
  for (auto& t : *msg.mutable_timestamps())
    t = ts;
}

void set_time(pb::msg::DeleteRequest& msg, uint64_t ts) {
  msg.mutable_base()->set_timestamp(ts);
  for (auto& t : *msg.mutable_timestamps())
    t = ts;
}

pb::msg::TimeTickMsg time_tick(uint64_t ts) {
  pb::msg::TimeTickMsg tick;
  tick.mutable_base()->set_msg_type(pb::common::TimeTick);
  tick.mutable_base()->set_timestamp(ts);
  tick.mutable_base()->set_sourceid(-1);
  return tick;
}

pb::milvus::ReplicateMessageRequest replicate_request(const std::string& channel,
                                                      std::vector<std::string> msgs,
                                                      uint64_t begin_ts, uint64_t end_ts,
                                                      int64_t first_offset, int64_t last_offset) {
  pb::milvus::ReplicateMessageRequest req;
  auto* info = req.mutable_base()->mutable_replicateinfo();
  info->set_isreplicate(true);
  info->set_msgtimestamp(end_ts);
  req.set_channel_name(channel);
  req.set_begints(begin_ts);
  req.set_endts(end_ts);
  for (auto& m : msgs)
    req.add_msgs(std::move(m));
  auto* start = req.add_startpositions();
  start->set_channel_name(channel);
  start->set_msgid(offset_bytes(first_offset));
  start->set_timestamp(begin_ts);
  auto* end = req.add_endpositions();
  end->set_channel_name(channel);
  end->set_msgid(offset_bytes(last_offset));
  end->set_timestamp(end_ts);
  return req;
}

uint64_t channel_clock::assign(uint64_t ts, uint64_t floor) {
  if (auto it = recent_.find(ts); it != recent_.end() && it->second > floor && it->second > ticked_)
    return it->second;
  auto given = std::max({ts, last_ + 1, floor + 1});
  last_ = given;
  recent_[ts] = given;
  // A few hundred source times are plenty: the writer hands over events in time order.
  constexpr size_t keep = 256;
  while (recent_.size() > keep)
    recent_.erase(recent_.begin());
  return given;
}

uint64_t channel_clock::renew(uint64_t ts) {
  last_ += 1;
  recent_[ts] = last_;
  return last_;
}

uint64_t channel_clock::tick(uint64_t ts) {
  last_ = std::max(last_, ts);
  ticked_ = last_;
  return last_;
}

} // namespace cdc::transform
