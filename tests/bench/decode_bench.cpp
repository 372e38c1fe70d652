// Benchmark (not a test): WAL decode throughput on one core, and the Kafka -> decoded-event
// rate through the real reader actor when KAFKA_BROKERS is set (the harness's broker, in its
// loopback-only network namespace).
//
//   decode_bench [--rows N] [--dim D] [--seconds S] [--kafka-records N]
//
// Records: Insert of N rows (default 1 000) with an int64 primary key and a D-dimensional
// float vector (default 768), built with the protos. Decoding is wal::decode followed by
// wal::validate_insert, on this thread only, for S seconds of its CPU time (default 3); its
// rates are per CPU second of that thread (the one-core figure, whatever else the machine
// runs). The Kafka part produces the records into a fresh topic first (in a child process),
// then times the reader actor from offset 0 to the last event, with a sink that returns
// credit at once; its rates are per wall second, its CPU time that of the whole process
// (reader, librdkafka's threads, sink). MB are 10^6 bytes of record values.

#include "bench_support.hpp"

#include <cstring>

using namespace cdc;
using namespace cdc::bench;

namespace {

struct options {
  int rows = 1000;
  int dim = 768;
  double seconds = 3.0;
  uint64_t kafka_records = 300;
};

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    auto is = [&](const char* name) { return std::strcmp(argv[i], name) == 0 && i + 1 < argc; };
    if (is("--rows"))
      o.rows = std::atoi(argv[++i]);
    else if (is("--dim"))
      o.dim = std::atoi(argv[++i]);
    else if (is("--seconds"))
      o.seconds = std::atof(argv[++i]);
    else if (is("--kafka-records"))
      o.kafka_records = std::strtoull(argv[++i], nullptr, 10);
    else {
      std::fprintf(stderr, "usage: %s [--rows N] [--dim D] [--seconds S] [--kafka-records N]\n",
                   argv[0]);
      std::exit(2);
    }
  }
  if (o.rows <= 0 || o.dim <= 0 || o.seconds <= 0 || o.kafka_records == 0) {
    std::fprintf(stderr, "rows, dim, seconds and kafka-records must be positive\n");
    std::exit(2);
  }
  return o;
}

struct row {
  std::string what;
  uint64_t records = 0;
  uint64_t bytes = 0;
  double wall = 0;
  double cpu = 0;
  /// Rates per CPU second (one thread: the one-core figure) instead of per wall second.
  bool per_cpu = false;
};

void print_table(const std::vector<row>& rows) {
  std::printf("\n%-46s %8s %9s %8s %8s %10s %8s  %s\n", "stage", "records", "MB", "wall s", "CPU s",
              "records/s", "MB/s", "rates per");
  for (const auto& r : rows) {
    auto time = r.per_cpu ? r.cpu : r.wall;
    std::printf("%-46s %8llu %9.1f %8.3f %8.3f %10.1f %8.1f  %s\n", r.what.c_str(),
                static_cast<unsigned long long>(r.records), mb(r.bytes), r.wall, r.cpu,
                static_cast<double>(r.records) / time, mb(r.bytes) / time,
                r.per_cpu ? "CPU second of one thread" : "wall second");
  }
}

/// Decodes `records` round robin on this thread until it has used `seconds` of CPU; `work`
/// returns false on error.
template <class Work>
row measure(const std::string& what, const std::vector<wal::raw_record>& records, double seconds,
            Work work) {
  // One round first: page in, warm the allocator.
  for (const auto& r : records)
    if (!work(r))
      std::exit(1);
  row result{what, 0, 0, 0, 0, true};
  auto start = clock_type::now();
  auto cpu_start = thread_cpu_seconds();
  do {
    for (const auto& r : records) {
      if (!work(r))
        std::exit(1);
      ++result.records;
      result.bytes += r.value.size();
    }
  } while (thread_cpu_seconds() - cpu_start < seconds);
  result.wall = seconds_since(start);
  result.cpu = thread_cpu_seconds() - cpu_start;
  return result;
}

} // namespace

