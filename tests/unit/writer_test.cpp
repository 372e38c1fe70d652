// The writer's release rule: which events reach the applier when, across channels. The
// applier is a recorder (this is a unit test of the writer alone); the end-to-end suite
// checks the same rules against real Milvus.

#include "actors/writer.hpp"
#include "fixtures.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

using namespace cdc;

namespace {

namespace pb = wal::pb;

const std::string replicate = "by-dev-replicate-msg";
const std::string dml_0 = "by-dev-rootcoord-dml_0";
const std::string dml_1 = "by-dev-rootcoord-dml_1";
const std::string dml_2 = "by-dev-rootcoord-dml_2";

/// What the writer gave the applier, call by call ("topic@offset" per event, TimeTicks left
/// out), and the channels a DDL waits for.
struct recorded {
  std::vector<std::string> applied;
  std::vector<std::string> ddl_channels;
};

class recording_applier : public applier {
public:
  explicit recording_applier(std::shared_ptr<recorded> into) : into_(std::move(into)) {}

  caf::error apply(const std::vector<wal::event>& events,
                   const std::map<std::string, int64_t>&) override {
    for (const auto& e : events)
      if (e.type != pb::common::TimeTick)
        into_->applied.push_back(e.topic + "@" + std::to_string(e.offset));
    return {};
  }

  std::vector<std::string> channels_before(const wal::event&) override {
    return into_->ddl_channels;
  }

private:
  std::shared_ptr<recorded> into_;
};

wal::event make(pb::common::MsgType type, const std::string& topic, int64_t offset,
                uint64_t timestamp) {
  wal::event e;
  e.type = type;
  e.topic = topic;
  e.offset = offset;
  e.timestamp = timestamp;
  e.collection_id = type == pb::common::TimeTick ? 0 : 7;
  e.bytes = 10;
  return e;
}

struct writer_fixture : test::actor_fixture {
  std::shared_ptr<recorded> got = std::make_shared<recorded>();
  event_sink_actor writer_actor;

  writer_fixture() {
    auto config = std::make_shared<writer_config>();
    config->task_id = "t1";
    config->db = db;
    config->target = std::make_unique<recording_applier>(got);
    config->replicate_channel = replicate;
    writer_actor = sys.spawn(writer, config, caf::actor_cast<task_actor>(self));
    sched.run();
  }

  ~writer_fixture() {
    caf::anon_send_exit(writer_actor, caf::exit_reason::user_shutdown);
    sched.run();
  }

  void deliver(std::vector<wal::event> events) {
    event_batch batch;
    batch.bytes = 10 * events.size();
    batch.events = std::move(events);
    self->send(writer_actor, atom::events_v, std::move(batch), caf::actor_cast<reader_actor>(self));
    sched.run();
  }
};

using strings = std::vector<std::string>;

} // namespace

TEST_CASE_FIXTURE(writer_fixture, "inserts_and_deletes_do_not_wait_for_other_channels") {
  deliver({make(pb::common::TimeTick, dml_0, 0, 100), make(pb::common::TimeTick, dml_1, 0, 100)});
  // dml_1 is still at 100: an insert at 300 on dml_0 goes at once all the same.
  deliver({make(pb::common::Insert, dml_0, 1, 300), make(pb::common::Delete, dml_0, 2, 310)});
  CHECK(got->applied == strings{dml_0 + "@1", dml_0 + "@2"});
}

TEST_CASE_FIXTURE(writer_fixture,
                  "a_drop_collection_waits_for_every_channel_and_nothing_younger_overtakes_it") {
  deliver({make(pb::common::TimeTick, dml_0, 0, 100), make(pb::common::TimeTick, dml_1, 0, 100)});
  deliver({make(pb::common::DropCollection, dml_0, 1, 200)});
  CHECK(got->applied.empty());
  // dml_1 brings a row written before the drop, and one after it.
  deliver({make(pb::common::Insert, dml_1, 1, 150), make(pb::common::Insert, dml_1, 2, 250)});
  CHECK(got->applied == strings{dml_1 + "@1"});
  // Once dml_1 passed the drop's time, the drop goes, then the younger row.
  deliver({make(pb::common::TimeTick, dml_1, 3, 260)});
  CHECK(got->applied == strings{dml_1 + "@1"}); // dml_0 itself may hold more at 200
  deliver({make(pb::common::TimeTick, dml_0, 2, 260)});
  CHECK(got->applied == strings{dml_1 + "@1", dml_0 + "@1", dml_1 + "@2"});
}

TEST_CASE_FIXTURE(writer_fixture,
                  "a_ddl_waits_for_its_collections_channel_even_before_that_channel_is_seen") {
  got->ddl_channels = {dml_2};
  deliver({make(pb::common::TimeTick, dml_0, 0, 100), make(pb::common::TimeTick, dml_1, 0, 100)});
  deliver({make(pb::common::CreateIndex, replicate, 0, 120)});
  deliver({make(pb::common::TimeTick, dml_0, 1, 200), make(pb::common::TimeTick, dml_1, 1, 200)});
  // Every channel the writer knows passed 120, but dml_2 (new) holds the collection.
  CHECK(got->applied.empty());
  deliver({make(pb::common::CreateCollection, dml_2, 0, 110),
           make(pb::common::TimeTick, dml_2, 1, 200)});
  CHECK(got->applied == strings{dml_2 + "@0", replicate + "@0"});
}

