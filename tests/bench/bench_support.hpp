#pragma once

// Shared parts of the reader benchmarks (tests/bench): Insert records of float vectors built
// with the protos, a producer that runs in a child process (so that its memory never counts
// in the reader's figures), RSS sampling, and a sink and an owner for the reader actor.

#include "actors/reader.hpp"
#include "tests/unit/wal_records.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <librdkafka/rdkafkacpp.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace cdc::bench {

namespace pb = ::milvus::proto;
using clock_type = std::chrono::steady_clock;

inline double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

/// A hybrid timestamp (physical ms << 18 | logical) of 2026-11-25 plus `ms`.
inline uint64_t hybrid_ts(uint64_t ms) {
  return (uint64_t{1795564800000} + ms) << 18;
}

/// Insert records of `rows` rows: an int64 primary key `pk` (seq * rows + i) and a
/// `dim`-dimensional float vector `vec`. The sequence number is in `base.msgID` and in the
/// timestamp (hybrid_ts(seq)), so that a reader's output can be checked record by record.
/// The vectors are random; each record changes a few of them so no two are equal.
class insert_maker {
public:
  insert_maker(int rows, int dim) : rows_(rows), dim_(dim) {
    auto vec = test::column(pb::schema::FloatVector, "vec", 101);
    vec.mutable_vectors()->set_dim(dim);
    auto* data = vec.mutable_vectors()->mutable_float_vector()->mutable_data();
    data->Resize(rows * dim, 0.0f);
    std::mt19937 gen{42};
    std::uniform_real_distribution<float> uniform{-1.0f, 1.0f};
    for (auto& v : *data)
      v = uniform(gen);
    std::vector<int64_t> pks(static_cast<size_t>(rows), 0);
    template_ =
        test::make_insert(449, "by-dev-rootcoord-dml_0_449v0", static_cast<size_t>(rows),
                          hybrid_ts(0), {test::int64_column("pk", 100, pks), std::move(vec)});
  }

  int rows() const { return rows_; }
  int dim() const { return dim_; }

  /// The record with sequence number `seq`, serialized.
  std::string make(uint64_t seq) {
    auto ts = hybrid_ts(seq);
    template_.mutable_base()->set_msgid(static_cast<int64_t>(seq));
    template_.mutable_base()->set_timestamp(ts);
    for (auto& t : *template_.mutable_timestamps())
      t = ts;
    auto* pks = template_.mutable_fields_data(0)->mutable_scalars()->mutable_long_data();
    for (int i = 0; i < rows_; ++i)
      pks->set_data(i, static_cast<int64_t>(seq) * rows_ + i);
    auto* floats = template_.mutable_fields_data(1)->mutable_vectors()->mutable_float_vector();
    for (int i = 0; i < rows_; ++i)
      floats->set_data(i * dim_, static_cast<float>(seq % 1000) / 1000.0f);
    return template_.SerializeAsString();
  }

private:
  int rows_;
  int dim_;
  pb::msg::InsertRequest template_;
};

// -- memory ---------------------------------------------------------------------------------

/// Resident set size of this process now, in bytes (/proc/self/statm).
inline uint64_t rss_bytes() {
  std::ifstream statm{"/proc/self/statm"};
  uint64_t size = 0;
  uint64_t resident = 0;
  statm >> size >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

/// Peak resident set size of this process so far (getrusage), in bytes.
inline uint64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;
}

/// CPU time of the calling thread, of this whole process, of its waited-for children.
inline double cpu_seconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}
inline double thread_cpu_seconds() {
  return cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
}
inline double process_cpu_seconds() {
  return cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
}
inline double children_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_CHILDREN, &usage);
  auto tv = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return tv(usage.ru_utime) + tv(usage.ru_stime);
}

inline double mb(uint64_t bytes) {
  return static_cast<double>(bytes) / 1e6;
}

