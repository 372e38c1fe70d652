#include "actors/task.hpp"

#include "storage/store.hpp"

#include <spdlog/spdlog.h>

namespace cdc {

namespace {

using task_pointer = task_actor::stateful_pointer<task_actor_state>;

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
  self->send(self->state.supervisor, atom::status_v, self->state.record.spec.task_id, to,
             self->state.record.reason);
  return {};
}

/// Brings the task to Running. The reader, transformer and writer of the pipeline are
/// spawned here once they exist; until then Running means the task is armed.
caf::error start(task_pointer self) {
  return transition(self, task_state::running, {});
}

} // namespace

task_actor::behavior_type task(task_pointer self, task_record record, std::shared_ptr<store> db,
                               supervisor_actor supervisor) {
  self->state.record = std::move(record);
  self->state.db = std::move(db);
  self->state.supervisor = std::move(supervisor);
  if (self->state.record.state != task_state::paused) {
    // Initial: created (or crashed right after create) and never started; Running: it was
    // running when the server stopped. Both continue.
    if (auto err = start(self))
      spdlog::error("task {}: cannot start: {}", self->state.record.spec.task_id, message_of(err));
  }
  return {
      [=](atom::pause) -> caf::result<void> {
        const auto& id = self->state.record.spec.task_id;
        if (self->state.record.state == task_state::paused)
          return make_error(ec::invalid_transition, "task " + id + " is already paused");
        if (auto err = transition(self, task_state::paused, "paused by request"))
          return err;
        return caf::unit;
      },
      [=](atom::resume) -> caf::result<void> {
        const auto& id = self->state.record.spec.task_id;
        if (self->state.record.state == task_state::running)
          return make_error(ec::invalid_transition, "task " + id + " is already running");
        if (auto err = start(self))
          return err;
        return caf::unit;
      },
      [=](atom::position) -> caf::result<std::vector<checkpoint>> {
        auto checkpoints = self->state.db->checkpoints(self->state.record.spec.task_id);
        if (!checkpoints)
          return checkpoints.error();
        return std::move(*checkpoints);
      },
      [=](atom::shutdown) -> caf::result<void> {
        // Nothing is in flight yet; the pipeline's last checkpoints are written here later.
        self->quit();
        return caf::unit;
      },
  };
}

} // namespace cdc
