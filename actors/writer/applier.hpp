#pragma once
// What the writer actor calls to apply events to the target: one implementation per target
// mode (api_applier, replicate_applier).

#include "actors/reader/decode.hpp"

#include <caf/error.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cdc {

/// Applies events to the target, in the order given; blocking (gRPC). One per task, used by
/// the writer actor's thread only.
class applier {
public:
  virtual ~applier() = default;

  /// Called once before the first apply: checks the target and loads what the applier
  /// needs. An error pauses the task with it as the reason.
  virtual caf::error start() { return {}; }

  /// Applies `events` in order. Events of a channel at offsets up to `replay_until` of that
  /// channel may already be on the target (a crash between apply and checkpoint): they must
  /// be applied idempotently. An error names what failed on the target; retries are done.
  /// `events` is empty when nothing arrived for `writer_config::idle_apply`.
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

  /// Thread-safe (called by the task, not the writer's thread): the call in flight and every
  /// later call fail at once, and retry waits end. The writer is being stopped (a pause, a
  /// delete, a restart of the pipeline) and must not hold its task up: what it applied in
  /// part is replayed from the checkpoints by the next writer, as after a crash.
  virtual void cancel() {}
};

} // namespace cdc
