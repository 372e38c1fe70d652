#pragma once

// JSON forms of a task: the `request_data` of a create request (parsed and validated), the
// task object of list/get (secrets left out), and the stored form (secrets kept).

#include "actors/base/task_spec.hpp"

#include <caf/expected.hpp>
#include <rapidjson/document.h>

#include <cstddef>
#include <string>

namespace cdc {

/// Limits that validation enforces; they come from the configuration.
struct validation_limits {
  size_t max_name_length = 255;
};

/// Parses and validates the `request_data` of a create request. Keys are matched
/// case-insensitively, unknown keys are ignored. Errors are `ec::invalid_argument` with a
/// message that names the offending field.
caf::expected<task_spec> parse_create_request(const rapidjson::Value& request_data,
                                              const validation_limits& limits);

/// Writes the task object of the control API (list/get): secrets are never included.
void write_task_object(const task_record& task, rapidjson::Value& out,
                       rapidjson::Document::AllocatorType& alloc);

/// The stored form of a task: the task object plus the secrets needed to dial the target.
std::string to_storage_json(const task_record& task);

/// Reads back what `to_storage_json` wrote.
caf::expected<task_record> from_storage_json(const std::string& json);

/// Looks up `key` in `object` ignoring ASCII case; nullptr when absent.
const rapidjson::Value* find_member(const rapidjson::Value& object, std::string_view key);

/// True when `name` is a virtual channel name: `<pchannel>_<collectionID>v<shard>`.
bool is_virtual_channel_name(std::string_view name);

} // namespace cdc
