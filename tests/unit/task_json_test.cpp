#include "actors/base/task_json.hpp"
#include "fixtures.hpp"

#include <doctest/doctest.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

using namespace cdc;

namespace {

caf::expected<task_spec> parse(const std::string& json, size_t max_name = 255) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  REQUIRE_FALSE(doc.HasParseError());
  return parse_create_request(doc, validation_limits{max_name});
}

std::string error_of(const std::string& json) {
  auto spec = parse(json);
  REQUIRE_FALSE(spec);
  CHECK(code_of(spec.error()) == ec::invalid_argument);
  return message_of(spec.error());
}

std::string task_object(const task_record& task) {
  rapidjson::Document doc;
  write_task_object(task, doc, doc.GetAllocator());
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer{buffer};
  doc.Accept(writer);
  return buffer.GetString();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("create_request_of_the_documentation_parses") {
  auto spec = parse(R"({"milvus_connect_param": {"uri": "http://target:19530",
    "token": "root:Milvus", "connect_timeout": 10}, "collection_infos": [{"name": "*"}]})");
  REQUIRE(spec);
  CHECK(spec->target.uri == "http://target:19530");
  CHECK(spec->target.token == "root:Milvus");
  CHECK(spec->target.connect_timeout_s == 10);
  CHECK_FALSE(spec->by_database);
  REQUIRE(spec->db_collections.count("default") == 1);
  CHECK(spec->db_collections["default"].front().name == "*");
  CHECK(spec->mode == target_mode::api);
}

TEST_CASE("create_request_keys_match_case_insensitively") {
  auto spec = parse(R"({"Milvus_Connect_Param": {"URI": "https://t:443"},
    "COLLECTION_INFOS": [{"Name": "c1"}], "Target_Mode": "replicate"})");
  REQUIRE(spec);
  CHECK(spec->target.uri == "https://t:443");
  CHECK(spec->db_collections["default"].front().name == "c1");
  CHECK(spec->mode == target_mode::replicate);
}

TEST_CASE("legacy_address_form_becomes_uri_and_token") {
  auto spec = parse(R"({"milvus_connect_param": {"host": "10.0.0.5", "port": 19530,
    "username": "root", "password": "pw", "enable_tls": true},
    "collection_infos": [{"name": "c"}]})");
  REQUIRE(spec);
  CHECK(spec->target.uri == "https://10.0.0.5:19530");
  CHECK(spec->target.token == "root:pw");
  CHECK(spec->target.legacy.host == "10.0.0.5");
  CHECK(spec->target.connect_timeout_s == 5);
}

TEST_CASE("create_validation_names_the_field") {
  CHECK(contains(error_of(R"({"collection_infos": [{"name": "*"}]})"), "milvus_connect_param"));
  CHECK(contains(error_of(R"({"milvus_connect_param": {}, "collection_infos": [{"name":"*"}]})"),
                 "address"));
  CHECK(contains(error_of(R"({"milvus_connect_param": {"uri": "grpc://t:1"},
    "collection_infos": [{"name": "*"}]})"),
                 "http://"));
  CHECK(contains(error_of(R"({"milvus_connect_param": {"host": "h", "port": 1,
    "username": "u"}, "collection_infos": [{"name": "*"}]})"),
                 "password"));
  CHECK(contains(error_of(R"({"milvus_connect_param": {"uri": "http://t:1",
    "connect_timeout": -1}, "collection_infos": [{"name": "*"}]})"),
                 "connect_timeout"));
  CHECK(contains(error_of(R"({"milvus_connect_param": {"uri": "http://t:1",
    "connect_timeout": "ten"}, "collection_infos": [{"name": "*"}]})"),
                 "connect_timeout must be an integer"));
  CHECK(contains(error_of(R"({"milvus_connect_param": {"uri": "http://t:1"}})"),
                 "no collections selected"));
  CHECK(contains(error_of(R"({"milvus_connect_param": {"uri": "http://t:1"},
    "collection_infos": [{"name": "*"}], "db_collections": {"*": [{"name": "*"}]}})"),
                 "not both"));
  CHECK(contains(error_of(R"({"milvus_connect_param": {"uri": "http://t:1"},
    "db_collections": {"a": [{"name": "*"}], "b": [{"name": "*"}]}})"),
                 "exactly one database"));
  CHECK(contains(error_of(R"({"milvus_connect_param": {"uri": "http://t:1"},
    "collection_infos": [{"name": "*", "positions": {"a_1v0": "AA=="}}]})"),
                 "positions"));
  CHECK(contains(error_of(R"({"milvus_connect_param": {"uri": "http://t:1"},
    "collection_infos": [{"name": "c", "positions": {"not-a-vchannel": "AA=="}}]})"),
                 "not a virtual channel name"));
  CHECK(contains(error_of(R"({"milvus_connect_param": {"uri": "http://t:1"},
    "collection_infos": [{"name": ""}]})"),
                 "collection_infos[0].name"));
  CHECK(contains(error_of(R"({"milvus_connect_param": {"uri": "http://t:1"},
    "collection_infos": {"name": "*"}})"),
                 "must be an array"));
  CHECK(contains(error_of(R"({"milvus_connect_param": {"uri": "http://t:1"},
    "collection_infos": [{"name": "*"}], "target_mode": "fast"})"),
                 "target_mode"));
  CHECK(contains(error_of(R"({"milvus_connect_param": {"uri": "http://t:1"},
    "collection_infos": [{"name": "*"}], "task_id": "a/b"})"),
                 "task_id"));
}

