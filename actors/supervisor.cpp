#include "actors/supervisor.hpp"

#include "actors/base/metrics.hpp"
#include "actors/task.hpp"
#include "storage/store.hpp"

#include <caf/event_based_actor.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <random>

namespace cdc {

namespace {

using supervisor_pointer = supervisor_actor::stateful_pointer<supervisor_state>;

/// 32 lowercase hex characters from 128 random bits, like the Go server's ids.
std::string new_task_id() {
  static thread_local std::mt19937_64 engine{std::random_device{}()};
  static constexpr char hex[] = "0123456789abcdef";
  std::string id;
  for (int word = 0; word < 2; ++word) {
    auto bits = engine();
    for (int i = 0; i < 16; ++i, bits >>= 4)
      id += hex[bits & 0xf];
  }
  return id;
}

void publish_task_counts(supervisor_pointer self) {
  auto& metrics = self->state.cfg.metrics;
  if (!metrics)
    return;
  std::map<task_state, double> counts{
      {task_state::initial, 0}, {task_state::running, 0}, {task_state::paused, 0}};
  for (const auto& [id, entry] : self->state.tasks)
    counts[entry.record.state] += 1;
  for (const auto& [state, count] : counts)
    metrics->set("cdc_tasks", {{"state", to_string(state)}}, count);
}

void spawn_task(supervisor_pointer self, const task_record& record) {
  auto handle = self->spawn(task, record, self->state.cfg.db,
                            caf::actor_cast<supervisor_actor>(self), self->state.cfg.pipeline);
  self->monitor(handle);
  // A task that is not paused starts as soon as it is spawned (see task()): it is reported
  // in the state it is about to be in, so that create answers after a Running task rather
  // than one that shows Initial until the task's own report arrives. A start that fails
  // pauses the task, and its report says so.
  auto shown = record;
  if (shown.state == task_state::initial)
    shown.state = task_state::running;
  self->state.tasks[record.spec.task_id] = {shown, handle, false};
}

/// The checks of create that need the other tasks; everything else was checked when the
/// request was parsed. Returns the id an idempotent create answers with, or an error.
caf::expected<std::string> check_create(supervisor_pointer self, task_spec& spec) {
  auto& st = self->state;
  if (!spec.task_id.empty()) {
    if (auto it = st.tasks.find(spec.task_id); it != st.tasks.end()) {
      if (it->second.record.spec == spec && !it->second.deleting)
        return spec.task_id;
      return make_error(ec::invalid_argument,
                        "task_id " + spec.task_id +
                            " already exists with other parameters; choose another id or "
                            "delete that task first");
    }
    if (auto it = st.creating.find(spec.task_id); it != st.creating.end()) {
      if (it->second.spec == spec)
        return spec.task_id; // the caller joins the pending create
      return make_error(ec::invalid_argument,
                        "task_id " + spec.task_id +
                            " is being created by another request with other parameters");
    }
  }
  if (st.tasks.size() + st.creating.size() >= st.cfg.max_tasks)
    return make_error(ec::invalid_argument,
                      "the server already has " + std::to_string(st.cfg.max_tasks) +
                          " tasks (max_task_num); delete one or raise max_task_num");
  auto conflict = [&](const task_spec& other) { return selections_overlap(spec, other); };
  for (const auto& [id, entry] : st.tasks)
    if (conflict(entry.record.spec))
      return make_error(ec::invalid_argument,
                        "task " + id + " already replicates some of these collections to " +
                            spec.target.uri +
                            "; a collection can be covered by one task per "
                            "target only");
  for (const auto& [id, other] : st.creating)
    if (conflict(other.spec))
      return make_error(ec::invalid_argument, "task " + id +
                                                  " (being created) already covers some of these "
                                                  "collections for " +
                                                  spec.target.uri);
  if (spec.task_id.empty())
    do
      spec.task_id = new_task_id();
    while (st.tasks.count(spec.task_id) > 0 || st.creating.count(spec.task_id) > 0);
  return std::string{};
}

caf::result<std::string> create(supervisor_pointer self, task_spec spec) {
  auto checked = check_create(self, spec);
  if (!checked)
    return checked.error();
  auto& creating = self->state.creating;
  if (!checked->empty()) {
    auto pending = creating.find(*checked);
    if (pending == creating.end())
      return *checked; // idempotent create of an existing task
    auto promise = self->make_response_promise<std::string>();
    pending->second.waiting.push_back(promise);
    return promise;
  }
  auto id = spec.task_id;
  auto promise = self->make_response_promise<std::string>();
  creating.emplace(id, supervisor_state::pending_create{spec, {promise}});
  // Answers every request waiting for this create and forgets it.
  auto finish = [=](const caf::expected<std::string>& result) {
    auto waiting = std::move(self->state.creating.at(id).waiting);
    self->state.creating.erase(id);
    for (auto& p : waiting)
      if (result)
        p.deliver(*result);
      else
        p.deliver(result.error());
  };
  // The dialer enforces connect_timeout; the margin only guards against a lost answer.
  auto timeout = std::chrono::seconds{spec.target.connect_timeout_s + 10};
  self->request(self->state.cfg.dialer, timeout, atom::dial_v, spec.target)
      .then(
          [=]() {
            task_record record{self->state.creating.at(id).spec, task_state::initial, {}};
            if (record.spec.disable_auto_start) {
              record.state = task_state::paused;
              record.reason = "created with disable_auto_start; resume it to start";
            }
            if (auto err = self->state.cfg.db->put_task(record)) {
              spdlog::error("create {}: {}", id, message_of(err));
              return finish(err);
            }
            spdlog::info("task {} created: target {} ({} mode)", id, record.spec.target.uri,
                         to_string(record.spec.mode));
            spawn_task(self, record);
            publish_task_counts(self);
            finish(id);
          },
          [=](caf::error& err) {
            spdlog::warn("create of task {} refused: {}", id, message_of(err));
            if (code_of(err) != ec::target_unreachable)
              err =
                  make_error(ec::target_unreachable,
                             "cannot reach the target " + spec.target.uri + ": " + message_of(err));
            finish(err);
          });
  return promise;
}

/// The task `id`, or a 404 error naming it.
caf::expected<supervisor_state::entry*> find_task(supervisor_pointer self, const std::string& id) {
  auto it = self->state.tasks.find(id);
  if (it == self->state.tasks.end() || it->second.deleting)
    return make_error(ec::task_not_found, "no task with id '" + id + "'");
  return &it->second;
}

caf::result<void> remove(supervisor_pointer self, const std::string& id, bool ignore_not_found) {
  auto entry = find_task(self, id);
  if (!entry) {
    if (ignore_not_found)
      return caf::unit;
    return entry.error();
  }
  (*entry)->deleting = true;
  // Untyped: CAF 0.17's typed_response_promise<void> cannot deliver a plain success.
  auto promise = self->make_response_promise();
  auto on_stopped = [=]() mutable {
    if (auto err = self->state.cfg.db->delete_task(id)) {
      self->state.tasks.at(id).deleting = false;
      promise.deliver(err);
      return;
    }
    self->state.tasks.erase(id);
    publish_task_counts(self);
    if (self->state.cfg.metrics)
      self->state.cfg.metrics->remove_series("task", id);
    spdlog::info("task {} deleted", id);
    promise.deliver(caf::unit);
  };
  self->request((*entry)->handle, std::chrono::seconds{30}, atom::shutdown_v)
      .then(on_stopped, [=](caf::error& err) mutable {
        // The task is gone either way (it may have died); its data must go too.
        spdlog::warn("task {} did not stop cleanly: {}", id, message_of(err));
        on_stopped();
      });
  return caf::delegated<void>{};
}

caf::result<void> shutdown(supervisor_pointer self) {
  self->state.stopping = true;
  auto promise = self->make_response_promise();
  auto pending = std::make_shared<size_t>(self->state.tasks.size());
  auto finish = [=]() mutable {
    spdlog::info("supervisor: all tasks stopped");
    promise.deliver(caf::unit);
    self->quit();
  };
  if (*pending == 0) {
    finish();
    return caf::delegated<void>{};
  }
  for (auto& [id, entry] : self->state.tasks) {
    auto done = [=]() mutable {
      if (--*pending == 0)
        finish();
    };
    self->request(entry.handle, std::chrono::seconds{30}, atom::shutdown_v)
        .then(done, [=](caf::error&) mutable { done(); });
  }
  return caf::delegated<void>{};
}

} // namespace

supervisor_actor::behavior_type supervisor(supervisor_pointer self, supervisor_config cfg,
                                           std::vector<task_record> stored) {
  self->state.cfg = std::move(cfg);
  for (const auto& record : stored) {
    spdlog::info("task {} restored ({})", record.spec.task_id, to_string(record.state));
    spawn_task(self, record);
  }
  publish_task_counts(self);
  self->set_down_handler([=](const caf::down_msg& down) {
    // A task that quit normally was asked to (delete, shutdown); only a crash restarts it.
    if (!down.reason || down.reason == caf::exit_reason::normal || self->state.stopping)
      return;
    for (auto& [id, entry] : self->state.tasks) {
      if (entry.handle.address() != down.source || entry.deleting)
        continue;
      // A task actor died without being asked to: start it again from its last state.
      spdlog::error("task {} stopped unexpectedly ({}); restarting it", id,
                    caf::to_string(down.reason));
      auto record = entry.record;
      spawn_task(self, record);
      return;
    }
  });
  return {
      [=](atom::create, task_spec& spec) -> caf::result<std::string> {
        return create(self, std::move(spec));
      },
      [=](atom::list) -> std::vector<task_record> {
        std::vector<task_record> result;
        for (const auto& [id, entry] : self->state.tasks)
          if (!entry.deleting)
            result.push_back(entry.record);
        return result;
      },
      [=](atom::get, const std::string& id) -> caf::result<task_record> {
        auto entry = find_task(self, id);
        if (!entry)
          return entry.error();
        return (*entry)->record;
      },
      [=](atom::pause, const std::string& id) -> caf::result<void> {
        auto entry = find_task(self, id);
        if (!entry)
          return entry.error();
        return self->delegate((*entry)->handle, atom::pause_v);
      },
      [=](atom::resume, const std::string& id) -> caf::result<void> {
        auto entry = find_task(self, id);
        if (!entry)
          return entry.error();
        return self->delegate((*entry)->handle, atom::resume_v);
      },
      [=](atom::remove, const std::string& id, bool ignore_not_found) -> caf::result<void> {
        return remove(self, id, ignore_not_found);
      },
      [=](atom::position, const std::string& id) -> caf::result<std::vector<checkpoint>> {
        auto entry = find_task(self, id);
        if (!entry)
          return entry.error();
        return self->delegate((*entry)->handle, atom::position_v);
      },
      [=](atom::status, const std::string& id, task_state state, std::string& reason) {
        auto it = self->state.tasks.find(id);
        if (it == self->state.tasks.end())
          return;
        it->second.record.state = state;
        it->second.record.reason = std::move(reason);
        publish_task_counts(self);
      },
      [=](atom::progress, const std::string& id, std::vector<checkpoint>& progress) {
        if (auto it = self->state.tasks.find(id); it != self->state.tasks.end())
          it->second.record.progress = std::move(progress);
      },
      [=](atom::shutdown) -> caf::result<void> { return shutdown(self); },
  };
}

} // namespace cdc
