// Backlog benchmark (not part of a suite; exits non-zero when memory is not bounded): about
// 1 GB of vector Insert records in a fresh topic of the harness's Kafka, read from offset 0
// by the real reader actor with its default credit (64 MiB in flight) and a sink that holds
// each batch for a small delay before it returns the credit (a writer slower than Kafka).
// The process RSS is sampled during the read; the peak must stay under --limit-mb.
//
//   backlog_bench [--bytes B] [--delay-ms D] [--limit-mb M] [--rows N] [--dim D]
//                 [--channels C]         spread the records over C topics T_0..T_C-1, round
//                                        robin (Milvus writes 16 DML channels), default 1
//                 [--topic T]            read existing topics T_i (an earlier run's)
//                 [--produce-only]       produce, print the topic name, stop
//                 [--option key=value]   librdkafka option for the reader (repeatable), to
//                                        compare prefetch settings
//
// KAFKA_BROKERS must be set (tests/harness: `harness.sh start kafka`, inside `unshare -n`).
// The records are produced in a child process before anything else starts, so that the
// producer's memory never counts.

#include "bench_support.hpp"

#include <cstring>
#include <map>

using namespace cdc;
using namespace cdc::bench;

namespace {

struct options {
  uint64_t bytes = 1ull << 30;
  std::chrono::milliseconds delay{20};
  uint64_t limit_mb = 256;
  int rows = 1000;
  int dim = 768;
  std::string topic;
  size_t channels = 1;
  bool produce_only = false;
  std::map<std::string, std::string> kafka_options;
};

[[noreturn]] void usage(const char* self) {
  std::fprintf(stderr,
               "usage: %s [--bytes B] [--delay-ms D] [--limit-mb M] [--rows N] [--dim D] "
               "[--channels C] [--topic T] [--produce-only] [--option key=value]...\n",
               self);
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    auto is = [&](const char* name) { return std::strcmp(argv[i], name) == 0 && i + 1 < argc; };
    if (is("--bytes")) {
      o.bytes = std::strtoull(argv[++i], nullptr, 10);
    } else if (is("--delay-ms")) {
      o.delay = std::chrono::milliseconds{std::atoi(argv[++i])};
    } else if (is("--limit-mb")) {
      o.limit_mb = std::strtoull(argv[++i], nullptr, 10);
    } else if (is("--rows")) {
      o.rows = std::atoi(argv[++i]);
    } else if (is("--dim")) {
      o.dim = std::atoi(argv[++i]);
    } else if (is("--channels")) {
      o.channels = std::strtoull(argv[++i], nullptr, 10);
    } else if (is("--topic")) {
      o.topic = argv[++i];
    } else if (std::strcmp(argv[i], "--produce-only") == 0) {
      o.produce_only = true;
    } else if (is("--option")) {
      std::string kv = argv[++i];
      auto eq = kv.find('=');
      if (eq == std::string::npos)
        usage(argv[0]);
      o.kafka_options[kv.substr(0, eq)] = kv.substr(eq + 1);
    } else {
      usage(argv[0]);
    }
  }
  if (o.bytes == 0 || o.channels == 0 || o.rows <= 0 || o.dim <= 0 || o.delay.count() < 0)
    usage(argv[0]);
  return o;
}

} // namespace

