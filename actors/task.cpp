#include "actors/task.hpp"

#include "actors/base/metrics.hpp"
#include "actors/reader.hpp"
#include "proto/position.hpp"
#include "storage/store.hpp"

#include <spdlog/spdlog.h>

namespace cdc {

namespace {

using task_pointer = task_actor::stateful_pointer<task_actor_state>;

const std::string& id_of(task_pointer self) {
  return self->state.record.spec.task_id;
}

/// Moves the task to `to`: stored first, so that a crash right after never loses a
/// transition the client was told about; then reported to the supervisor.
caf::error transition(task_pointer self, task_state to, std::string reason) {
  auto next = self->state.record;
  next.state = to;
  next.reason = std::move(reason);
  if (auto err = self->state.db->put_task(next))
    return err;
  if (self->state.record.state == to)
    spdlog::info("task {}: {} again after a restart", next.spec.task_id, to_string(to));
  else
    spdlog::info("task {}: {} -> {}{}{}", next.spec.task_id, to_string(self->state.record.state),
                 to_string(to), next.reason.empty() ? "" : ": ", next.reason);
  self->state.record = std::move(next);
  self->send(self->state.supervisor, atom::status_v, id_of(self), to, self->state.record.reason);
  return {};
}

/// Where to read each channel: after its checkpoint; on the very first start from the
/// positions given at create, from the beginning for use_start_position, else from the end
/// (only what is written from now on).
std::vector<source::start_point> start_points(task_pointer self) {
  const auto& cfg = *self->state.pipeline;
  std::vector<std::string> topics;
  for (int i = 0; i < cfg.dml_channel_num; ++i)
    topics.push_back(wal::dml_topic(cfg.cluster_prefix, i));
  topics.push_back(cfg.replicate_channel);

  std::map<std::string, int64_t> first_start; // topic -> offset, for the first start only
  bool from_beginning = false;
  for (const auto& [db, refs] : self->state.record.spec.db_collections)
    for (const auto& ref : refs) {
      from_beginning = from_beginning || ref.use_start_position;
      for (const auto& [vchannel, encoded] : ref.positions)
        if (auto pos = milvus::decode_position(encoded)) {
          auto topic = std::string{wal::physical_channel(vchannel)};
          auto next = pos->offset + 1;
          auto it = first_start.find(topic);
          first_start[topic] = it == first_start.end() ? next : std::min(it->second, next);
        }
    }
  std::vector<source::start_point> points;
  for (const auto& topic : topics) {
    if (auto cp = self->state.checkpoints.find(topic); cp != self->state.checkpoints.end())
      points.push_back({topic, cp->second.offset + 1});
    else if (auto given = first_start.find(topic); given != first_start.end())
      points.push_back({topic, given->second});
    else if (from_beginning && topic != cfg.replicate_channel)
      points.push_back({topic, source::start_point::from_beginning});
    else
      points.push_back({topic, source::start_point::from_end});
  }
  return points;
}

void start_pipeline(task_pointer self) {
  const auto& cfg = self->state.pipeline;
  if (!cfg || !cfg->spawn_writer || self->state.reader)
    return;
  auto owner = caf::actor_cast<task_actor>(self);
  auto skip = std::make_shared<wal::collection_filter>();
  auto writer = cfg->spawn_writer(self, self->state.record, owner, skip);
  self->state.writer = std::move(writer.actor);
  self->state.cancel_writer = std::move(writer.cancel);
  reader_config rc;
  rc.skip = std::move(skip);
  rc.kafka = cfg->kafka;
  rc.kafka.client_id = "milvus-cdc-cpp-" + id_of(self);
  rc.channels = start_points(self);
  rc.max_inflight_bytes = cfg->max_inflight_bytes;
  rc.max_batch_bytes = cfg->max_batch_bytes;
  self->state.reader =
      self->spawn<caf::detached>(reader, std::move(rc), self->state.writer, std::move(owner));
  self->monitor(self->state.reader);
  self->monitor(self->state.writer);
}

/// Stops reader and writer. The writer gives up the batch it is applying (cancel: a target
/// that does not answer cannot hold the task up; the next writer replays that batch from the
/// checkpoints, as after a crash); the progress it reported before is still stored. The
/// writer stays monitored: its down message says when it is gone (stopping_writers).
void stop_pipeline(task_pointer self) {
  auto& st = self->state;
  if (st.cancel_writer)
    st.cancel_writer();
  st.cancel_writer = nullptr;
  if (auto reader = caf::actor_cast<caf::actor>(st.reader)) {
    self->demonitor(reader);
    self->send_exit(reader, caf::exit_reason::user_shutdown);
  }
  if (auto writer = caf::actor_cast<caf::actor>(st.writer)) {
    st.stopping_writers.insert(writer.address());
    self->send_exit(writer, caf::exit_reason::user_shutdown);
  }
  st.reader = nullptr;
  st.writer = nullptr;
}

/// Publishes what the checkpoints say: lag per channel in /metrics (the source time of the
/// last applied change against now; TimeTicks keep it flat on an idle channel) and the
/// progress of list/get through the supervisor.
void publish_progress(task_pointer self) {
  const auto& cfg = self->state.pipeline;
  std::vector<checkpoint> progress;
  for (const auto& [channel, cp] : self->state.checkpoints) {
    progress.push_back(cp);
    // The replicate channel carries no TimeTicks: the time of its last DDL is no lag.
    if (cfg && channel == cfg->replicate_channel)
      progress.back().timestamp = 0;
  }
  self->send(self->state.supervisor, atom::progress_v, id_of(self), progress);
  if (!cfg || !cfg->metrics)
    return;
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  for (const auto& cp : progress) {
    metrics::labels labels{{"task", id_of(self)}, {"channel", cp.channel}};
    cfg->metrics->set("cdc_channel_offset", labels, static_cast<double>(cp.offset));
    if (cp.timestamp != 0)
      cfg->metrics->set("cdc_channel_lag_ms", labels,
                        static_cast<double>(std::max<int64_t>(
                            0, now_ms - static_cast<int64_t>(milvus::physical_ms(cp.timestamp)))));
  }
}

/// Keeps publishing once a second while the pipeline runs.
void schedule_publication(task_pointer self) {
  if (self->state.publishing || !self->state.reader)
    return;
  self->state.publishing = true;
  self->delayed_send(self, std::chrono::seconds{1}, atom::poll_v);
}

/// Starts the pipeline of a Running task that has none, unless a writer of the previous one
/// is still stopping (its down message comes back here) or a restart waits for its timer.
void start_when_free(task_pointer self) {
  auto& st = self->state;
  if (st.record.state != task_state::running || st.reader || st.restart_pending)
    return;
  if (!st.stopping_writers.empty()) {
    spdlog::info("task {}: the pipeline starts once the previous writer has stopped", id_of(self));
    return;
  }
  start_pipeline(self);
  st.started_at = self->clock().now();
  schedule_publication(self);
}

/// Brings the task to Running; its pipeline starts from the checkpoints, at once or as soon
/// as the writer of a pause has stopped.
caf::error start(task_pointer self) {
  if (auto err = transition(self, task_state::running, {}))
    return err;
  self->state.restart_pending = false;
  self->state.restarts = 0;
  start_when_free(self);
  return {};
}

void pause_on_failure(task_pointer self, const std::string& reason);

/// A server of the chain is down (the target, the source's API): the pipeline starts again
/// from the checkpoints after a backoff, while the task stays Running. Nothing is skipped:
/// what the failed writer applied in part is replayed idempotently.
void restart_later(task_pointer self, const std::string& reason) {
  auto& st = self->state;
  static const pipeline_config defaults;
  const auto& cfg = st.pipeline ? *st.pipeline : defaults;
  // A pipeline that ran for a while before it failed starts a new series of restarts (its
  // progress is no sign: TimeTicks move checkpoints while the target is down).
  if (self->clock().now() - st.started_at > 2 * cfg.max_restart_delay)
    st.restarts = 0;
  if (cfg.max_restarts > 0 && st.restarts >= cfg.max_restarts) {
    pause_on_failure(self, reason + " (the pipeline started again " + std::to_string(st.restarts) +
                               " times in a row, retry.max_restarts; resume the task "
                               "once the cause is fixed)");
    return;
  }
  stop_pipeline(self);
  auto delay = cfg.restart_delay * (int64_t{1} << std::min(st.restarts, 10));
  delay = std::min(delay, cfg.max_restart_delay);
  ++st.restarts;
  st.restart_pending = true;
  ++st.restart_generation;
  spdlog::warn("task {}: {}; the pipeline starts again from the checkpoints in {} ms "
               "(restart {} in a row)",
               id_of(self), reason, delay.count(), st.restarts);
  if (cfg.metrics)
    cfg.metrics->add("cdc_task_restarts_total", {{"task", id_of(self)}});
  self->delayed_send(self, delay, atom::resume_v, st.restart_generation);
}

/// The pipeline cannot go on: pause with `reason`, keeping the checkpoints.
void pause_on_failure(task_pointer self, const std::string& reason) {
  stop_pipeline(self);
  self->state.restart_pending = false;
  if (self->state.record.state == task_state::paused)
    return;
  spdlog::error("task {}: pausing: {}", id_of(self), reason);
  if (auto err = transition(self, task_state::paused, reason))
    spdlog::error("task {}: cannot store the pause: {}", id_of(self), message_of(err));
}

} // namespace

task_actor::behavior_type task(task_pointer self, task_record record, std::shared_ptr<store> db,
                               supervisor_actor supervisor,
                               std::shared_ptr<const pipeline_config> pipeline) {
  self->state.record = std::move(record);
  self->state.db = std::move(db);
  self->state.supervisor = std::move(supervisor);
  self->state.pipeline = std::move(pipeline);
  if (auto stored = self->state.db->checkpoints(id_of(self)))
    for (auto& cp : *stored)
      self->state.checkpoints[cp.channel] = cp;
  else
    spdlog::error("task {}: cannot read its checkpoints: {}", id_of(self),
                  message_of(stored.error()));
  self->set_down_handler([=](const caf::down_msg& down) {
    auto& st = self->state;
    if (st.stopping_writers.erase(down.source) > 0) {
      start_when_free(self);
      return;
    }
    // Reader or writer died without being asked to: it is gone, nothing to wait for.
    if (caf::actor_cast<caf::actor_addr>(st.writer) == down.source)
      st.writer = nullptr;
    if (caf::actor_cast<caf::actor_addr>(st.reader) == down.source)
      st.reader = nullptr;
    pause_on_failure(self, "the pipeline stopped unexpectedly: " + caf::to_string(down.reason));
  });
  if (self->state.record.state != task_state::paused) {
    // Initial: created (or crashed right after create) and never started; Running: it was
    // running when the server stopped. Both continue.
    if (auto err = start(self))
      spdlog::error("task {}: cannot start: {}", id_of(self), message_of(err));
  }
  return {
      [=](atom::pause) -> caf::result<void> {
        if (self->state.record.state == task_state::paused)
          return make_error(ec::invalid_transition, "task " + id_of(self) + " is already paused");
        stop_pipeline(self);
        self->state.restart_pending = false;
        if (auto err = transition(self, task_state::paused, "paused by request"))
          return err;
        return caf::unit;
      },
      [=](atom::resume) -> caf::result<void> {
        if (self->state.record.state == task_state::running)
          return make_error(ec::invalid_transition, "task " + id_of(self) + " is already running");
        if (auto err = start(self))
          return err;
        return caf::unit;
      },
      [=](atom::resume, uint64_t generation) {
        auto& st = self->state;
        if (!st.restart_pending || generation != st.restart_generation)
          return; // paused, resumed or failed again since
        st.restart_pending = false;
        start_when_free(self);
      },
      [=](atom::position) {
        std::vector<checkpoint> result;
        for (const auto& [channel, cp] : self->state.checkpoints)
          result.push_back(cp);
        return result;
      },
      [=](atom::shutdown) -> caf::result<void> {
        stop_pipeline(self);
        self->quit();
        return caf::unit;
      },
      [=](atom::progress, std::vector<checkpoint>& reached) {
        for (auto& cp : reached) {
          if (auto err = self->state.db->put_checkpoint(id_of(self), cp)) {
            pause_on_failure(self, message_of(err));
            return;
          }
          self->state.checkpoints[cp.channel] = std::move(cp);
        }
      },
      [=](atom::failure, const std::string& reason, bool retryable) {
        auto& st = self->state;
        // From a reader or writer of an earlier pipeline (stopped before its report came):
        // that pipeline is gone already.
        auto from = caf::actor_cast<caf::actor_addr>(self->current_sender());
        bool current = from == caf::actor_cast<caf::actor_addr>(st.reader) ||
                       from == caf::actor_cast<caf::actor_addr>(st.writer);
        if ((st.reader || st.writer) && !current) {
          spdlog::info("task {}: a stopped pipeline reported: {}", id_of(self), reason);
          return;
        }
        if (retryable && st.record.state == task_state::running)
          restart_later(self, reason);
        else
          pause_on_failure(self, reason);
      },
      [=](atom::poll) {
        self->state.publishing = false;
        publish_progress(self);
        schedule_publication(self);
      },
  };
}

} // namespace cdc
