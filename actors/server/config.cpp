#include "actors/server/config.hpp"

#include "actors/base/error.hpp"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <functional>
#include <set>

namespace cdc {

namespace {

/// What a leaf key holds and where its value goes.
struct key_rule {
  enum class kind { string, integer, string_map } type;
  std::function<void(server_config&, const YAML::Node&)> apply;
};

std::string scalar(const YAML::Node& node) {
  return node.Scalar();
}

int64_t integer(const YAML::Node& node) {
  return node.as<int64_t>();
}

const std::map<std::string, key_rule>& rules() {
  using kind = key_rule::kind;
  static const std::map<std::string, key_rule> table{
      {"listen", {kind::string, [](server_config&, const YAML::Node&) {}}}, // handled by caller
      {"data_dir", {kind::string, [](auto& c, auto& n) { c.data_dir = scalar(n); }}},
      {"log_level", {kind::string, [](auto& c, auto& n) { c.log_level = scalar(n); }}},
      {"max_task_num", {kind::integer, [](auto& c, auto& n) { c.max_task_num = integer(n); }}},
      {"source.kafka.brokers",
       {kind::string, [](auto& c, auto& n) { c.source.kafka_brokers = scalar(n); }}},
      {"source.kafka.options",
       {kind::string_map,
        [](auto& c, auto& n) {
          for (const auto& item : n)
            c.source.kafka_options[item.first.Scalar()] = item.second.Scalar();
        }}},
      {"source.milvus.uri",
       {kind::string, [](auto& c, auto& n) { c.source.milvus_uri = scalar(n); }}},
      {"source.milvus.token",
       {kind::string, [](auto& c, auto& n) { c.source.milvus_token = scalar(n); }}},
      {"source.cluster_prefix",
       {kind::string, [](auto& c, auto& n) { c.source.cluster_prefix = scalar(n); }}},
      {"source.dml_channel_num",
       {kind::integer, [](auto& c, auto& n) { c.source.dml_channel_num = integer(n); }}},
      {"source.replicate_channel",
       {kind::string, [](auto& c, auto& n) { c.source.replicate_channel = scalar(n); }}},
      {"http.max_body_bytes",
       {kind::integer, [](auto& c, auto& n) { c.http_max_body_bytes = integer(n); }}},
      {"limits.max_name_length",
       {kind::integer, [](auto& c, auto& n) { c.max_name_length = integer(n); }}},
      {"limits.read_batch_bytes",
       {kind::integer, [](auto& c, auto& n) { c.read_batch_bytes = integer(n); }}},
      {"limits.inflight_bytes",
       {kind::integer, [](auto& c, auto& n) { c.inflight_bytes = integer(n); }}},
      {"retry.attempts", {kind::integer, [](auto& c, auto& n) { c.retry_attempts = integer(n); }}},
      {"retry.backoff_ms",
       {kind::integer, [](auto& c, auto& n) { c.retry_backoff_ms = integer(n); }}},
      {"retry.max_backoff_ms",
       {kind::integer, [](auto& c, auto& n) { c.retry_max_backoff_ms = integer(n); }}},
      {"retry.restart_delay_ms",
       {kind::integer, [](auto& c, auto& n) { c.restart_delay_ms = integer(n); }}},
      {"retry.max_restart_delay_ms",
       {kind::integer, [](auto& c, auto& n) { c.max_restart_delay_ms = integer(n); }}},
      {"retry.max_restarts",
       {kind::integer, [](auto& c, auto& n) { c.max_restarts = integer(n); }}},
  };
  return table;
}

/// Sections are maps of further keys.
const std::set<std::string>& sections() {
  static const std::set<std::string> names{"source", "source.kafka", "source.milvus",
                                           "http",   "limits",       "retry"};
  return names;
}

std::string known_keys_under(const std::string& prefix) {
  std::set<std::string> names;
  for (const auto& [key, rule] : rules())
    if (key.starts_with(prefix)) {
      auto rest = key.substr(prefix.size());
      names.insert(rest.substr(0, rest.find('.')));
    }
  std::string out;
  for (const auto& name : names)
    out += (out.empty() ? "" : ", ") + name;
  return out;
}

caf::error config_error(const std::string& file, const std::string& message) {
  return make_error(ec::invalid_argument, "configuration " + file + ": " + message);
}

caf::error walk(const YAML::Node& map, const std::string& prefix, const std::string& file,
                server_config& cfg) {
  for (const auto& item : map) {
    if (!item.first.IsScalar())
      return config_error(file, "keys must be plain names");
    auto key = prefix + item.first.Scalar();
    const auto& value = item.second;
    if (sections().count(key) > 0) {
      if (value.IsNull())
        continue;
      if (!value.IsMap())
        return config_error(file, "'" + key + "' must be a map of keys (" +
                                      known_keys_under(key + ".") + ")");
      if (auto err = walk(value, key + ".", file, cfg))
        return err;
      continue;
    }
    auto rule = rules().find(key);
    if (rule == rules().end())
      return config_error(file, "unknown key '" + key +
                                    "'; known keys here: " + known_keys_under(prefix));
    switch (rule->second.type) {
    case key_rule::kind::string:
      if (!value.IsScalar())
        return config_error(file, "'" + key + "' must be a string");
      break;
    case key_rule::kind::integer: {
      int64_t parsed = 0;
      if (!value.IsScalar() || !YAML::convert<int64_t>::decode(value, parsed))
        return config_error(file, "'" + key + "' must be an integer, got '" +
                                      (value.IsScalar() ? value.Scalar() : "a non-scalar") + "'");
      break;
    }
    case key_rule::kind::string_map:
      if (!value.IsMap() && !value.IsNull())
        return config_error(file, "'" + key + "' must be a map of option names to values");
      for (const auto& option : value)
        if (!option.second.IsScalar())
          return config_error(file,
                              "'" + key + "." + option.first.Scalar() + "' must be a single value");
      break;
    }
    if (key == "listen") {
      if (auto err = set_listen(cfg, value.Scalar(), "configuration " + file + ": 'listen'"))
        return err;
      continue;
    }
    rule->second.apply(cfg, value);
  }
  return {};
}

caf::error validate(const server_config& cfg, const std::string& file) {
  if (!valid_log_level(cfg.log_level))
    return config_error(file, "'log_level' must be one of trace, debug, info, warn, error; got '" +
                                  cfg.log_level + "'");
  if (cfg.max_task_num < 1)
    return config_error(file, "'max_task_num' must be at least 1");
  if (cfg.data_dir.empty())
    return config_error(file, "'data_dir' must not be empty");
  if (cfg.source.dml_channel_num < 1)
    return config_error(file, "'source.dml_channel_num' must be at least 1");
  if (cfg.http_max_body_bytes < 1024)
    return config_error(file, "'http.max_body_bytes' must be at least 1024");
  if (cfg.max_name_length < 1)
    return config_error(file, "'limits.max_name_length' must be at least 1");
  if (cfg.read_batch_bytes < 1)
    return config_error(file, "'limits.read_batch_bytes' must be at least 1");
  if (cfg.inflight_bytes < cfg.read_batch_bytes)
    return config_error(file,
                        "'limits.inflight_bytes' must be at least 'limits.read_batch_bytes' (" +
                            std::to_string(cfg.read_batch_bytes) + ")");
  if (cfg.retry_attempts < 1)
    return config_error(file, "'retry.attempts' must be at least 1");
  if (cfg.retry_backoff_ms < 1 || cfg.retry_max_backoff_ms < cfg.retry_backoff_ms)
    return config_error(file, "'retry.backoff_ms' must be at least 1 and 'retry.max_backoff_ms' "
                              "at least 'retry.backoff_ms'");
  if (cfg.restart_delay_ms < 1 || cfg.max_restart_delay_ms < cfg.restart_delay_ms)
    return config_error(file, "'retry.restart_delay_ms' must be at least 1 and "
                              "'retry.max_restart_delay_ms' at least 'retry.restart_delay_ms'");
  if (cfg.max_restarts < 0)
    return config_error(file, "'retry.max_restarts' must be 0 (no limit) or more");
  return {};
}

} // namespace

bool valid_log_level(const std::string& level) {
  static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error"};
  return levels.count(level) > 0;
}

caf::error set_listen(server_config& cfg, const std::string& host_port, const std::string& what) {
  auto colon = host_port.rfind(':');
  auto bad = [&] {
    return make_error(ec::invalid_argument,
                      what + " must be HOST:PORT (e.g. 0.0.0.0:8444), got '" + host_port + "'");
  };
  if (colon == std::string::npos || colon == 0)
    return bad();
  int port = 0;
  const char* first = host_port.data() + colon + 1;
  const char* last = host_port.data() + host_port.size();
  auto [end, errc] = std::from_chars(first, last, port);
  if (errc != std::errc{} || end != last || port < 1 || port > 65535)
    return bad();
  cfg.listen_host = host_port.substr(0, colon);
  cfg.listen_port = static_cast<uint16_t>(port);
  return {};
}

caf::expected<server_config> load_config_file(const std::string& path) {
  server_config cfg;
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return make_error(ec::invalid_argument, "cannot read configuration file '" + path + "'");
  } catch (const YAML::Exception& e) {
    return config_error(path, std::string{"not valid YAML: "} + e.what());
  }
  if (root.IsNull())
    return cfg; // an empty file: all defaults
  if (!root.IsMap())
    return config_error(path, "the top level must be a map of keys");
  if (auto err = walk(root, "", path, cfg))
    return err;
  if (auto err = validate(cfg, path))
    return err;
  return cfg;
}

} // namespace cdc
