// Mode replicate, the pure part (actors/transformer/replicate.hpp): WAL messages a real
// Milvus 2.3.5 wrote (tests/fixtures/wal-2.3.5) rewritten for a standby, and the clock of a
// target channel.

#include "actors/transformer/convert.hpp"
#include "actors/transformer/replicate.hpp"

#include "../support/wal_fixtures.hpp"

#include <doctest/doctest.h>

#include <set>

using namespace cdc;
using namespace cdc::transform;
namespace cpb = ::milvus::proto::common;
namespace msgpb = ::milvus::proto::msg;

namespace {

const std::vector<wal::event>& captured() {
  static const std::vector<wal::event> events = [] {
    std::vector<wal::event> out;
    for (auto& rec : cdc::test::load_wal_fixtures()) {
      auto ev = wal::decode(rec.record);
      if (!ev)
        throw std::runtime_error(message_of(ev.error()));
      out.push_back(std::move(*ev));
    }
    return out;
  }();
  return events;
}

const wal::event& first(cpb::MsgType type, const std::string& collection) {
  for (const auto& ev : captured())
    if (ev.type == type && ev.collection_name == collection)
      return ev;
  throw std::runtime_error("no " + wal::type_name(type) + " of " + collection);
}

/// The standby's side of fx_all_types: other ids, another channel prefix, two partitions.
target_collection standby_all_types() {
  target_collection t;
  t.db_name = "default";
  t.name = "fx_all_types_copy";
  t.id = 900;
  t.vchannels = {"standby-rootcoord-dml_5_900v0"};
  t.partitions = {{"_default", 901}, {"p1", 902}};
  t.field_ids = {{"pk", 100}, {"vec", 250}};
  t.created_ts = 1000;
  return t;
}

} // namespace

TEST_CASE("replicate_insert_takes_the_targets_ids_shard_names_and_one_timestamp") {
  const auto& ev = first(cpb::Insert, "fx_all_types");
  const auto& src = *ev.as<msgpb::InsertRequest>();
  auto target = standby_all_types();
  const uint64_t ts = (uint64_t{1795616609430} << 18) | 3;
  auto out = replicate_insert(src, target, ts);
  REQUIRE_MESSAGE(out, message_of(out.error()));
  CHECK(out->collectionid() == 900);
  CHECK(out->partitionid() == 901);
  CHECK(out->partition_name() == "_default");
  CHECK(out->shardname() == "standby-rootcoord-dml_5_900v0");
  CHECK(out->collection_name() == "fx_all_types_copy");
  CHECK(out->db_name() == "default");
  CHECK(out->segmentid() == 0);
  CHECK(out->base().msg_type() == cpb::Insert);
  CHECK(out->base().timestamp() == ts);
  // the standby drops a msgID it saw in the same TimeTick span: the source's unique id stays
  CHECK(out->base().msgid() == src.base().msgid());
  CHECK(out->base().msgid() != 0);
  REQUIRE(out->timestamps_size() == src.timestamps_size());
  for (auto t : out->timestamps())
    CHECK(t == ts);
  // rows, keys and columns unchanged; field ids from the target where it names the field
  CHECK(out->num_rows() == src.num_rows());
  CHECK(out->rowids_size() == src.rowids_size());
  REQUIRE(out->fields_data_size() == src.fields_data_size());
  for (int i = 0; i < out->fields_data_size(); ++i) {
    const auto& f = out->fields_data(i);
    CHECK(f.field_name() == src.fields_data(i).field_name());
    if (f.field_name() == "pk")
      CHECK(f.field_id() == 100);
    else if (f.field_name() == "vec")
      CHECK(f.field_id() == 250);
    else
      CHECK(f.field_id() == src.fields_data(i).field_id());
    auto a = f;
    auto b = src.fields_data(i);
    a.clear_field_id();
    b.clear_field_id();
    CHECK(a.SerializeAsString() == b.SerializeAsString());
  }
}

