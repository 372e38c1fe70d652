// The reader against broker faults: the harness's Kafka is stopped and started again while a
// reader is in the middle of a topic (tests/harness/harness.sh stop kafka / start kafka; the
// harness keeps the port and the data). CDC_HARNESS_DIR and KAFKA_BROKERS must be set.

#include "actors/reader.hpp"
#include "actors/reader/kafka_reader.hpp"
#include "kafka_support.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <doctest/doctest.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace cdc;
using namespace std::chrono_literals;

namespace {

/// The harness command, next to the fixtures of this source tree.
std::string harness_command(const std::string& args) {
  const char* dir = std::getenv("CDC_HARNESS_DIR");
  if (dir == nullptr || *dir == '\0')
    throw std::runtime_error("CDC_HARNESS_DIR is not set: run the integration tests with the "
                             "harness (tests/run.sh)");
  return std::string{CDC_FIXTURES_DIR} + "/../harness/harness.sh " + args;
}

int harness(const std::string& args) {
  return std::system(harness_command(args).c_str());
}

/// Starts the broker again whatever happens in the test, so that the tests after it have one.
struct broker_guard {
  bool stopped = false;
  ~broker_guard() {
    if (stopped)
      harness("start kafka");
  }
};

/// What the sink received; credit is returned only while `return_credit` holds.
struct faults_received {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<wal::event> events;
  std::vector<std::string> failures;
  bool return_credit = true;
  std::vector<std::pair<reader_actor, uint64_t>> withheld;

  template <class Predicate>
  bool wait_until(Predicate done, std::chrono::seconds limit) {
    std::unique_lock lock{mutex};
    return changed.wait_for(lock, limit, [&] { return done(); });
  }

  size_t count() {
    std::lock_guard lock{mutex};
    return events.size();
  }

  /// Keeps the credit of the batches from now on: the reader stops at its limit.
  void hold() {
    std::lock_guard lock{mutex};
    return_credit = false;
  }