TEST_CASE("over_long_names_are_refused_with_the_limit") {
  std::string name(300, 'c');
  auto spec = parse(R"({"milvus_connect_param": {"uri": "http://t:1"},
    "collection_infos": [{"name": ")" +
                    name + R"("}]})");
  REQUIRE_FALSE(spec);
  CHECK(contains(message_of(spec.error()), "at most 255"));
}

TEST_CASE("task_object_never_contains_secrets") {
  auto spec = parse(R"({"milvus_connect_param": {"host": "h", "port": 5,
    "username": "root", "password": "hunter2", "dial_config": {"server_name": "s",
    "client_key_path": "/keys/client.key"}}, "collection_infos": [{"name": "c"}],
    "name_mapping": [{"source_db": "default", "target_db": "d2",
                      "collection_mapping": {"c": "c2"}}]})");
  REQUIRE(spec);
  auto json = task_object({*spec, task_state::running, {}});
  CHECK_FALSE(contains(json, "hunter2"));
  CHECK_FALSE(contains(json, "root:hunter2"));
  CHECK_FALSE(contains(json, "client.key"));
  CHECK(contains(json, R"("username":"root")"));
  CHECK(contains(json, R"("collection_mapping":{"c":"c2"})"));
  CHECK(contains(json, R"("state":"Running")"));
  CHECK_FALSE(contains(json, "reason"));
}

TEST_CASE("task_object_shows_the_reason_of_a_paused_task") {
  auto json = task_object({test::sample_spec("a"), task_state::paused, "target refused"});
  CHECK(contains(json, R"("reason":"target refused")"));
}

TEST_CASE("stored_form_round_trips_everything") {
  auto spec = parse(R"({"task_id": "t-1", "milvus_connect_param": {"host": "h", "port": 5,
    "username": "root", "password": "pw", "channel_num": 4, "ignore_partition": true,
    "dial_config": {"ca_pem_path": "/ca.pem"}},
    "db_collections": {"db1": [{"name": "c", "use_start_position": true,
      "positions": {"by-dev-rootcoord-dml_3_45v0": "AAAA"}}]},
    "extra_info": {"enable_user_role": true}, "disable_auto_start": true,
    "target_mode": "replicate"})");
  REQUIRE(spec);
  task_record task{*spec, task_state::paused, "created paused"};
  auto back = from_storage_json(to_storage_json(task));
  REQUIRE(back);
  CHECK(*back == task);
}

TEST_CASE("virtual_channel_names_are_recognised") {
  CHECK(is_virtual_channel_name("by-dev-rootcoord-dml_3_453284834843284v0"));
  CHECK(is_virtual_channel_name("p_1v12"));
  CHECK_FALSE(is_virtual_channel_name("by-dev-rootcoord-dml_3"));
  CHECK_FALSE(is_virtual_channel_name("by-dev-rootcoord-dml_3_45v"));
  CHECK_FALSE(is_virtual_channel_name("_45v0"));
}

TEST_CASE("selections_overlap_only_for_the_same_target") {
  auto a = test::sample_spec("a", "http://one:1");
  auto b = test::sample_spec("b", "http://two:1");
  CHECK_FALSE(selections_overlap(a, b));
  b.target.uri = a.target.uri;
  CHECK(selections_overlap(a, b));
  a.db_collections = {{"default", {collection_ref{"c1", {}, false}}}};
  b.db_collections = {{"default", {collection_ref{"c2", {}, false}}}};
  CHECK_FALSE(selections_overlap(a, b));
  b.db_collections = {{"*", {collection_ref{"c1", {}, false}}}};
  CHECK(selections_overlap(a, b));
}