int main(int argc, char** argv) {
  auto opt = parse(argc, argv);
  const char* brokers = std::getenv("KAFKA_BROKERS");
  if (brokers == nullptr || *brokers == '\0') {
    std::fprintf(stderr, "KAFKA_BROKERS is not set: start the harness's Kafka first\n");
    return 2;
  }
  auto total_start = clock_type::now();
  uint64_t count = 0;
  std::vector<std::string> topics;
  {
    insert_maker maker{opt.rows, opt.dim};
    auto record_bytes = maker.make(0).size();
    count = (opt.bytes + record_bytes - 1) / record_bytes;
    bool produce = opt.topic.empty();
    if (produce)
      opt.topic = fresh_topic("backlog");
    for (size_t i = 0; i < opt.channels; ++i)
      topics.push_back(opt.topic + "_" + std::to_string(i));
    if (produce) {
      std::printf("producing %llu records of %zu bytes (%.1f MB) into %s_0..%zu "
                  "(child process) ...\n",
                  static_cast<unsigned long long>(count), record_bytes, mb(count * record_bytes),
                  opt.topic.c_str(), opt.channels - 1);
      auto produced = produce_in_child(brokers, topics, count, maker);
      if (!produced.ok) {
        std::fprintf(stderr, "producing failed\n");
        return 1;
      }
      std::printf("produced in %.1f s (%.1f MB/s)\n", produced.seconds,
                  mb(produced.bytes) / produced.seconds);
    } else {
      std::printf("reading the existing topics %s_0..%zu: %llu records of %zu bytes expected\n",
                  opt.topic.c_str(), opt.channels - 1, static_cast<unsigned long long>(count),
                  record_bytes);
    }
  }
  if (opt.produce_only) {
    std::printf("topic: %s\n", opt.topic.c_str());
    return 0;
  }

  auto baseline = rss_bytes();
  rss_sampler sampler{std::chrono::milliseconds{10}};
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto stats = std::make_shared<sink_stats>();
  auto sink = sys.spawn(bench_sink, stats, opt.delay);
  auto owner = spawn_owner(sys, stats);
  reader_config rc;
  rc.kafka.brokers = brokers;
  rc.kafka.client_id = "backlog-bench";
  rc.kafka.options = opt.kafka_options;
  for (const auto& topic : topics)
    rc.channels.push_back({topic, 0});
  std::printf(
      "reader: %zu channel(s), credit %llu MiB, batch %llu MiB, sink holds each batch %lld ms",
      rc.channels.size(), static_cast<unsigned long long>(rc.max_inflight_bytes >> 20),
      static_cast<unsigned long long>(rc.max_batch_bytes >> 20),
      static_cast<long long>(opt.delay.count()));
  for (const auto& [key, value] : opt.kafka_options)
    std::printf(", %s=%s", key.c_str(), value.c_str());
  std::printf("\nRSS before the reader: %.1f MB\n", mb(baseline));
  std::printf("%8s %9s %10s %10s %10s\n", "seconds", "events", "MB read", "RSS MB", "peak MB");
  auto start = clock_type::now();
  auto r = sys.spawn<caf::detached>(reader, rc, sink, owner);
  bool complete = false;
  while (true) {
    complete = stats->wait_for(count, std::chrono::seconds{2});
    {
      std::lock_guard lock{stats->mutex};
      std::printf("%8.1f %9llu %10.1f %10.1f %10.1f\n", seconds_since(start),
                  static_cast<unsigned long long>(stats->events), mb(stats->bytes),
                  mb(sampler.current()), mb(sampler.peak()));
      std::fflush(stdout);
      if (complete || !stats->failures.empty() || seconds_since(start) > 900)
        break;
    }
  }
  auto read_seconds = seconds_since(start);
  caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(owner, caf::exit_reason::user_shutdown);
  sampler.stop();

  std::lock_guard lock{stats->mutex};
  auto read_mb = mb(stats->bytes);
  std::printf("\nread %llu of %llu records, %.1f MB in %.1f s (%.1f MB/s, %.1f records/s), "
              "%llu batches, %llu out of order\n",
              static_cast<unsigned long long>(stats->events),
              static_cast<unsigned long long>(count), read_mb, read_seconds, read_mb / read_seconds,
              static_cast<double>(stats->events) / read_seconds,
              static_cast<unsigned long long>(stats->batches),
              static_cast<unsigned long long>(stats->out_of_order));
  std::printf("sink held at most %.1f MB (credit not yet returned)\n", mb(stats->held_peak));
  std::printf("RSS: %.1f MB before the reader, peak %.1f MB sampled every 10 ms (%llu samples), "
              "peak %.1f MB by getrusage; limit %llu MB\n",
              mb(baseline), mb(sampler.peak()), static_cast<unsigned long long>(sampler.samples()),
              mb(peak_rss_bytes()), static_cast<unsigned long long>(opt.limit_mb));
  std::printf("total time (produce + read): %.1f s\n", seconds_since(total_start));
  int status = 0;
  if (!stats->failures.empty()) {
    std::printf("FAIL: the reader failed: %s\n", stats->failures.front().c_str());
    status = 1;
  }
  if (!complete || stats->out_of_order != 0) {
    std::printf("FAIL: not every record arrived once, in order\n");
    status = 1;
  }
  if (peak_rss_bytes() > opt.limit_mb * 1000000) {
    std::printf("FAIL: peak RSS above %llu MB\n", static_cast<unsigned long long>(opt.limit_mb));
    status = 1;
  }
  if (status == 0)
    std::printf("OK: memory bounded\n");
  return status;
}