TEST_CASE("replicate_insert_refuses_a_partition_or_shard_the_target_lacks") {
  const auto& src = *first(cpb::Insert, "fx_all_types").as<msgpb::InsertRequest>();
  auto target = standby_all_types();
  target.partitions.erase("_default");
  auto no_partition = replicate_insert(src, target, 5);
  REQUIRE_FALSE(no_partition);
  CHECK(message_of(no_partition.error()).find("partition '_default'") != std::string::npos);

  target = standby_all_types();
  auto shifted = src;
  shifted.set_shardname("by-dev-rootcoord-dml_0_470710119384743957v1");
  auto no_shard = replicate_insert(shifted, target, 5);
  REQUIRE_FALSE(no_shard);
  CHECK(message_of(no_shard.error()).find("has 1 shard(s)") != std::string::npos);
}

TEST_CASE("target_vchannel_matches_by_shard_index") {
  target_collection t;
  t.vchannels = {"standby-rootcoord-dml_7_42v0", "standby-rootcoord-dml_8_42v1"};
  CHECK(*target_vchannel(t, "by-dev-rootcoord-dml_3_1v1") == "standby-rootcoord-dml_8_42v1");
  CHECK(*target_vchannel(t, "by-dev-rootcoord-dml_2_1v0") == "standby-rootcoord-dml_7_42v0");
  CHECK_FALSE(target_vchannel(t, "by-dev-rootcoord-dml_2"));
  CHECK(physical_channels(t) ==
        std::vector<std::string>{"standby-rootcoord-dml_7", "standby-rootcoord-dml_8"});
  t.vchannels.push_back("standby-rootcoord-dml_7_42v2");
  CHECK(physical_channels(t).size() == 2);
}

TEST_CASE("replicate_delete_keeps_all_partitions_and_maps_a_named_one") {
  std::vector<const msgpb::DeleteRequest*> deletes;
  for (const auto& ev : captured())
    if (ev.type == cpb::Delete && ev.collection_name == "fx_all_types")
      deletes.push_back(ev.as<msgpb::DeleteRequest>());
  REQUIRE(deletes.size() >= 2);
  auto target = standby_all_types();
  bool saw_all = false;
  bool saw_named = false;
  for (const auto* del : deletes) {
    auto out = replicate_delete(*del, target, 77);
    REQUIRE_MESSAGE(out, message_of(out.error()));
    CHECK(out->collectionid() == 900);
    CHECK(out->shardname() == "standby-rootcoord-dml_5_900v0");
    CHECK(out->base().timestamp() == 77);
    CHECK(out->base().msgid() == del->base().msgid());
    for (auto t : out->timestamps())
      CHECK(t == 77);
    CHECK(out->primary_keys().SerializeAsString() == del->primary_keys().SerializeAsString());
    if (del->partitionid() == -1) {
      saw_all = true;
      CHECK(out->partitionid() == -1);
    } else {
      saw_named = true;
      CHECK(out->partitionid() == 901);
    }
  }
  CHECK(saw_all);
  CHECK(saw_named);

  // a partition named only by its source id: found through what the applier learned
  auto by_id = *deletes.back();
  by_id.clear_partition_name();
  by_id.set_partitionid(4242);
  CHECK_FALSE(replicate_delete(by_id, target, 1));
  auto out = replicate_delete(by_id, target, 1, {{4242, "p1"}});
  REQUIRE(out);
  CHECK(out->partitionid() == 902);
  CHECK(out->partition_name() == "p1");
}

