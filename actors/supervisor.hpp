#pragma once

#include "actors/actors.hpp"
#include "actors/task.hpp"

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace cdc {

class store;

namespace metrics {
class registry;
}

/// What the supervisor needs from the rest of the server.
struct supervisor_config {
  /// max_task_num: creates beyond it are refused.
  size_t max_tasks = 100;
  std::shared_ptr<store> db;
  target_dialer_actor dialer;
  /// Optional; receives the cdc_tasks gauges.
  std::shared_ptr<metrics::registry> metrics;
  /// What task pipelines need; tasks without it only track their state.
  std::shared_ptr<const pipeline_config> pipeline;
};

/// State of the supervisor: the tasks it owns and the creates still dialing their target.
struct supervisor_state {
  static constexpr const char* name = "supervisor";

  struct entry {
    /// The task as its actor last reported it.
    task_record record;
    task_actor handle;
    /// A delete is under way: the task actor is stopping.
    bool deleting = false;
  };

  supervisor_config cfg;
  std::map<std::string, entry> tasks;
  /// A create that passed validation and waits for its target to answer.
  struct pending_create {
    task_spec spec;
    /// The request itself and any identical create (same task_id, same parameters) that
    /// arrived meanwhile: all get the same answer.
    std::vector<caf::typed_response_promise<std::string>> waiting;
  };

  /// Pending creates count against the task limit and block their id and collections, so
  /// two concurrent creates never both succeed where only one may.
  std::map<std::string, pending_create> creating;
  /// Shutdown is under way: stopped tasks are not restarted.
  bool stopping = false;
};

/// Spawns one task actor for each task in `stored` (loaded from storage at start) and then
/// serves the control API.
supervisor_actor::behavior_type
supervisor(supervisor_actor::stateful_pointer<supervisor_state> self, supervisor_config cfg,
           std::vector<task_record> stored);

} // namespace cdc