/// Samples the RSS every `interval` on a thread of its own and keeps the peak.
class rss_sampler {
public:
  explicit rss_sampler(std::chrono::milliseconds interval) {
    thread_ = std::thread{[this, interval] {
      while (!stop_.load()) {
        auto now = rss_bytes();
        auto peak = peak_.load();
        while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
        }
        current_.store(now);
        samples_.fetch_add(1);
        std::this_thread::sleep_for(interval);
      }
    }};
  }
  ~rss_sampler() { stop(); }
  rss_sampler(const rss_sampler&) = delete;
  rss_sampler& operator=(const rss_sampler&) = delete;

  void stop() {
    stop_.store(true);
    if (thread_.joinable())
      thread_.join();
  }
  uint64_t peak() const { return peak_.load(); }
  uint64_t current() const { return current_.load(); }
  uint64_t samples() const { return samples_.load(); }

private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> peak_{0};
  std::atomic<uint64_t> current_{0};
  std::atomic<uint64_t> samples_{0};
  std::thread thread_;
};

// -- producing ------------------------------------------------------------------------------

struct produce_result {
  bool ok = false;
  uint64_t records = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  /// CPU time of the producing child.
  double cpu_seconds = 0;
};

/// Counts the records the broker refused.
class delivery_counter : public RdKafka::DeliveryReportCb {
public:
  void dr_cb(RdKafka::Message& message) override {
    if (message.err() != RdKafka::ERR_NO_ERROR) {
      if (failed == 0)
        std::fprintf(stderr, "produce: %s\n", message.errstr().c_str());
      ++failed;
    }
  }
  uint64_t failed = 0;
};

/// Produces `count` records of `maker` into partition 0 of `topics`, round robin: record i
/// goes to topics[i % n] with sequence number i / n (so the sequence number of a record is
/// its offset in its topic). Every record is acknowledged by the broker. Runs in a child
/// process: call it before this process starts any thread.
inline produce_result produce_in_child(const std::string& brokers,
                                       const std::vector<std::string>& topics, uint64_t count,
                                       insert_maker& maker) {
  produce_result result;
  result.records = count;
  result.bytes = count * maker.make(0).size();
  std::fflush(nullptr);
  auto start = clock_type::now();
  auto cpu_start = children_cpu_seconds();
  pid_t child = fork();
  if (child < 0) {
    std::perror("fork");
    return result;
  }
  if (child == 0) {
    int status = 1;
    {
      delivery_counter reports;
      std::unique_ptr<RdKafka::Conf> conf{RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL)};
      std::string err;
      conf->set("bootstrap.servers", brokers, err);
      conf->set("message.max.bytes", "10485760", err);
      conf->set("linger.ms", "5", err);
      conf->set("queue.buffering.max.kbytes", "262144", err);
      conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&reports), err);
      std::unique_ptr<RdKafka::Producer> producer{RdKafka::Producer::create(conf.get(), err)};
      if (!producer) {
        std::fprintf(stderr, "cannot create producer: %s\n", err.c_str());
        std::_Exit(1);
      }
      for (uint64_t i = 0; i < count; ++i) {
        auto value = maker.make(i / topics.size());
        const auto& topic = topics[i % topics.size()];
        while (true) {
          auto code = producer->produce(topic, 0, RdKafka::Producer::RK_MSG_COPY, value.data(),
                                        value.size(), nullptr, 0, 0, nullptr);
          if (code == RdKafka::ERR_NO_ERROR)
            break;
          if (code != RdKafka::ERR__QUEUE_FULL) {
            std::fprintf(stderr, "produce: %s\n", RdKafka::err2str(code).c_str());
            std::_Exit(1);
          }
          producer->poll(100);
        }
        producer->poll(0);
      }
      if (producer->flush(300000) == RdKafka::ERR_NO_ERROR && reports.failed == 0)
        status = 0;
    }
    std::fflush(nullptr);
    std::_Exit(status);
  }
  int status = 0;
  waitpid(child, &status, 0);
  result.seconds = seconds_since(start);
  result.cpu_seconds = children_cpu_seconds() - cpu_start;
  result.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return result;
}

/// A topic name no earlier run used.
inline std::string fresh_topic(const std::string& what) {
  std::random_device rd;
  return "bench-" + what + "-" + std::to_string(rd() % 1000000000);
}

// -- the reader's sink and owner -------------------------------------------------------------

