#pragma once

// The server's configuration: defaults, the YAML file (`--config`), and the command-line
// overrides. deploy/cdc.yaml documents every key.

#include <caf/expected.hpp>

#include <cstdint>
#include <map>
#include <string>

namespace cdc {

/// The source Milvus whose write-ahead log is replicated.
struct source_config {
  /// Kafka bootstrap servers, comma separated.
  std::string kafka_brokers = "127.0.0.1:9092";
  /// Passed to librdkafka as is (security.protocol, sasl.*, ssl.*, ...).
  std::map<std::string, std::string> kafka_options;
  /// The source's public API, used to describe databases, collections and schemas.
  std::string milvus_uri = "http://127.0.0.1:19530";
  /// user:password or an API key; never logged.
  std::string milvus_token;
  /// msgChannel.chanNamePrefix.cluster of the source.
  std::string cluster_prefix = "by-dev";
  /// rootCoord.dmlChannelNum of the source.
  int64_t dml_channel_num = 16;
  /// The replicate channel (DDL/DCL that does not travel on the DML topics).
  std::string replicate_channel = "by-dev-replicate-msg";
};

struct server_config {
  std::string listen_host = "0.0.0.0";
  uint16_t listen_port = 8444;
  std::string data_dir = "./cdc-data";
  /// trace|debug|info|warn|error
  std::string log_level = "info";
  int64_t max_task_num = 100;
  source_config source;
  /// Request bodies larger than this are refused with 400 before they are parsed.
  int64_t http_max_body_bytes = 1 << 20;
  /// Longest database or collection name accepted at create.
  int64_t max_name_length = 255;
  /// Bytes of WAL records a reader hands its writer at once (a record larger than this goes
  /// alone), and bytes of records read but not yet applied per task (the reader waits).
  int64_t read_batch_bytes = int64_t{8} << 20;
  int64_t inflight_bytes = int64_t{64} << 20;
  /// Retries (section retry:): attempts of one target call, its backoff, and the backoff of
  /// a pipeline that starts again from its checkpoints after a server of the chain was down.
  int64_t retry_attempts = 5;
  int64_t retry_backoff_ms = 200;
  int64_t retry_max_backoff_ms = 10000;
  int64_t restart_delay_ms = 1000;
  int64_t max_restart_delay_ms = 30000;
  /// Restarts in a row (each pipeline failing soon after its start) before the task pauses;
  /// 0 = no limit.
  int64_t max_restarts = 0;
};

/// Reads a YAML configuration file over the defaults. Unknown keys, values of the wrong
/// type, invalid values and an unreadable file are errors whose message names the file and
/// the key.
caf::expected<server_config> load_config_file(const std::string& path);

/// Sets listen_host/listen_port from "HOST:PORT"; an error message names `what`.
caf::error set_listen(server_config& cfg, const std::string& host_port, const std::string& what);

/// True for the log levels the server knows.
bool valid_log_level(const std::string& level);

} // namespace cdc
