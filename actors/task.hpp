#pragma once

#include "actors/actors.hpp"
#include "actors/reader/kafka_reader.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>

namespace cdc {

class store;

namespace metrics {
class registry;
}

/// A writer as its task holds it.
struct writer_handle {
  event_sink_actor actor;
  /// Thread-safe: makes the writer give up its calls in flight and its retry waits (a pause,
  /// a delete, a restart), so that it stops within moments whatever the target does.
  std::function<void()> cancel;
};

/// What every task's pipeline needs from the server's configuration.
struct pipeline_config {
  source::kafka_settings kafka;
  /// Topics: <cluster_prefix>-rootcoord-dml_<0..dml_channel_num-1> and the replicate channel.
  std::string cluster_prefix = "by-dev";
  int dml_channel_num = 16;
  std::string replicate_channel = "by-dev-replicate-msg";
  /// Bytes of events in flight between reader and writer, and per reader batch.
  uint64_t max_inflight_bytes = 64ull << 20;
  uint64_t max_batch_bytes = 8ull << 20;
  /// Spawns the writer of a task (it reports to the task). The writer names in `skip` the
  /// collections the task does not replicate, and the reader then skips their rows without
  /// decoding them. Without a spawn_writer a task has no pipeline: Running then only means
  /// armed (the control-plane tests use this).
  std::function<writer_handle(caf::local_actor* parent, const task_record& task, task_actor owner,
                              std::shared_ptr<wal::collection_filter> skip)>
      spawn_writer;
  /// Backoff of the pipeline's restarts after a passing failure (a server of the chain
  /// down): the first after `restart_delay`, then twice as long each time, at most
  /// `max_restart_delay`; back to the first once a pipeline ran 2 * max_restart_delay.
  std::chrono::milliseconds restart_delay{1000};
  std::chrono::milliseconds max_restart_delay{30000};
  /// Restarts in a row (each pipeline failing within 2 * max_restart_delay of its start)
  /// before the task pauses instead; 0 = no limit.
  int max_restarts = 0;
  /// Where tasks publish lag and positions; optional.
  std::shared_ptr<metrics::registry> metrics;
};

/// State of a task actor: the task as stored, its checkpoints, and its pipeline.
struct task_actor_state {
  static constexpr const char* name = "task";
  task_record record;
  std::shared_ptr<store> db;
  supervisor_actor supervisor;
  std::shared_ptr<const pipeline_config> pipeline;
  /// channel -> last position applied on the target (mirrors what is stored).
  std::map<std::string, checkpoint> checkpoints;
  reader_actor reader;
  event_sink_actor writer;
  std::function<void()> cancel_writer;
  /// Writers told to stop that have not terminated yet: a new pipeline starts only once they
  /// are gone, so that two writers never write to the target at once.
  std::set<caf::actor_addr> stopping_writers;
  /// A restart after a passing failure waits for its timer (the one numbered
  /// restart_generation); `restarts` in a row (each pipeline failing soon after it started)
  /// set its backoff.
  bool restart_pending = false;
  uint64_t restart_generation = 0;
  int restarts = 0;
  caf::actor_clock::time_point started_at;
  /// The once-a-second publication of lag and progress is scheduled.
  bool publishing = false;
};

/// Runs one CDC task. Starts it right away when its stored state is Initial or Running; a
/// Paused task waits for `resume`.
task_actor::behavior_type task(task_actor::stateful_pointer<task_actor_state> self,
                               task_record record, std::shared_ptr<store> db,
                               supervisor_actor supervisor,
                               std::shared_ptr<const pipeline_config> pipeline);

} // namespace cdc
