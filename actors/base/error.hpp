#pragma once

#include <caf/error.hpp>
#include <caf/make_message.hpp>

#include <cstdint>
#include <string>

namespace cdc {

/// The project's error codes. Each one maps to one HTTP status in the control API.
enum class ec : uint8_t {
  /// Not an error.
  none = 0,
  /// The request is malformed or fails validation (HTTP 400).
  invalid_argument,
  /// No task with that id (HTTP 404).
  task_not_found,
  /// The task is not in a state that allows the operation (HTTP 400).
  invalid_transition,
  /// The target Milvus could not be reached or refused us (HTTP 500).
  target_unreachable,
  /// RocksDB failed (HTTP 500).
  storage_failure,
  /// The target refused a change (after the retries the error allows).
  target_refused,
  /// A WAL record that cannot be decoded; the message names topic, offset and reason.
  undecodable_record,
  /// A WAL record in a format not supported yet (Milvus 2.6).
  unsupported_format,
  /// Anything else that should not happen (HTTP 500).
  internal,
  /// A server of the chain (the target, the source's API) did not answer or was not ready,
  /// after the retries of one call: a later try may succeed (the task restarts its pipeline
  /// from the checkpoints instead of pausing).
  unavailable,
};

/// True for the errors a later try may get past (ec::unavailable).
bool retryable(const caf::error& err);

/// The category atom under which CAF carries our errors.
constexpr caf::atom_value ec_category = caf::atom("cdc");

/// The name of an error code, for logs and metrics.
const char* to_string(ec code);

/// Makes a CAF error of our category with a human-readable message that says what to fix.
caf::error make_error(ec code, std::string message);

/// Our code of `err`, or `ec::internal` when it is an error of another category.
ec code_of(const caf::error& err);

/// The human-readable message of `err` (ours or CAF's).
std::string message_of(const caf::error& err);

/// Renders our errors for CAF's `to_string(caf::error)`; register with
/// `cfg.add_error_category(ec_category, render_error)`.
std::string render_error(uint8_t code, caf::atom_value category, const caf::message& context);

} // namespace cdc
