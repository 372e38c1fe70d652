#include "actors/reader.hpp"
#include "kafka_support.hpp"
#include "tests/support/wal_fixtures.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <doctest/doctest.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>

using namespace cdc;
using namespace std::chrono_literals;

namespace {

/// What the test sink received, shared with the test thread.
struct received {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<wal::event> events;
  std::vector<std::string> failures;
  std::vector<checkpoint> progress;
  uint64_t bytes = 0;
  /// When false the sink keeps the credit: the reader must stop at its limit.
  bool return_credit = true;
  std::vector<std::pair<reader_actor, uint64_t>> withheld;

  /// Waits until `done()` holds, at most `limit`; true when it does.
  template <class Predicate>
  bool wait_until(Predicate done, std::chrono::seconds limit = 30s) {
    std::unique_lock lock{mutex};
    return changed.wait_for(lock, limit, [&] { return done(); });
  }
};

event_sink_actor::behavior_type collecting_sink(event_sink_actor::pointer self,
                                                std::shared_ptr<received> into) {
  return {
      [=](atom::events, event_batch& batch, const reader_actor& source) {
        std::lock_guard lock{into->mutex};
        into->bytes += batch.bytes;
        for (auto& e : batch.events)
          into->events.push_back(std::move(e));
        if (into->return_credit)
          self->send(source, atom::credit_v, batch.bytes);
        else
          into->withheld.emplace_back(source, batch.bytes);
        into->changed.notify_all();
      },
      [](atom::poll) {},
  };
}

/// Stands in for the task: records what the reader reports to its owner.
task_actor::behavior_type recording_owner(task_actor::pointer, std::shared_ptr<received> into) {
  return {
      [](atom::pause) {},
      [](atom::resume) {},
      [](atom::resume, uint64_t) {},
      [](atom::position) { return std::vector<checkpoint>{}; },
      [](atom::shutdown) {},
      [=](atom::progress, std::vector<checkpoint>& cps) {
        std::lock_guard lock{into->mutex};
        for (auto& cp : cps)
          into->progress.push_back(std::move(cp));
        into->changed.notify_all();
      },
      [=](atom::failure, const std::string& why, bool) {
        std::lock_guard lock{into->mutex};
        into->failures.push_back(why);
        into->changed.notify_all();
      },
      [](atom::poll) {},
  };
}

struct reader_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::shared_ptr<received> got = std::make_shared<received>();
  event_sink_actor sink = sys.spawn(collecting_sink, got);
  task_actor owner = sys.spawn(recording_owner, got);
  std::string prefix = test::unique_prefix();
  std::vector<reader_actor> readers;

  ~reader_fixture() {
    for (auto& r : readers)
      caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(owner, caf::exit_reason::user_shutdown);
  }

  std::string topic(const std::string& suffix) { return prefix + "-" + suffix; }

  reader_actor start_reader(std::vector<source::start_point> channels,
                            uint64_t max_inflight = 64ull << 20, uint64_t max_batch = 8ull << 20) {
    reader_config rc;
    rc.kafka.brokers = test::kafka_brokers();
    rc.kafka.client_id = "reader-test-" + prefix;
    rc.channels = std::move(channels);
    rc.max_inflight_bytes = max_inflight;
    rc.max_batch_bytes = max_batch;
    auto r = sys.spawn<caf::detached>(reader, rc, sink, owner);
    readers.push_back(r);
    return r;
  }

  size_t event_count() {
    std::lock_guard lock{got->mutex};
    return got->events.size();
  }
};

/// A small valid record: a TimeTick at `ts`.
wal::raw_record time_tick(uint64_t ts) {
  wal::pb::msg::TimeTickMsg tick;
  tick.mutable_base()->set_msg_type(wal::pb::common::TimeTick);
  tick.mutable_base()->set_timestamp(ts);
  return {"", -1, {}, tick.SerializeAsString()};
}

} // namespace

TEST_CASE_FIXTURE(reader_fixture, "reader_delivers_captured_milvus_records_in_wal_order") {
  auto captured = test::load_wal_fixtures();
  REQUIRE(captured.size() > 30);
  // The captured topics, renamed under this test's prefix: by-dev-X -> <prefix>-X.
  std::map<std::string, std::vector<int>> expected_types;
  test::producer out;
  for (const auto& c : captured) {
    auto renamed = topic(c.record.topic.substr(std::string{"by-dev-"}.size()));
    out.send(renamed, c.record);
    expected_types[renamed].push_back(c.msg_type);
  }
  out.flush();
  std::vector<source::start_point> channels;
  for (const auto& [name, types] : expected_types)
    channels.push_back({name, source::start_point::from_beginning});
  start_reader(channels);

  REQUIRE(got->wait_until([&] { return got->events.size() >= captured.size(); }));
  std::lock_guard lock{got->mutex};
  CHECK(got->failures.empty());
  CHECK(got->events.size() == captured.size());
  std::map<std::string, std::vector<int>> types;
  std::map<std::string, std::vector<int64_t>> offsets;
  for (const auto& e : got->events) {
    types[e.topic].push_back(static_cast<int>(e.type));
    offsets[e.topic].push_back(e.offset);
  }
  CHECK(types == expected_types);
  for (const auto& [name, list] : offsets)
    for (size_t i = 0; i < list.size(); ++i)
      CHECK(list[i] == static_cast<int64_t>(i)); // every offset once, in order
}

