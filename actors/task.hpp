#pragma once

#include "actors/actors.hpp"

#include <memory>

namespace cdc {

class store;

/// State of a task actor: the task as stored, and where to report.
struct task_actor_state {
  static constexpr const char* name = "task";
  task_record record;
  std::shared_ptr<store> db;
  supervisor_actor supervisor;
};

/// Runs one CDC task. Starts it right away when its stored state is Initial or Running; a
/// Paused task waits for `resume`.
task_actor::behavior_type task(task_actor::stateful_pointer<task_actor_state> self,
                               task_record record, std::shared_ptr<store> db,
                               supervisor_actor supervisor);

} // namespace cdc
