#include "actors/server/config.hpp"
#include "fixtures.hpp"

#include <doctest/doctest.h>

#include <fstream>

using namespace cdc;

namespace {

caf::expected<server_config> load(const test::temp_dir& dir, const std::string& yaml) {
  auto file = dir.path / "cdc.yaml";
  std::ofstream{file} << yaml;
  return load_config_file(file.string());
}

std::string error_of(const test::temp_dir& dir, const std::string& yaml) {
  auto cfg = load(dir, yaml);
  REQUIRE_FALSE(cfg);
  return message_of(cfg.error());
}

} // namespace

TEST_CASE("config_file_overrides_defaults") {
  test::temp_dir dir;
  auto cfg = load(dir, R"(listen: 127.0.0.1:9000
data_dir: /var/lib/cdc
log_level: debug
max_task_num: 7
source:
  kafka:
    brokers: k1:9092,k2:9092
    options:
      security.protocol: SASL_SSL
      sasl.mechanism: PLAIN
  milvus:
    uri: http://src:19530
    token: root:Milvus
  cluster_prefix: prod
  dml_channel_num: 4
  replicate_channel: prod-replicate-msg
http:
  max_body_bytes: 2048
limits:
  max_name_length: 64
  read_batch_bytes: 1000
  inflight_bytes: 5000
)");
  REQUIRE(cfg);
  CHECK(cfg->listen_host == "127.0.0.1");
  CHECK(cfg->listen_port == 9000);
  CHECK(cfg->data_dir == "/var/lib/cdc");
  CHECK(cfg->log_level == "debug");
  CHECK(cfg->max_task_num == 7);
  CHECK(cfg->source.kafka_brokers == "k1:9092,k2:9092");
  CHECK(cfg->source.kafka_options.at("security.protocol") == "SASL_SSL");
  CHECK(cfg->source.milvus_token == "root:Milvus");
  CHECK(cfg->source.cluster_prefix == "prod");
  CHECK(cfg->source.dml_channel_num == 4);
  CHECK(cfg->http_max_body_bytes == 2048);
  CHECK(cfg->max_name_length == 64);
  CHECK(cfg->read_batch_bytes == 1000);
  CHECK(cfg->inflight_bytes == 5000);
}

TEST_CASE("empty_config_file_keeps_defaults") {
  test::temp_dir dir;
  auto cfg = load(dir, "");
  REQUIRE(cfg);
  CHECK(cfg->listen_port == 8444);
  CHECK(cfg->data_dir == "./cdc-data");
  CHECK(cfg->max_task_num == 100);
}

TEST_CASE("config_errors_name_the_key") {
  test::temp_dir dir;
  auto msg = error_of(dir, "source:\n  kafak:\n    brokers: x\n");
  CHECK(msg.find("source.kafak") != std::string::npos);
  msg = error_of(dir, "max_task_num: many\n");
  CHECK(msg.find("max_task_num") != std::string::npos);
  CHECK(msg.find("integer") != std::string::npos);
  msg = error_of(dir, "log_level: loud\n");
  CHECK(msg.find("log_level") != std::string::npos);
  msg = error_of(dir, "listen: nowhere\n");
  CHECK(msg.find("listen") != std::string::npos);
  msg = error_of(dir, "source: 5\n");
  CHECK(msg.find("'source' must be a map") != std::string::npos);
  msg = error_of(dir, "data_dir: [a, b]\n");
  CHECK(msg.find("data_dir") != std::string::npos);
  msg = error_of(dir, "limits:\n  read_batch_bytes: 0\n");
  CHECK(msg.find("'limits.read_batch_bytes' must be at least 1") != std::string::npos);
  msg = error_of(dir, "limits:\n  read_batch_bytes: 2000\n  inflight_bytes: 1000\n");
  CHECK(msg.find("'limits.inflight_bytes' must be at least 'limits.read_batch_bytes' (2000)") !=
        std::string::npos);
}

TEST_CASE("unreadable_config_file_is_an_error") {
  auto cfg = load_config_file("/nonexistent/cdc.yaml");
  REQUIRE_FALSE(cfg);
  CHECK(message_of(cfg.error()).find("/nonexistent/cdc.yaml") != std::string::npos);
}

TEST_CASE("listen_accepts_host_and_port_only") {
  server_config cfg;
  CHECK_FALSE(set_listen(cfg, "0.0.0.0:8444", "--listen"));
  CHECK(set_listen(cfg, "8444", "--listen"));
  CHECK(set_listen(cfg, "h:0", "--listen"));
  CHECK(set_listen(cfg, "h:70000", "--listen"));
  CHECK(set_listen(cfg, ":80", "--listen"));
}