/// What the sink saw, shared with the main thread.
struct sink_stats {
  std::mutex mutex;
  std::condition_variable changed;
  uint64_t events = 0;
  uint64_t bytes = 0;
  uint64_t batches = 0;
  /// Events whose offset or sequence number (base.msgID) was not the next one expected.
  uint64_t out_of_order = 0;
  /// The next offset expected per topic (every topic starts at 0).
  std::map<std::string, int64_t> next_offset;
  clock_type::time_point first_event;
  clock_type::time_point last_event;
  /// Bytes the sink held (credit not yet returned), at most.
  uint64_t held_peak = 0;
  std::vector<std::string> failures;

  /// Waits until `events >= n` or a failure, at most `limit`; true when all arrived.
  bool wait_for(uint64_t n, std::chrono::seconds limit) {
    std::unique_lock lock{mutex};
    changed.wait_for(lock, limit, [&] { return events >= n || !failures.empty(); });
    return events >= n;
  }
};

struct sink_state {
  static constexpr const char* name = "bench-sink";
  std::shared_ptr<sink_stats> stats;
  /// How long the sink holds each batch before it returns its credit; zero returns at once.
  std::chrono::milliseconds delay{0};
  /// Batches held, oldest first; one is released per `delay` (a writer that takes `delay`
  /// per batch), so the reader runs into its credit limit when Kafka is faster.
  std::deque<std::pair<event_batch, reader_actor>> held;
  uint64_t held_bytes = 0;
  bool timer = false;
};

/// Counts and checks events (offsets from 0, base.msgID equal to the offset), then returns the
/// credit at once or after `delay` per batch.
inline event_sink_actor::behavior_type
bench_sink(event_sink_actor::stateful_pointer<sink_state> self, std::shared_ptr<sink_stats> stats,
           std::chrono::milliseconds delay) {
  self->state.stats = std::move(stats);
  self->state.delay = delay;
  return {
      [=](atom::events, event_batch& batch, const reader_actor& source) {
        auto& st = self->state;
        {
          std::lock_guard lock{st.stats->mutex};
          auto now = clock_type::now();
          if (st.stats->events == 0)
            st.stats->first_event = now;
          st.stats->last_event = now;
          for (const auto& e : batch.events) {
            auto* insert = e.as<pb::msg::InsertRequest>();
            auto& next = st.stats->next_offset[e.topic];
            if (e.offset != next || insert == nullptr || insert->base().msgid() != e.offset)
              ++st.stats->out_of_order;
            next = e.offset + 1;
          }
          st.stats->events += batch.events.size();
          st.stats->bytes += batch.bytes;
          ++st.stats->batches;
          st.held_bytes += batch.bytes;
          st.stats->held_peak = std::max(st.stats->held_peak, st.held_bytes);
        }
        st.stats->changed.notify_all();
        if (st.delay.count() == 0) {
          st.held_bytes -= batch.bytes;
          self->send(source, atom::credit_v, batch.bytes);
          return;
        }
        st.held.emplace_back(std::move(batch), source);
        if (!st.timer) {
          st.timer = true;
          self->delayed_send(self, st.delay, atom::poll_v);
        }
      },
      [=](atom::poll) {
        auto& st = self->state;
        if (st.held.empty()) {
          st.timer = false;
          return;
        }
        auto [batch, source] = std::move(st.held.front());
        st.held.pop_front();
        st.held_bytes -= batch.bytes;
        self->send(source, atom::credit_v, batch.bytes);
        // The events die here, with the credit returned.
        batch.events.clear();
        if (st.held.empty())
          st.timer = false;
        else
          self->delayed_send(self, st.delay, atom::poll_v);
      },
  };
}

/// Stands in for the task: records the reader's failures and drops everything else. A
/// dynamically typed actor, cast to task_actor by `spawn_owner`, so that it does not depend on
/// the rest of the task's interface.
inline caf::behavior bench_owner(caf::event_based_actor* self, std::shared_ptr<sink_stats> stats) {
  self->set_default_handler(caf::drop);
  return {
      [](atom::progress, const std::vector<checkpoint>&) {},
      [=](atom::failure, const std::string& why, bool) {
        std::lock_guard lock{stats->mutex};
        stats->failures.push_back(why);
        stats->changed.notify_all();
      },
  };
}

inline task_actor spawn_owner(caf::actor_system& sys, std::shared_ptr<sink_stats> stats) {
  return caf::actor_cast<task_actor>(sys.spawn(bench_owner, std::move(stats)));
}

} // namespace cdc::bench