  /// Returns the credit held back and every later one at once.
  void release() {
    std::vector<std::pair<reader_actor, uint64_t>> held;
    {
      std::lock_guard lock{mutex};
      return_credit = true;
      held.swap(withheld);
    }
    for (auto& [r, bytes] : held)
      caf::anon_send(r, atom::credit_v, bytes);
  }
};

event_sink_actor::behavior_type faults_sink(event_sink_actor::pointer self,
                                            std::shared_ptr<faults_received> into) {
  return {
      [=](atom::events, event_batch& batch, const reader_actor& source) {
        std::lock_guard lock{into->mutex};
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

/// Stands in for the task: records the reader's failures and drops everything else (a
/// dynamically typed actor cast to task_actor, so that it does not depend on the rest of the
/// task's interface).
caf::behavior faults_owner(caf::event_based_actor* self, std::shared_ptr<faults_received> into) {
  self->set_default_handler(caf::drop);
  return {
      [](atom::progress, const std::vector<checkpoint>&) {},
      [=](atom::failure, const std::string& why, bool) {
        std::lock_guard lock{into->mutex};
        into->failures.push_back(why);
        into->changed.notify_all();
      },
  };
}

/// Record `seq`: a TimeTick of about 20 KB whose msgID is `seq` and timestamp 1000 + seq.
wal::raw_record numbered(uint64_t seq) {
  wal::pb::msg::TimeTickMsg tick;
  tick.mutable_base()->set_msg_type(wal::pb::common::TimeTick);
  tick.mutable_base()->set_msgid(static_cast<int64_t>(seq));
  tick.mutable_base()->set_timestamp(1000 + seq);
  (*tick.mutable_base()->mutable_properties())["padding"] = std::string(20000, 'x');
  return {"", -1, {}, tick.SerializeAsString()};
}

} // namespace

TEST_CASE("reader_reconnects_after_a_broker_restart_without_gaps_or_repeats") {
  const uint64_t before = 300; // written before the reader starts
  const uint64_t after = 100;  // written after the broker is back
  const auto topic = test::unique_prefix() + "-rootcoord-dml_0";
  {
    test::producer out;
    for (uint64_t seq = 0; seq < before; ++seq)
      out.send(topic, numbered(seq));
    out.flush();
  }

  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto got = std::make_shared<faults_received>();
  auto sink = sys.spawn(faults_sink, got);
  auto owner = caf::actor_cast<task_actor>(sys.spawn(faults_owner, got));
  reader_config rc;
  rc.kafka.brokers = test::kafka_brokers();
  rc.kafka.client_id = "reader-faults-" + topic;
  // Prefetch little, so that most of the topic is still on the broker when it stops: the
  // reader must fetch it again from the right offset after the restart.
  rc.kafka.options = {{"queued.max.messages.kbytes", "64"}, {"fetch.message.max.bytes", "65536"}};
  rc.channels = {{topic, 0}};
  rc.max_inflight_bytes = 200000; // about 10 records
  rc.max_batch_bytes = 60000;
  got->hold();
  auto r = sys.spawn<caf::detached>(reader, rc, sink, owner);

  // The reader stops at its credit (about 10 records); with credit it reads on, and without
  // it it stops again, with most of the topic still on the broker.
  REQUIRE(got->wait_until([&] { return got->events.size() >= 5; }, 30s));
  got->release();
  REQUIRE(got->wait_until([&] { return got->events.size() >= 50; }, 30s));
  got->hold();

  broker_guard guard;
  guard.stopped = true;
  REQUIRE(harness("stop kafka") == 0);
  auto at_stop = got->count();
  INFO("events when the broker had stopped: " << at_stop);
  CHECK(at_stop < 100);
  // The broker is down and the reader gets its credit back: what it prefetched drains, then
  // nothing more arrives, and it does not give up.
  got->release();
  std::this_thread::sleep_for(3s);
  auto while_down = got->count();
  INFO("events after 3 s without a broker: " << while_down);
  CHECK(while_down < 100);
  {
    std::lock_guard lock{got->mutex};
    CHECK(got->failures.empty());
  }

  REQUIRE(harness("start kafka") == 0);
  guard.stopped = false;
  auto restarted = std::chrono::steady_clock::now();
  // The reader reconnects by itself and reads the rest of the backlog ...
  REQUIRE(got->wait_until([&] { return got->events.size() > while_down || !got->failures.empty(); },
                          120s));
  auto reconnected = std::chrono::steady_clock::now() - restarted;
  REQUIRE(got->wait_until([&] { return got->events.size() >= before || !got->failures.empty(); },
                          120s));
  MESSAGE("events: " << at_stop << " when the broker had stopped, " << while_down
                     << " after 3 s without it; first event "
                     << std::chrono::duration_cast<std::chrono::milliseconds>(reconnected).count()
                     << " ms after the broker was ready again");
  // ... and what is written after the restart.
  {
    test::producer out;
    for (uint64_t seq = before; seq < before + after; ++seq)
      out.send(topic, numbered(seq));
    out.flush();
  }
  REQUIRE(got->wait_until(
      [&] { return got->events.size() >= before + after || !got->failures.empty(); }, 60s));
  // Nothing repeated late either.
  CHECK_FALSE(got->wait_until([&] { return got->events.size() > before + after; }, 1s));
  caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(owner, caf::exit_reason::user_shutdown);

  std::lock_guard lock{got->mutex};
  CHECK(got->failures.empty());
  REQUIRE(got->events.size() == before + after);
  size_t mismatches = 0;
  for (size_t i = 0; i < got->events.size(); ++i) {
    const auto& e = got->events[i];
    auto* tick = e.as<wal::pb::msg::TimeTickMsg>();
    bool ok = e.topic == topic && e.offset == static_cast<int64_t>(i) && tick != nullptr &&
              tick->base().msgid() == static_cast<int64_t>(i) && e.timestamp == 1000 + i;
    if (!ok && mismatches++ < 5)
      FAIL_CHECK("event " << i << ": offset " << e.offset << ", msgID "
                          << (tick ? tick->base().msgid() : -1) << ", timestamp " << e.timestamp);
  }
  CHECK(mismatches == 0);
}

TEST_CASE("kafka_reader_reports_a_broker_outage_and_reads_on_after_it") {
  source::kafka_settings settings;
  settings.brokers = test::kafka_brokers();
  settings.client_id = "faults-outage-report";
  auto kafka = source::kafka_reader::open(settings);
  REQUIRE(kafka);
  const auto topic = test::unique_prefix() + "-outage";
  {
    test::producer out;
    out.send(topic, numbered(0));
    out.flush();
  }
  REQUIRE_FALSE((*kafka)->assign({{topic, source::start_point::from_beginning}}));
  auto poll_until = [&](auto done, std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      auto polled = (*kafka)->poll(200ms, 100, 1 << 20);
      if (done(polled))
        return true;
    }
    return false;
  };
  REQUIRE(poll_until([](const source::poll_result& r) { return !r.records.empty(); }, 30s));

  broker_guard guard;
  guard.stopped = true;
  REQUIRE(harness("stop kafka") == 0);
  std::string reported;
  // librdkafka retries by itself; what it meets is reported, not swallowed.
  CHECK(poll_until(
      [&](const source::poll_result& r) {
        if (r.transient_errors.empty())
          return false;
        reported = r.transient_errors.front();
        return true;
      },
      30s));
  MESSAGE("reported while the broker is down: " << reported);
  // "Local: Broker transport failure: 127.0.0.1:...", or "Local: All broker connections are
  // down", whichever librdkafka meets first.
  CHECK(reported.find("roker") != std::string::npos);

  REQUIRE(harness("start kafka") == 0);
  guard.stopped = false;
  {
    test::producer out;
    out.send(topic, numbered(1));
    out.flush();
  }
  // Reads on by itself: the record written after the outage, at the next offset.
  int64_t offset = -1;
  CHECK(poll_until(
      [&](const source::poll_result& r) {
        for (const auto& record : r.records)
          offset = record.offset;
        return offset >= 0;
      },
      120s));
  CHECK(offset == 1);
}