TEST_CASE("replay_delete_removes_the_inserts_keys_at_its_timestamp") {
  const auto& src = *first(cpb::Insert, "fx_all_types").as<msgpb::InsertRequest>();
  auto rewritten = replicate_insert(src, standby_all_types(), 12345);
  REQUIRE(rewritten);
  wal::primary_keys keys;
  keys.ints = {1, 2, 3};
  auto del = replay_delete(*rewritten, keys, -77);
  CHECK(del.base().msg_type() == cpb::Delete);
  CHECK(del.base().timestamp() == 12345);
  CHECK(del.base().msgid() == -77);
  CHECK(del.collectionid() == 900);
  CHECK(del.partitionid() == 901);
  CHECK(del.shardname() == rewritten->shardname());
  CHECK(del.num_rows() == 3);
  CHECK(del.timestamps_size() == 3);
  CHECK(std::vector<int64_t>(del.primary_keys().int_id().data().begin(),
                             del.primary_keys().int_id().data().end()) ==
        std::vector<int64_t>{1, 2, 3});
  wal::primary_keys strings;
  strings.strings = {"a", "b"};
  auto del2 = replay_delete(*rewritten, strings, -78);
  CHECK(del2.primary_keys().str_id().data_size() == 2);
  CHECK(del2.num_rows() == 2);
}

TEST_CASE("resend_ids_are_new_negative_and_above_what_a_previous_run_handed_out") {
  // A standby drops a DML message whose id it saw in the same pack: every resend needs an id
  // never used in the channel, also after a restart (which starts from the stored time).
  uint64_t floor = uint64_t{470972440269291523};
  resend_ids ids{floor, "task-a"};
  std::set<int64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = ids.next();
    CHECK(id < 0); // never a source id
    CHECK(seen.insert(id).second);
  }
  // the clock moves on: ids follow it, still new
  ids.advance(floor + (uint64_t{1} << 18) * 5);
  CHECK(seen.insert(ids.next()).second);
  // a restart from what was stored before sending: nothing handed out before comes again
  resend_ids after{ids.covers(), "task-a"};
  for (int i = 0; i < 1000; ++i)
    CHECK(seen.insert(after.next()).second);
  // another task at the same time: other ids
  resend_ids other{floor, "task-b"};
  resend_ids same{floor, "task-a"};
  CHECK(other.next() != same.next());
}

TEST_CASE("channel_clock_increases_keeps_equal_source_times_and_stays_above_floors") {
  channel_clock clock;
  CHECK(clock.assign(100) == 100);
  CHECK(clock.assign(100) == 100); // the Delete of an upsert: the Insert's time
  CHECK(clock.assign(105) == 105);
  CHECK(clock.assign(103) == 106); // out of order: later than what the channel got
  CHECK(clock.tick(104) == 106);   // a TimeTick never goes back
  CHECK(clock.tick(110) == 110);
  CHECK(clock.assign(110) == 111); // after a TimeTick at 110, a message must be later
  CHECK(clock.assign(110) == 111); // one source time keeps its time until a TimeTick
  CHECK(clock.assign(105) == 112); // 105 got 105, which the TimeTick covered: a later time
  CHECK(clock.assign(105) == 112);
  // the target collection was created at 500 on the target: its messages come after it
  CHECK(clock.assign(120, 500) == 501);
  CHECK(clock.assign(120, 500) == 501);
  CHECK(clock.assign(121, 500) == 502);
  CHECK(clock.last() == 502);

  // after a restart, everything is later than what was sent before
  channel_clock restarted{1000};
  CHECK(restarted.assign(900) == 1001);
  CHECK(restarted.assign(900) == 1001);
  CHECK(restarted.assign(950) == 1002);
  CHECK(restarted.assign(2000) == 2000);
  CHECK(restarted.tick(1500) == 2000);
}

TEST_CASE("a_piece_of_a_source_time_read_after_its_timetick_goes_later_than_the_timetick") {
  // Milvus splits a large Insert into records of one time, and writes an upsert's Delete
  // after its Inserts at that time; a batch may end between them. What the first batch sent
  // went with a TimeTick at that time; the standby takes nothing older or equal after it.
  channel_clock clock;
  CHECK(clock.assign(1000) == 1000); // first piece
  CHECK(clock.tick(1000) == 1000);   // end of the batch
  const auto second = clock.assign(1000);
  CHECK(second > 1000);                // second piece, next batch
  CHECK(clock.assign(1000) == second); // the Delete: the second piece's time
  CHECK(clock.tick(999) == second);    // the next TimeTick covers them
  CHECK(clock.assign(1001) == second + 1);
  CHECK(clock.assign(5000) == 5000);
  CHECK(clock.tick(5000) == 5000);
  CHECK(clock.assign(1000) == 5001); // a straggler of an old source time, after all that
}

