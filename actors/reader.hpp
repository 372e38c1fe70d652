#pragma once

#include "actors/actors.hpp"
#include "actors/reader/kafka_reader.hpp"

#include <chrono>
#include <map>
#include <memory>

namespace cdc {

/// What a reader reads and how much it may hold in flight.
struct reader_config {
  source::kafka_settings kafka;
  std::vector<source::start_point> channels;
  /// Bytes of events sent to the sink and not yet returned as credit.
  uint64_t max_inflight_bytes = 64ull << 20;
  /// Bytes taken in one poll (one batch), at most.
  uint64_t max_batch_bytes = 8ull << 20;
  /// How long one poll waits for the first record; also the longest a credit message waits.
  std::chrono::milliseconds poll_timeout{100};
  /// Collections whose Inserts and Deletes are not decoded (the writer fills it); optional.
  std::shared_ptr<const wal::collection_filter> skip;
};

struct reader_state {
  static constexpr const char* name = "reader";
  reader_config cfg;
  std::unique_ptr<source::kafka_reader> kafka;
  event_sink_actor sink;
  task_actor owner;
  /// Bytes that may still be sent before the sink returns some.
  int64_t credit = 0;
  /// No poll is scheduled: waiting for credit.
  bool stalled = false;
  /// The channels are assigned (all start points resolved).
  bool assigned = false;
  /// Transient Kafka conditions and when each was last logged: a broker outage or a topic
  /// that does not exist yet (Milvus creates them lazily) is said once, not every second.
  std::map<std::string, std::chrono::steady_clock::time_point> conditions;
  /// A condition was logged since the last records: say when reading goes on.
  bool interrupted = false;
};

/// Reads `cfg.channels` and sends decoded events to `sink`. Start points "from the end" are
/// resolved to offsets first and reported to `owner` as checkpoints, so that a restart
/// continues where this start began. A record it cannot decode stops it and is reported to
/// `owner`. Spawn it detached.
reader_actor::behavior_type reader(reader_actor::stateful_pointer<reader_state> self,
                                   reader_config cfg, event_sink_actor sink, task_actor owner);

} // namespace cdc