TEST_CASE_FIXTURE(reader_fixture, "reader_resumes_after_its_checkpoint_without_gaps_or_repeats") {
  auto dml = topic("rootcoord-dml_0");
  test::producer out;
  for (uint64_t i = 0; i < 50; ++i)
    out.send(dml, time_tick(1000 + i));
  out.flush();
  // Offset 19 was the last one applied before a restart: the next reader starts at 20.
  start_reader({{dml, 20}});
  REQUIRE(got->wait_until([&] { return got->events.size() >= 30; }));
  // Records written after the start arrive too (the reader follows the live topic).
  for (uint64_t i = 50; i < 60; ++i)
    out.send(dml, time_tick(1000 + i));
  out.flush();
  REQUIRE(got->wait_until([&] { return got->events.size() >= 40; }));
  std::lock_guard lock{got->mutex};
  REQUIRE(got->events.size() == 40);
  for (size_t i = 0; i < 40; ++i) {
    CHECK(got->events[i].offset == static_cast<int64_t>(20 + i));
    CHECK(got->events[i].timestamp == 1020 + i);
  }
}

TEST_CASE_FIXTURE(reader_fixture, "reader_stops_at_its_credit_and_continues_when_credit_returns") {
  auto dml = topic("rootcoord-dml_1");
  test::producer out;
  // 40 records of about 10 KB each; the reader may hold 30 KB in flight, 10 KB per batch.
  for (uint64_t i = 0; i < 40; ++i) {
    auto record = time_tick(i);
    wal::pb::msg::TimeTickMsg tick;
    tick.ParseFromString(record.value);
    (*tick.mutable_base()->mutable_properties())["padding"] = std::string(10000, 'x');
    record.value = tick.SerializeAsString();
    out.send(dml, record);
  }
  out.flush();
  const uint64_t record_bytes = 10000;
  const uint64_t limit = 3 * record_bytes;
  {
    std::lock_guard lock{got->mutex};
    got->return_credit = false;
  }
  start_reader({{dml, source::start_point::from_beginning}}, limit, record_bytes);
  REQUIRE(got->wait_until([&] { return got->bytes >= limit; }));
  // The reader is out of credit now: whatever time passes, it sends nothing more. (A wait
  // for something that must not happen has no other end than a deadline.)
  CHECK_FALSE(got->wait_until([&] { return got->events.size() > 4; }, 2s));
  std::vector<std::pair<reader_actor, uint64_t>> withheld;
  {
    std::lock_guard lock{got->mutex};
    // A batch stops after the record that crosses its budget: at most one record over.
    CHECK(got->bytes <= limit + record_bytes + 100 * got->events.size());
    got->return_credit = true;
    withheld.swap(got->withheld);
  }
  for (auto& [r, bytes] : withheld)
    caf::anon_send(r, atom::credit_v, bytes);
  REQUIRE(got->wait_until([&] { return got->events.size() == 40; }));
  std::lock_guard lock{got->mutex};
  for (size_t i = 0; i < 40; ++i)
    CHECK(got->events[i].offset == static_cast<int64_t>(i));
}

TEST_CASE_FIXTURE(reader_fixture, "undecodable_record_stops_the_reader_naming_topic_and_offset") {
  auto dml = topic("rootcoord-dml_2");
  test::producer out;
  out.send(dml, time_tick(1));
  out.send(dml, time_tick(2));
  out.send(dml, {"", -1, {}, "this is not a protobuf message"});
  out.send(dml, time_tick(3));
  out.flush();
  start_reader({{dml, source::start_point::from_beginning}});
  // The events go to the sink and the failure to the owner: two mailboxes, so the failure
  // may be seen before the sink has taken the events sent ahead of it.
  REQUIRE(got->wait_until([&] { return !got->failures.empty() && got->events.size() >= 2; }));
  // The reader has stopped: no event after the bad record ever comes.
  CHECK_FALSE(got->wait_until([&] { return got->events.size() > 2; }, 1s));
  std::lock_guard lock{got->mutex};
  // Everything before the bad record is delivered, nothing after it.
  REQUIRE(got->events.size() == 2);
  CHECK(got->events[1].offset == 1);
  const auto& why = got->failures.front();
  CHECK(why.find(dml) != std::string::npos);
  CHECK(why.find("offset 2") != std::string::npos);
}

TEST_CASE_FIXTURE(reader_fixture, "reader_waits_for_a_topic_that_does_not_exist_yet") {
  auto dml = topic("rootcoord-dml_3");
  start_reader({{dml, source::start_point::from_beginning}});
  // Give the reader time to find the topic missing, then create it by writing to it.
  CHECK_FALSE(got->wait_until([&] { return !got->events.empty(); }, 2s));
  test::producer out;
  out.send(dml, time_tick(42));
  out.flush();
  REQUIRE(got->wait_until([&] { return !got->events.empty(); }));
  std::lock_guard lock{got->mutex};
  CHECK(got->failures.empty());
  CHECK(got->events.front().timestamp == 42);
}

TEST_CASE_FIXTURE(reader_fixture, "a_new_reader_starts_at_the_end_and_reports_that_start") {
  auto dml = topic("rootcoord-dml_4");
  test::producer out;
  for (uint64_t i = 0; i < 5; ++i)
    out.send(dml, time_tick(i));
  out.flush();
  start_reader({{dml, source::start_point::from_end}});
  // The start is reported as a checkpoint at the last existing record (offset 4) ...
  REQUIRE(got->wait_until([&] { return !got->progress.empty(); }));
  {
    std::lock_guard lock{got->mutex};
    CHECK(got->progress.front() == checkpoint{dml, 4, 0});
  }
  // ... and only records written after the start are read.
  out.send(dml, time_tick(100));
  out.flush();
  REQUIRE(got->wait_until([&] { return !got->events.empty(); }));
  std::lock_guard lock{got->mutex};
  CHECK(got->events.size() == 1);
  CHECK(got->events.front().offset == 5);
  CHECK(got->events.front().timestamp == 100);
}