TEST_CASE("replicate_request_carries_times_positions_and_the_replicate_flag") {
  auto tick = time_tick(42);
  CHECK(tick.base().msg_type() == cpb::TimeTick);
  CHECK(tick.base().timestamp() == 42);
  auto req = replicate_request("standby-rootcoord-dml_3", {"a", tick.SerializeAsString()}, 40, 42,
                               7, 0x0102030405060708);
  CHECK(req.channel_name() == "standby-rootcoord-dml_3");
  CHECK(req.base().replicateinfo().isreplicate());
  CHECK(req.base().replicateinfo().msgtimestamp() == 42);
  CHECK(req.begints() == 40);
  CHECK(req.endts() == 42);
  REQUIRE(req.msgs_size() == 2);
  REQUIRE(req.startpositions_size() == 1);
  REQUIRE(req.endpositions_size() == 1);
  CHECK(req.startpositions(0).channel_name() == "standby-rootcoord-dml_3");
  CHECK(req.startpositions(0).msgid() == std::string("\x07\0\0\0\0\0\0\0", 8));
  CHECK(req.endpositions(0).msgid() == "\x08\x07\x06\x05\x04\x03\x02\x01");
  CHECK(req.endpositions(0).timestamp() == 42);
  // what the standby's proxy reads first: the header of every message
  cpb::MsgHeader header;
  REQUIRE(header.ParseFromString(req.msgs(1)));
  CHECK(header.base().msg_type() == cpb::TimeTick);
}

TEST_CASE("replicate_mode_creates_the_target_collection_with_the_sources_auto_id") {
  std::optional<collection_info> info;
  for (const auto& ev : captured())
    if (ev.type == cpb::CreateCollection && ev.collection_name == "fx_auto_id") {
      auto got = collection_from_wal(*ev.as<msgpb::CreateCollectionRequest>(), "fx_db");
      REQUIRE(got);
      info = *got;
      break;
    }
  REQUIRE(info);
  options opts;
  opts.auto_id = auto_id_mode::keep;
  auto create = create_collection_request(*info, name_mapper{}, opts);
  REQUIRE(create);
  CHECK_FALSE(create->auto_id_changed);
  CHECK(create->note.empty());
  bool pk_auto = false;
  for (const auto& f : create->schema.fields())
    if (f.is_primary_key())
      pk_auto = f.autoid();
  CHECK(pk_auto);
  for (const auto& kv : create->request.properties())
    CHECK(kv.key() != "allow_insert_auto_id");
}

TEST_CASE("a_resend_gets_times_later_than_everything_sent_before") {
  channel_clock clock;
  CHECK(clock.assign(100) == 100);
  CHECK(clock.assign(100) == 100);
  CHECK(clock.assign(101) == 101);
  CHECK(clock.tick(150) == 150); // the TimeTick of the failed attempt
  // the resend: one new time per source time, later than the failed attempt
  CHECK(clock.renew(100) == 151);
  CHECK(clock.renew(101) == 152);
  // a message of a renewed source time that comes later keeps the renewed time
  CHECK(clock.assign(101) == 152);
  CHECK(clock.assign(200) == 200);

  const auto& src = *first(cpb::Insert, "fx_all_types").as<msgpb::InsertRequest>();
  auto out = replicate_insert(src, standby_all_types(), 5);
  REQUIRE(out);
  set_time(*out, 151);
  CHECK(out->base().timestamp() == 151);
  for (auto t : out->timestamps())
    CHECK(t == 151);
  msgpb::DeleteRequest del;
  del.add_timestamps(1);
  del.add_timestamps(2);
  set_time(del, 152);
  CHECK(del.base().timestamp() == 152);
  CHECK(del.timestamps(0) == 152);
  CHECK(del.timestamps(1) == 152);
}
