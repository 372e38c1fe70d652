#include "actors/reader.hpp"

#include <spdlog/spdlog.h>

namespace cdc {

namespace {

using reader_pointer = reader_actor::stateful_pointer<reader_state>;

/// Logs a transient Kafka condition once (again after ten minutes if it persists). A topic
/// that does not exist is normal (Milvus creates a channel's topic with its first
/// collection): info, not a warning.
void report(reader_pointer self, const std::string& condition) {
  auto& st = self->state;
  auto now = std::chrono::steady_clock::now();
  auto it = st.conditions.find(condition);
  if (it != st.conditions.end() && now - it->second < std::chrono::minutes{10})
    return;
  st.conditions[condition] = now;
  if (condition.find("Unknown topic") != std::string::npos) {
    spdlog::info("reader {}: {} (read once it exists)", st.cfg.kafka.client_id, condition);
    return;
  }
  spdlog::warn("reader {}: Kafka: {} (retrying)", st.cfg.kafka.client_id, condition);
  st.interrupted = true;
}

/// Stops reading for good and tells the task why.
void fail(reader_pointer self, const std::string& reason) {
  spdlog::error("reader {}: {}", self->state.cfg.kafka.client_id, reason);
  self->send(self->state.owner, atom::failure_v, reason, false);
  self->quit();
}

/// Turns "from the end" into the offset the topic ends at now, reports those starts as
/// checkpoints (the offset before the start) and assigns the channels. A topic that does not
/// exist yet starts at its beginning: everything it will hold is new. `retry` while the
/// broker does not answer (the actor stays responsive to exit and credit meanwhile).
enum class assignment { done, retry, failed };

assignment assign_channels(reader_pointer self) {
  auto& st = self->state;
  std::vector<checkpoint> resolved;
  for (auto& channel : st.cfg.channels) {
    if (channel.offset != source::start_point::from_end)
      continue;
    auto end = st.kafka->end_offset(channel.topic, std::chrono::milliseconds{500});
    if (!end) {
      report(self, message_of(end.error()));
      if (!resolved.empty())
        self->send(st.owner, atom::progress_v, std::move(resolved));
      return assignment::retry;
    }
    channel.offset = *end;
    resolved.push_back(checkpoint{channel.topic, channel.offset - 1, 0});
  }
  if (!resolved.empty())
    self->send(st.owner, atom::progress_v, std::move(resolved));
  if (auto err = st.kafka->assign(st.cfg.channels)) {
    fail(self, message_of(err));
    return assignment::failed;
  }
  st.assigned = true;
  spdlog::info("reader {}: reading {} channel(s) from {}", st.cfg.kafka.client_id,
               st.cfg.channels.size(), st.cfg.kafka.brokers);
  return assignment::done;
}

void poll_once(reader_pointer self) {
  auto& st = self->state;
  if (!st.assigned) {
    switch (assign_channels(self)) {
    case assignment::done:
      self->send(self, atom::poll_v);
      break;
    case assignment::retry:
      self->delayed_send(self, std::chrono::seconds{1}, atom::poll_v);
      break;
    case assignment::failed:
      break;
    }
    return;
  }
  if (st.credit <= 0) {
    st.stalled = true;
    return;
  }
  auto budget = std::min<uint64_t>(st.cfg.max_batch_bytes, static_cast<uint64_t>(st.credit));
  auto polled = st.kafka->poll(st.cfg.poll_timeout, 100000, budget);
  // librdkafka reconnects and waits for missing topics by itself.
  for (const auto& condition : polled.transient_errors)
    report(self, condition);
  if (!polled.records.empty()) {
    if (st.interrupted) {
      spdlog::info("reader {}: reading again", st.cfg.kafka.client_id);
      // a new outage is said again
      for (auto it = st.conditions.begin(); it != st.conditions.end();)
        it = it->first.find("Unknown topic") == std::string::npos ? st.conditions.erase(it)
                                                                  : std::next(it);
    }
    st.interrupted = false;
    event_batch batch;
    batch.events.reserve(polled.records.size());
    for (const auto& record : polled.records) {
      auto decoded = wal::decode(record, st.cfg.skip.get());
      if (!decoded) {
        // Nothing after this record is sent: the sink gets every event before it, in order.
        if (!batch.events.empty())
          self->send(st.sink, atom::events_v, std::move(batch), reader_actor{self});
        return fail(self, message_of(decoded.error()));
      }
      batch.bytes += record.value.size();
      batch.events.push_back(std::move(*decoded));
    }
    st.credit -= static_cast<int64_t>(batch.bytes);
    self->send(st.sink, atom::events_v, std::move(batch), reader_actor{self});
  }
  self->send(self, atom::poll_v);
}

} // namespace

reader_actor::behavior_type reader(reader_pointer self, reader_config cfg, event_sink_actor sink,
                                   task_actor owner) {
  self->state.cfg = std::move(cfg);
  self->state.sink = std::move(sink);
  self->state.owner = std::move(owner);
  self->state.credit = static_cast<int64_t>(self->state.cfg.max_inflight_bytes);
  auto opened = source::kafka_reader::open(self->state.cfg.kafka);
  if (!opened) {
    fail(self, message_of(opened.error()));
    return {[](atom::credit, uint64_t) {}, [](atom::poll) {}};
  }
  self->state.kafka = std::move(*opened);
  self->send(self, atom::poll_v);
  return {
      [=](atom::credit, uint64_t bytes) {
        auto& st = self->state;
        st.credit += static_cast<int64_t>(bytes);
        if (st.stalled && st.credit > 0) {
          st.stalled = false;
          self->send(self, atom::poll_v);
        }
      },
      [=](atom::poll) { poll_once(self); },
  };
}

} // namespace cdc
