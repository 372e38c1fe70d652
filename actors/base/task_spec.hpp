#pragma once

// The data of the control plane: what a CDC task is, as created over HTTP, stored in
// RocksDB and carried in actor messages. Plain structs, no behaviour beyond comparisons.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cdc {

/// Life cycle of a task: Initial -> Running <-> Paused; delete from any state.
enum class task_state : uint8_t { initial, running, paused };

/// "Initial", "Running" or "Paused": the spelling of the control API.
const char* to_string(task_state state);

/// How changes are applied to the target (see spec/target.md).
enum class target_mode : uint8_t {
  /// Public RPCs (Insert/Delete/Upsert, DDL); the target stays a normal Milvus.
  api,
  /// ReplicateMessage to a standby that runs with common.ttMsgEnabled=false.
  replicate,
};

/// "api" or "replicate".
const char* to_string(target_mode mode);

/// TLS files on the CDC host for dialing the target.
struct dial_config {
  std::string server_name;
  std::string server_pem_path;
  std::string ca_pem_path;
  std::string client_pem_path;
  std::string client_key_path;
  bool operator==(const dial_config&) const = default;
};

/// The legacy form of the target address, remembered only to echo it back.
struct legacy_address {
  std::string host;
  int64_t port = 0;
  std::string username;
  bool enable_tls = false;
  bool operator==(const legacy_address&) const = default;
};

/// `milvus_connect_param`: where the target Milvus is and how to reach it.
struct target_params {
  /// http://host:port or https://host:port (https means TLS).
  std::string uri;
  /// user:password or an API key; a secret: never returned, never logged.
  std::string token;
  int64_t connect_timeout_s = 5;
  dial_config dial;
  /// The target's rootCoord.dmlChannelNum (replicate mode only); 0 when not given.
  int64_t channel_num = 0;
  bool ignore_partition = false;
  /// Filled (host not empty) when the request used host/port/username/password instead of
  /// uri/token; kept only to echo the request back.
  legacy_address legacy;
  bool operator==(const target_params&) const = default;
};

/// One entry of `collection_infos`: a collection name or "*".
struct collection_ref {
  std::string name;
  /// vchannel -> base64 MsgPosition to start from; not allowed with "*".
  std::map<std::string, std::string> positions;
  bool use_start_position = false;
  bool operator==(const collection_ref&) const = default;
};

/// `name_mapping`: rename a database and some of its collections on the target.
struct name_mapping {
  std::string source_db;
  std::string target_db;
  std::map<std::string, std::string> collection_mapping;
  bool operator==(const name_mapping&) const = default;
};

/// Everything given at create: what to replicate, where to, and how.
struct task_spec {
  std::string task_id;
  target_params target;
  /// True when the request used `db_collections`, false for `collection_infos`.
  bool by_database = false;
  /// database ("*" = all) -> collections; `collection_infos` is stored as {"default": ...}.
  std::map<std::string, std::vector<collection_ref>> db_collections;
  std::vector<name_mapping> name_mappings;
  bool enable_user_role = false;
  target_mode mode = target_mode::api;
  bool disable_auto_start = false;
  bool operator==(const task_spec&) const = default;
};

/// Progress of one source channel, written only after the target acknowledged it.
struct checkpoint {
  /// Physical channel (Kafka topic), e.g. by-dev-rootcoord-dml_0.
  std::string channel;
  /// Kafka offset of the last applied record.
  int64_t offset = -1;
  /// Hybrid timestamp of the last applied record: (physical_ms << 18) | logical.
  uint64_t timestamp = 0;
  bool operator==(const checkpoint&) const = default;
};

/// A task as it is kept: its spec and where it is in its life cycle.
struct task_record {
  task_record() = default;
  task_record(task_spec spec_, task_state state_ = task_state::initial, std::string reason_ = {})
      : spec(std::move(spec_)), state(state_), reason(std::move(reason_)) {}

  task_spec spec;
  task_state state = task_state::initial;
  /// Why the task is paused; empty otherwise.
  std::string reason;
  /// The checkpoints as the task last reported them (shown by list/get; stored apart).
  std::vector<checkpoint> progress;
  bool operator==(const task_record&) const = default;
};

/// The database a `collection_infos` selection refers to.
inline constexpr std::string_view default_database = "default";

/// True when both tasks would replicate some collection to the same target.
bool selections_overlap(const task_spec& a, const task_spec& b);

} // namespace cdc