int main(int argc, char** argv) {
  auto opt = parse(argc, argv);
  insert_maker maker{opt.rows, opt.dim};
  std::printf("record: Insert of %d rows, int64 pk + %d-d float vector, %zu bytes\n", opt.rows,
              opt.dim, maker.make(0).size());

  // -- decoding on this thread ----------------------------------------------------------------
  // Eight different records (about 25 MB at the defaults), so that the loop does not run on
  // one record that stays in the CPU's cache.
  std::vector<wal::raw_record> records;
  for (uint64_t seq = 0; seq < 8; ++seq)
    records.push_back({"by-dev-rootcoord-dml_0", static_cast<int64_t>(seq), {}, maker.make(seq)});
  std::vector<row> table;
  table.push_back(measure("protobuf parse only (InsertRequest)", records, opt.seconds,
                          [](const wal::raw_record& r) {
                            pb::msg::InsertRequest insert;
                            return insert.ParseFromString(r.value);
                          }));
  table.push_back(measure(
      "wal::decode + wal::validate_insert", records, opt.seconds, [&](const wal::raw_record& r) {
        auto ev = wal::decode(r);
        if (!ev) {
          std::fprintf(stderr, "decode: %s\n", message_of(ev.error()).c_str());
          return false;
        }
        auto* insert = ev->as<pb::msg::InsertRequest>();
        if (insert == nullptr || wal::row_count(*insert) != static_cast<size_t>(opt.rows)) {
          std::fprintf(stderr, "decode: not the insert that was written\n");
          return false;
        }
        if (auto err = wal::validate_insert(*insert)) {
          std::fprintf(stderr, "validate: %s\n", message_of(err).c_str());
          return false;
        }
        return true;
      }));
  records.clear();
  auto decode_peak = peak_rss_bytes();

  // -- Kafka -> reader actor -> sink -----------------------------------------------------------
  const char* brokers = std::getenv("KAFKA_BROKERS");
  int status = 0;
  if (brokers == nullptr || *brokers == '\0') {
    std::printf("KAFKA_BROKERS is not set: Kafka -> decoded-event rate not measured\n");
  } else {
    auto topic = fresh_topic("decode");
    std::printf("producing %llu records into %s at %s (child process) ...\n",
                static_cast<unsigned long long>(opt.kafka_records), topic.c_str(), brokers);
    auto produced = produce_in_child(brokers, {topic}, opt.kafka_records, maker);
    if (!produced.ok) {
      std::fprintf(stderr, "producing failed\n");
      return 1;
    }
    table.push_back({"produce (librdkafka, acks=all, child process)", produced.records,
                     produced.bytes, produced.seconds, produced.cpu_seconds, false});

    caf::actor_system_config cfg;
    caf::actor_system sys{cfg};
    auto stats = std::make_shared<sink_stats>();
    auto sink = sys.spawn(bench_sink, stats, std::chrono::milliseconds{0});
    auto owner = spawn_owner(sys, stats);
    reader_config rc;
    rc.kafka.brokers = brokers;
    rc.kafka.client_id = "decode-bench";
    rc.channels = {{topic, 0}};
    auto start = clock_type::now();
    auto cpu_start = process_cpu_seconds();
    auto reader_actor_handle = sys.spawn<caf::detached>(reader, rc, sink, owner);
    bool complete = stats->wait_for(opt.kafka_records, std::chrono::seconds{600});
    auto cpu = process_cpu_seconds() - cpu_start;
    caf::anon_send_exit(reader_actor_handle, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(owner, caf::exit_reason::user_shutdown);
    std::lock_guard lock{stats->mutex};
    if (!complete || !stats->failures.empty() || stats->out_of_order != 0) {
      std::fprintf(stderr, "reader: %llu of %llu events, %llu out of order%s%s\n",
                   static_cast<unsigned long long>(stats->events),
                   static_cast<unsigned long long>(opt.kafka_records),
                   static_cast<unsigned long long>(stats->out_of_order),
                   stats->failures.empty() ? "" : ", failure: ",
                   stats->failures.empty() ? "" : stats->failures.front().c_str());
      status = 1;
    } else {
      auto total = std::chrono::duration<double>(stats->last_event - start).count();
      auto first = std::chrono::duration<double>(stats->first_event - start).count();
      table.push_back({"kafka -> reader actor -> sink (offset 0..last)", stats->events,
                       stats->bytes, total, cpu, false});
      std::printf("reader: first event after %.3f s, %llu batches, default credit 64 MiB\n", first,
                  static_cast<unsigned long long>(stats->batches));
    }
  }
  print_table(table);
  std::printf("\npeak RSS (getrusage): %.1f MB after decoding, %.1f MB at the end\n",
              mb(decode_peak), mb(peak_rss_bytes()));
  return status;
}
