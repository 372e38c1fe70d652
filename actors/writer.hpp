#pragma once

#include "actors/actors.hpp"
#include "actors/writer/applier.hpp"

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>

namespace cdc {

class store;

struct writer_config {
  writer_config() = default;
  writer_config(const writer_config&) = delete;
  writer_config& operator=(const writer_config&) = delete;

  /// Thread-safe: the writer is being stopped (see applier::cancel); what fails from now on
  /// is no failure of the task.
  void cancel() {
    cancelled = true;
    if (target)
      target->cancel();
  }

  std::string task_id;
  std::shared_ptr<store> db;
  /// How changes reach the target; null when the task's mode cannot be served, and then
  /// `unsupported` says why (the task pauses with it).
  std::unique_ptr<applier> target;
  std::string unsupported;
  /// The channel without TimeTicks (DDL): its events wait until the DML channels passed them.
  std::string replicate_channel;
  /// A DML channel silent this long stops holding the others back.
  std::chrono::milliseconds idle_channel{3000};
  /// When this many bytes wait for a slow channel, they are applied anyway (no deadlock with
  /// the reader's credit).
  uint64_t max_held_bytes = 32ull << 20;
  /// When nothing was applied for this long, apply nothing (the applier may keep the target
  /// informed: mode replicate repeats its TimeTicks); 0 = never.
  std::chrono::milliseconds idle_apply{0};
  /// Failpoint for crash tests (environment CDC_FAILPOINT_EXIT_AFTER_INSERTS): once this many
  /// Insert records were applied, the process exits at once (like kill -9), after the target
  /// acknowledged them and before their checkpoint: a replay window that is on the target.
  /// 0 = off.
  uint64_t exit_after_inserts = 0;
  /// A DDL waits at most this long for the channels of its collection (then it is applied
  /// with a warning: a channel the task does not read never catches up).
  std::chrono::milliseconds ddl_channel_wait{30000};
  /// Set by cancel().
  std::atomic<bool> cancelled{false};
};

struct writer_state {
  static constexpr const char* name = "writer";
  /// Not copyable (unique applier): kept behind a pointer.
  std::shared_ptr<writer_config> cfg;
  task_actor owner;
  /// Decoded events not applied yet, per channel in WAL order.
  std::map<std::string, std::deque<wal::event>> queues;
  /// Per DML channel: the newest timestamp seen and when it arrived.
  struct channel_clock {
    uint64_t timestamp = 0;
    std::chrono::steady_clock::time_point seen;
  };
  std::map<std::string, channel_clock> clocks;
  /// Per DML channel, for its checkpoints (complete_positions): the newest time of a record
  /// applied, and the last position applied.
  struct channel_track {
    uint64_t newest_record = 0;
    std::optional<checkpoint> last;
  };
  std::map<std::string, channel_track> tracks;
  uint64_t held_bytes = 0;
  /// Per channel: records up to this offset may be on the target already (from the intents
  /// of the previous run).
  std::map<std::string, int64_t> replay_until;
  /// Where credit goes back to.
  reader_actor reader;
  /// A re-check of held events is scheduled.
  bool recheck_pending = false;
  /// The writer reported a failure and stops: nothing more goes to the target.
  bool failed = false;
  /// Insert records applied (for the failpoint).
  uint64_t inserts_applied = 0;
  /// When the applier was last called, and when the next idle poll is due.
  caf::actor_clock::time_point last_apply;
  caf::actor_clock::time_point next_idle_poll;
  /// The replicate-channel event at the head of its queue and the DML channels it waits
  /// for (applier::channels_before), asked once per event.
  struct ddl_wait {
    int64_t offset = -1;
    std::vector<std::string> channels;
    std::chrono::steady_clock::time_point since;
  };
  ddl_wait waiting_ddl;
};

/// Orders the events of all channels by timestamp (the replicate channel's DDL waits until the
/// DML channels have passed it), applies them through the applier, reports the positions
/// applied to `owner` and returns credit to the reader. Spawn it detached.
event_sink_actor::behavior_type writer(event_sink_actor::stateful_pointer<writer_state> self,
                                       std::shared_ptr<writer_config> cfg, task_actor owner);

} // namespace cdc
