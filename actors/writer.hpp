#pragma once

#include "actors/actors.hpp"

#include <chrono>
#include <deque>
#include <map>
#include <memory>

namespace cdc {

class store;

/// Applies events to the target, in the order given; blocking (gRPC). One per task, used by
/// the writer actor's thread only.
class applier {
public:
  virtual ~applier() = default;

  /// Applies `events` in order. Events of a channel at offsets up to `replay_until` of that
  /// channel may already be on the target (a crash between apply and checkpoint): they must
  /// be applied idempotently. An error names what failed on the target; retries are done.
  virtual caf::error apply(const std::vector<wal::event>& events,
                           const std::map<std::string, int64_t>& replay_until) = 0;

  /// The DML channels that must have passed the time of `ddl`, an event of the replicate
  /// channel, before it is applied: the channels of the collection it names. They may be
  /// new to the reader (Milvus creates a topic with the first collection that uses it), so
  /// the watermark of the channels seen so far is not enough. Empty: no such collection.
  virtual std::vector<std::string> channels_before(const wal::event& ddl) {
    (void)ddl;
    return {};
  }
};

struct writer_config {
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
  /// A DDL waits at most this long for the channels of its collection (then it is applied
  /// with a warning: a channel the task does not read never catches up).
  std::chrono::milliseconds ddl_channel_wait{30000};
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
  uint64_t held_bytes = 0;
  /// Per channel: records up to this offset may be on the target already (from the intents
  /// of the previous run).
  std::map<std::string, int64_t> replay_until;
  /// Where credit goes back to.
  reader_actor reader;
  /// A re-check of held events is scheduled.
  bool recheck_pending = false;
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
