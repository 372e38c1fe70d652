#include "actors/writer.hpp"

#include "storage/store.hpp"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <limits>

namespace cdc {

namespace {

using writer_pointer = event_sink_actor::stateful_pointer<writer_state>;
using clock_type = std::chrono::steady_clock;

/// The newest time every active DML channel has reached: nothing older can still arrive on
/// them (TimeTicks guarantee it), so events up to it can be applied in timestamp order.
uint64_t watermark(writer_pointer self) {
  auto now = clock_type::now();
  auto result = std::numeric_limits<uint64_t>::max();
  for (const auto& [channel, clock] : self->state.clocks)
    if (now - clock.seen < self->state.cfg->idle_channel)
      result = std::min(result, clock.timestamp);
  return result;
}

/// True for the events that order the channels: DDL of the replicate channel, and on the
/// DML channels everything but Insert, Delete and TimeTick (CreateCollection, DropCollection,
/// partitions). Such an event waits until every active DML channel passed its time, and no
/// younger event of any channel overtakes it: a DropCollection arrives on each shard, and the
/// rows of another shard written before it must be applied before it.
/// Inserts, Deletes and TimeTicks only need the order of their own channel (the same primary
/// key always goes to the same channel): they are applied as soon as they arrive, which is
/// what keeps the lag low. (An upsert's Insert and Delete halves may thus reach the applier
/// in different batches; api_applier pairs them all the same.)
bool orders_channels(const writer_state& st, const wal::event& e) {
  using namespace wal::pb::common;
  if (e.topic == st.cfg->replicate_channel)
    return true;
  return e.type != Insert && e.type != Delete && e.type != TimeTick;
}

/// False while `ddl` (an event of the replicate channel) must wait for the channels of its
/// collection to pass its time: they may be new, not read yet, and hold its CreateCollection.
bool ddl_ready(writer_pointer self, const wal::event& ddl) {
  auto& st = self->state;
  auto& wait = st.waiting_ddl;
  if (wait.offset != ddl.offset) {
    wait = {ddl.offset, st.cfg->target->channels_before(ddl), clock_type::now()};
  }
  for (const auto& channel : wait.channels) {
    auto it = st.clocks.find(channel);
    if (it == st.clocks.end() || it->second.timestamp < ddl.timestamp) {
      if (clock_type::now() - wait.since < st.cfg->ddl_channel_wait)
        return false;
      spdlog::warn("writer of task {}: {} at offset {} waited {} ms for channel {}, which did "
                   "not reach its time; applied anyway",
                   st.cfg->task_id, wal::type_name(ddl.type), ddl.offset,
                   st.cfg->ddl_channel_wait.count(), channel);
      wait.channels.clear();
      return true;
    }
  }
  return true;
}

/// Takes, in timestamp order across channels (WAL order within each), every event up to the
/// first one that orders the channels (orders_channels) and is not older than the watermark
/// yet; all of them when too much is held back.
std::vector<wal::event> take_ready(writer_pointer self, uint64_t& bytes) {
  auto& st = self->state;
  auto limit = watermark(self);
  bool pressure = st.held_bytes > st.cfg->max_held_bytes;
  std::vector<wal::event> ready;
  for (;;) {
    std::deque<wal::event>* next = nullptr;
    for (auto& [channel, queue] : st.queues)
      if (!queue.empty() && (next == nullptr || queue.front().timestamp < next->front().timestamp))
        next = &queue;
    if (next == nullptr)
      break;
    bool all_channels_idle = limit == std::numeric_limits<uint64_t>::max();
    if (orders_channels(st, next->front()) && next->front().timestamp >= limit &&
        !all_channels_idle && !pressure)
      break;
    if (next->front().topic == st.cfg->replicate_channel && !pressure &&
        !ddl_ready(self, next->front()))
      break;
    bytes += next->front().bytes;
    st.held_bytes -= next->front().bytes;
    ready.push_back(std::move(next->front()));
    next->pop_front();
  }
  return ready;
}

/// The checkpoints that `applied` (in WAL order per channel) allows: per channel, the last
/// position after which nothing more of a source time already applied can follow. Milvus
/// writes an upsert as Inserts and then a Delete at one time, and splits a large Insert into
/// several records of one time; a checkpoint between them would let a restart (a crash, a
/// pause that cut a batch short, a target that was down) replay the Delete without the
/// Inserts it pairs with, and the rows would be deleted for good. A position is complete
/// after a TimeTick not older than every record before it (a TimeTick may lag behind a record
/// already written: Insert(100), TimeTick(95), Delete(100) happens), or right before a record
/// younger than every record before it (records of a channel never go back in time). The
/// replicate channel has no TimeTicks and one record per DDL: each is complete.
std::map<std::string, checkpoint> complete_positions(writer_state& st,
                                                     const std::vector<wal::event>& applied) {
  std::map<std::string, checkpoint> result;
  for (const auto& e : applied) {
    checkpoint here{e.topic, e.offset, e.timestamp};
    if (e.topic == st.cfg->replicate_channel) {
      result[e.topic] = here;
      continue;
    }
    auto& track = st.tracks[e.topic];
    if (e.type == wal::pb::common::TimeTick) {
      if (e.timestamp >= track.newest_record)
        result[e.topic] = here;
    } else {
      if (track.last && e.timestamp > track.newest_record)
        result[e.topic] = *track.last;
      track.newest_record = std::max(track.newest_record, e.timestamp);
    }
    track.last = here;
  }
  return result;
}

/// Stops applying for good. The task hears why, unless it stopped the writer itself: then
/// the batch in flight was cut short on purpose, and the next writer replays it.
void fail(writer_pointer self, const caf::error& err) {
  auto& st = self->state;
  st.failed = true;
  if (st.cfg->cancelled) {
    spdlog::info("writer of task {}: stopped during a batch ({}); the next writer replays it "
                 "from the checkpoints",
                 st.cfg->task_id, message_of(err));
  } else {
    spdlog::error("writer of task {}: {}", st.cfg->task_id, message_of(err));
    self->send(st.owner, atom::failure_v, message_of(err), retryable(err));
  }
  self->quit();
}

/// Applies what is ready; reports the positions reached and returns the credit.
void drain(writer_pointer self) {
  auto& st = self->state;
  if (st.failed)
    return;
  if (st.cfg->cancelled) // stopped: nothing more goes to the target or the store
    return fail(self, make_error(ec::target_refused, "cancelled"));
  uint64_t bytes = 0;
  auto ready = take_ready(self, bytes);
  if (!ready.empty()) {
    std::map<std::string, checkpoint> reached;
    bool writes = false;
    for (const auto& e : ready) {
      reached[e.topic] = checkpoint{e.topic, e.offset, e.timestamp};
      writes = writes || e.type != wal::pb::common::TimeTick;
    }
    if (writes)
      for (const auto& [channel, cp] : reached)
        if (auto err = st.cfg->db->put_intent(st.cfg->task_id, channel, cp.offset))
          return fail(self, err);
    auto complete = complete_positions(st, ready);
    st.last_apply = self->clock().now();
    if (auto err = st.cfg->target->apply(ready, st.replay_until))
      return fail(self, err);
    if (st.cfg->exit_after_inserts > 0) {
      for (const auto& e : ready)
        st.inserts_applied += e.type == wal::pb::common::Insert ? 1 : 0;
      if (st.inserts_applied >= st.cfg->exit_after_inserts) {
        spdlog::critical("writer of task {}: failpoint: exiting after {} Insert records applied, "
                         "before their checkpoint",
                         st.cfg->task_id, st.inserts_applied);
        spdlog::default_logger()->flush();
        std::_Exit(137);
      }
    }
    std::vector<checkpoint> progress;
    for (auto& [channel, cp] : complete)
      progress.push_back(std::move(cp));
    if (!progress.empty())
      self->send(st.owner, atom::progress_v, std::move(progress));
    if (st.reader)
      self->send(st.reader, atom::credit_v, bytes);
  }
  // Held-back events wait for a slow channel; look again once it may count as idle.
  if (st.held_bytes > 0 && !st.recheck_pending) {
    st.recheck_pending = true;
    self->delayed_send(self, st.cfg->idle_channel / 4, atom::poll_v);
  }
}

/// Mode replicate keeps the target informed while nothing arrives: applies nothing once
/// nothing was applied for `idle_apply`, and keeps a poll coming for that.
void idle(writer_pointer self) {
  auto& st = self->state;
  if (st.failed || st.cfg->idle_apply.count() <= 0)
    return;
  if (st.cfg->cancelled)
    return fail(self, make_error(ec::target_refused, "cancelled"));
  // The actor clock: virtual in tests.
  auto now = self->clock().now();
  if (now - st.last_apply >= st.cfg->idle_apply) {
    st.last_apply = now;
    if (auto err = st.cfg->target->apply({}, st.replay_until))
      return fail(self, err);
  }
  if (now >= st.next_idle_poll) {
    st.next_idle_poll = now + st.cfg->idle_apply / 2;
    self->delayed_send(self, st.cfg->idle_apply / 2, atom::poll_v);
  }
}

} // namespace

event_sink_actor::behavior_type writer(writer_pointer self, std::shared_ptr<writer_config> cfg,
                                       task_actor owner) {
  self->state.cfg = std::move(cfg);
  self->state.owner = std::move(owner);
  auto& st = self->state;
  if (!st.cfg->target) {
    fail(self, make_error(ec::target_refused, st.cfg->unsupported));
    return {[](atom::events, event_batch&, const reader_actor&) {}, [](atom::poll) {}};
  }
  if (auto err = st.cfg->target->start()) {
    fail(self, err);
    return {[](atom::events, event_batch&, const reader_actor&) {}, [](atom::poll) {}};
  }
  st.last_apply = self->clock().now();
  idle(self);
  if (auto intents = st.cfg->db->intents(st.cfg->task_id)) {
    st.replay_until = std::move(*intents);
    for (const auto& [channel, offset] : st.replay_until)
      spdlog::info("writer of task {}: {} up to offset {} is replayed idempotently",
                   st.cfg->task_id, channel, offset);
  } else {
    spdlog::error("writer of task {}: {}", st.cfg->task_id, message_of(intents.error()));
  }
  return {
      [=](atom::events, event_batch& batch, const reader_actor& from) {
        auto& s = self->state;
        s.reader = from;
        auto now = clock_type::now();
        for (auto& e : batch.events) {
          if (e.topic != s.cfg->replicate_channel) {
            auto& clock = s.clocks[e.topic];
            clock.timestamp = std::max(clock.timestamp, e.timestamp);
            clock.seen = now;
          }
          s.held_bytes += e.bytes;
          s.queues[e.topic].push_back(std::move(e));
        }
        drain(self);
      },
      [=](atom::poll) {
        self->state.recheck_pending = false;
        drain(self);
        idle(self);
      },
  };
}

} // namespace cdc