namespace {

/// Counts the calls without events (the idle applies) and can refuse to start.
class idle_counting_applier : public applier {
public:
  idle_counting_applier(std::shared_ptr<int> idle_calls, std::string start_error)
      : idle_calls_(std::move(idle_calls)), start_error_(std::move(start_error)) {}

  caf::error start() override {
    if (start_error_.empty())
      return {};
    return make_error(ec::target_refused, start_error_);
  }

  caf::error apply(const std::vector<wal::event>& events,
                   const std::map<std::string, int64_t>&) override {
    if (events.empty())
      ++*idle_calls_;
    return {};
  }

private:
  std::shared_ptr<int> idle_calls_;
  std::string start_error_;
};

event_sink_actor spawn_idle_writer(test::actor_fixture& f, std::shared_ptr<int> idle_calls,
                                   std::string start_error = {}) {
  auto config = std::make_shared<writer_config>();
  config->task_id = "t1";
  config->db = f.db;
  config->target = std::make_unique<idle_counting_applier>(idle_calls, std::move(start_error));
  config->replicate_channel = replicate;
  config->idle_apply = std::chrono::milliseconds{500};
  auto w = f.sys.spawn(writer, config, caf::actor_cast<task_actor>(f.self));
  f.sched.run();
  return w;
}

} // namespace

TEST_CASE_FIXTURE(test::actor_fixture, "an_idle_writer_applies_nothing_every_idle_apply") {
  auto idle_calls = std::make_shared<int>(0);
  auto w = spawn_idle_writer(*this, idle_calls);
  sched.advance_time(std::chrono::milliseconds{300});
  sched.run();
  CHECK(*idle_calls == 0);
  sched.advance_time(std::chrono::milliseconds{300});
  sched.run();
  CHECK(*idle_calls == 1);
  // events keep it from idling
  event_batch batch;
  batch.events = {make(pb::common::Insert, dml_0, 1, 300)};
  batch.bytes = 10;
  self->send(w, atom::events_v, std::move(batch), caf::actor_cast<reader_actor>(self));
  sched.run();
  sched.advance_time(std::chrono::milliseconds{250});
  sched.run();
  CHECK(*idle_calls == 1);
  sched.advance_time(std::chrono::milliseconds{250}); // 500 ms after the events
  sched.run();
  CHECK(*idle_calls == 2);
  sched.advance_time(std::chrono::milliseconds{250});
  sched.run();
  CHECK(*idle_calls == 2);
  sched.advance_time(std::chrono::milliseconds{250});
  sched.run();
  CHECK(*idle_calls == 3);
  caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  sched.run();
}

TEST_CASE_FIXTURE(test::actor_fixture, "a_writer_whose_target_refuses_to_start_reports_why") {
  auto idle_calls = std::make_shared<int>(0);
  auto w = spawn_idle_writer(*this, idle_calls, "the target refuses replicated messages");
  std::string reason;
  self->receive([&](atom::failure, const std::string& why, bool) { reason = why; },
                caf::after(std::chrono::seconds{0}) >> [] {});
  CHECK(reason.find("the target refuses replicated messages") != std::string::npos);
  CHECK(*idle_calls == 0);
}

namespace {

/// The checkpoints the writer reported to its task (the fixture's actor) since the last call,
/// as "topic@offset"; credit for the reader (the same actor) is skipped.
strings reported_progress(writer_fixture& f) {
  strings result;
  bool more = true;
  while (more)
    f.self->receive(
        [&](atom::progress, std::vector<checkpoint>& cps) {
          for (const auto& cp : cps)
            result.push_back(cp.channel + "@" + std::to_string(cp.offset));
        },
        [](atom::credit, uint64_t) {},
        caf::after(std::chrono::seconds{0}) >> [&] { more = false; });
  return result;
}

} // namespace

TEST_CASE_FIXTURE(writer_fixture, "a_checkpoint_never_splits_one_source_time") {
  // An upsert: Insert at 100, then a TimeTick that lags behind it, then its Delete at 100 in
  // the next batch. A checkpoint after the Insert would let a restart replay the Delete alone.
  deliver({make(pb::common::Insert, dml_0, 1, 100), make(pb::common::TimeTick, dml_0, 2, 95)});
  CHECK(got->applied == strings{dml_0 + "@1"});
  CHECK(reported_progress(*this).empty());
  // the Delete completes time 100 only once something younger follows
  deliver({make(pb::common::Delete, dml_0, 3, 100)});
  CHECK(reported_progress(*this).empty());
  deliver({make(pb::common::Insert, dml_0, 4, 110), make(pb::common::Insert, dml_0, 5, 110)});
  CHECK(reported_progress(*this) == strings{dml_0 + "@3"});
  // a TimeTick not older than every record applied: all of it is complete
  deliver({make(pb::common::TimeTick, dml_0, 6, 110)});
  CHECK(reported_progress(*this) == strings{dml_0 + "@6"});
  // the replicate channel: each DDL is complete
  deliver({make(pb::common::TimeTick, dml_0, 7, 500), make(pb::common::TimeTick, dml_1, 1, 500),
           make(pb::common::CreateIndex, replicate, 9, 120)});
  auto last = reported_progress(*this);
  CHECK(std::find(last.begin(), last.end(), replicate + "@9") != last.end());
  CHECK(std::find(last.begin(), last.end(), dml_0 + "@7") != last.end());
}
