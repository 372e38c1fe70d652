#include "actors/reader/decode.hpp"

#include "proto/position.hpp"
#include "wal_records.hpp"

#include "milvus.pb.h"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <tuple>

using namespace cdc;
using namespace cdc::test;
using cdc::wal::decode;
using cdc::wal::event;
using cdc::wal::primary_keys;

namespace mpb = ::milvus::proto::milvus;

namespace {

constexpr uint64_t ts1 = (uint64_t{1'700'000'000'000} << 18) | 3;
const std::string vch = "by-dev-rootcoord-dml_0_4001v0";

/// The error message of a failed decode, "" when it succeeded.
std::string decode_error(const wal::raw_record& record, ec* code = nullptr) {
  auto ev = decode(record);
  if (ev)
    return "";
  if (code)
    *code = code_of(ev.error());
  return message_of(ev.error());
}

std::string error_text(const caf::error& err) {
  return err ? message_of(err) : "";
}

rapidjson::Document json(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse(text.data(), text.size());
  REQUIRE_FALSE(doc.HasParseError());
  return doc;
}

std::string type_param(const pb::schema::FieldSchema& f, const std::string& key) {
  for (auto& kv : f.type_params())
    if (kv.key() == key)
      return kv.value();
  return "";
}

const pb::schema::FieldData* find_column(const pb::msg::InsertRequest& insert,
                                         const std::string& name) {
  for (auto& f : insert.fields_data())
    if (f.field_name() == name)
      return &f;
  return nullptr;
}

} // namespace

// -- decode: framing and errors ------------------------------------------------------------

TEST_CASE("decode_fills_the_event_of_an_insert") {
  auto insert = make_insert(
      4001, vch, 3, ts1,
      {int64_column("pk", 100, {7, 8, 9}), float_vector_column("vec", 101, 2, {1, 2, 3, 4, 5, 6})});
  insert.set_db_name("db1");
  insert.set_collection_name("c1");
  auto record = make_record(insert, "by-dev-rootcoord-dml_0", 17);
  auto ev = decode(record);
  REQUIRE_MESSAGE(ev, message_of(ev.error()));
  CHECK(ev->type == pb::common::Insert);
  CHECK(ev->topic == "by-dev-rootcoord-dml_0");
  CHECK(ev->offset == 17);
  CHECK(ev->timestamp == ts1);
  CHECK(cdc::milvus::physical_ms(ev->timestamp) == 1'700'000'000'000);
  CHECK(ev->collection_id == 4001);
  CHECK(ev->shard_name == vch);
  CHECK(ev->db_name == "db1");
  CHECK(ev->collection_name == "c1");
  CHECK(ev->bytes == record.value.size());
  auto* body = ev->as<pb::msg::InsertRequest>();
  REQUIRE(body != nullptr);
  CHECK(ev->as<pb::msg::DeleteRequest>() == nullptr);
  CHECK(wal::row_count(*body) == 3);
  CHECK(error_text(wal::validate_insert(*body)) == "");
  CHECK(body->fields_data(0).scalars().long_data().data(2) == 9);
  CHECK(body->fields_data(1).vectors().float_vector().data(5) == 6.0f);
}

TEST_CASE("insert_and_delete_time_is_their_largest_row_timestamp") {
  // Milvus 2.3.5 writes the Insert half of an upsert with base.timestamp 0.
  auto insert = make_insert(4001, vch, 2, 0, {int64_column("pk", 100, {1, 2})});
  insert.set_timestamps(0, ts1);
  insert.set_timestamps(1, ts1 + 1);
  auto ev = decode(make_record(insert));
  REQUIRE(ev);
  CHECK(ev->timestamp == ts1 + 1);

  pb::msg::DeleteRequest del;
  set_base(del, pb::common::Delete, 0);
  del.mutable_primary_keys()->mutable_int_id()->add_data(1);
  del.add_timestamps(ts1 + 1);
  del.set_num_rows(1);
  auto dev = decode(make_record(del));
  REQUIRE(dev);
  CHECK(dev->timestamp == ts1 + 1);

  // without row timestamps, base.timestamp
  del.clear_timestamps();
  del.mutable_base()->set_timestamp(ts1 + 5);
  dev = decode(make_record(del));
  REQUIRE(dev);
  CHECK(dev->timestamp == ts1 + 5);
}

TEST_CASE("decode_trusts_base_msg_type_over_the_msg_type_header") {
  pb::msg::DeleteRequest del;
  set_base(del, pb::common::Delete, ts1);
  del.set_shardname(vch);
  del.set_collectionid(4001);
  del.mutable_primary_keys()->mutable_str_id()->add_data("a");
  auto ev = decode(make_record(del, "by-dev-rootcoord-dml_0", 5,
                               {{"traceparent", "00-abc-def-01"}, {"msg_type", "Insert"}}));
  REQUIRE_MESSAGE(ev, message_of(ev.error()));
  CHECK(ev->type == pb::common::Delete);
  REQUIRE(ev->as<pb::msg::DeleteRequest>() != nullptr);
  CHECK(wal::delete_keys(*ev->as<pb::msg::DeleteRequest>()).strings ==
        std::vector<std::string>{"a"});
  // an agreeing header changes nothing either
  ev = decode(make_record(del, "t", 5, {{"msg_type", "Delete"}}));
  REQUIRE(ev);
  CHECK(ev->type == pb::common::Delete);
}

TEST_CASE("a_2_6_record_is_reported_as_unsupported") {
  pb::msg::TimeTickMsg tt;
  set_base(tt, pb::common::TimeTick, ts1);
  ec code = ec::none;
  auto msg = decode_error(
      make_record(tt, "by-dev-rootcoord-dml_4", 123, {{"_v", "1"}, {"_t", "2"}, {"_tt", "abc"}}),
      &code);
  CHECK(code == ec::unsupported_format);
  CHECK(msg == "topic by-dev-rootcoord-dml_4 offset 123: Milvus 2.6 record format (header "
               "_v=1) is not supported yet");
  // whatever the value holds: 2.6 bodies are not legacy payloads
  wal::raw_record odd{"t", 9, {{"_v", std::string("\x02\xff", 2)}}, "garbage"};
  msg = decode_error(odd, &code);
  CHECK(code == ec::unsupported_format);
  CHECK(msg == "topic t offset 9: Milvus 2.6 record format (header _v=\\x02\\xff) is not "
               "supported yet");
}

TEST_CASE("undecodable_records_name_topic_offset_and_reason") {
  ec code = ec::none;
  auto msg = decode_error(wal::raw_record{"by-dev-rootcoord-dml_1", 77, {}, ""}, &code);
  CHECK(code == ec::undecodable_record);
  CHECK(msg == "topic by-dev-rootcoord-dml_1 offset 77: empty value");

  code = ec::none;
  msg = decode_error(wal::raw_record{"by-dev-rootcoord-dml_1", 78, {}, "not a protobuf!"}, &code);
  CHECK(code == ec::undecodable_record);
  CHECK(msg.rfind("topic by-dev-rootcoord-dml_1 offset 78: not a protobuf message", 0) == 0);

  msg = decode_error(wal::raw_record{"t", 1, {}, std::string("\xff\xff\xff\xff", 4)}, &code);
  CHECK(msg.rfind("topic t offset 1: not a protobuf message", 0) == 0);

  // a valid message with a length that runs past the end
  pb::msg::TimeTickMsg tt;
  set_base(tt, pb::common::TimeTick, ts1);
  auto truncated = tt.SerializeAsString();
  truncated.pop_back();
  msg = decode_error(wal::raw_record{"t", 2, {}, truncated}, &code);
  CHECK(code == ec::undecodable_record);
  CHECK(msg.rfind("topic t offset 2: not a protobuf message", 0) == 0);

  // protobuf, but field 1 is no MsgBase (a KeyValuePair: field 1 is a string)
  pb::common::KeyValuePair kv;
  kv.set_key("2");
  kv.set_value("x");
  msg = decode_error(wal::raw_record{"t", 3, {}, kv.SerializeAsString()}, &code);
  CHECK(msg == "topic t offset 3: field 1 is not a common.MsgBase");
  // protobuf without a message in field 1 (a bare MsgBase: field 1 is a varint)
  pb::common::MsgBase bare;
  bare.set_msg_type(pb::common::Insert);
  bare.set_timestamp(ts1);
  msg = decode_error(wal::raw_record{"t", 3, {}, bare.SerializeAsString()}, &code);
  CHECK(code == ec::undecodable_record);
  CHECK(msg == "topic t offset 3: no common.MsgBase in field 1");

  // a number that is no MsgType
  pb::common::MsgHeader header;
  header.mutable_base()->set_msg_type(static_cast<pb::common::MsgType>(9999));
  msg = decode_error(make_record(header, "t", 4), &code);
  CHECK(code == ec::undecodable_record);
  CHECK(msg == "topic t offset 4: unknown message type 9999");

  // a MsgType that never travels on the WAL; the header hint is quoted
  header.mutable_base()->set_msg_type(pb::common::Search);
  msg = decode_error(make_record(header, "t", 5, {{"msg_type", "Insert"}}), &code);
  CHECK(msg == "topic t offset 5: message type Search (500) is not a WAL message (header "
               "msg_type says Insert)");

  header.mutable_base()->set_msg_type(pb::common::Undefined);
  msg = decode_error(make_record(header, "t", 6), &code);
  CHECK(msg == "topic t offset 6: message type Undefined (0) is not a WAL message");

  // a base that says Insert over bytes that are no InsertRequest (field 13 with a bad
  // embedded message)
  header.mutable_base()->set_msg_type(pb::common::Insert);
  auto value = header.SerializeAsString() + std::string("\x6a\x02\xff\xff", 4);
  msg = decode_error(wal::raw_record{"t", 7, {}, value}, &code);
  CHECK(code == ec::undecodable_record);
  CHECK(msg == "topic t offset 7: not a valid milvus.proto.msg.InsertRequest (Insert)");

  // CreateCollection whose schema bytes are not a schema
  pb::msg::CreateCollectionRequest create;
  set_base(create, pb::common::CreateCollection, ts1);
  create.set_schema(std::string("\xff\xff\xff", 3));
  msg = decode_error(make_record(create, "t", 8), &code);
  CHECK(msg == "topic t offset 8: CreateCollection: field schema is not a schema.CollectionSchema");
}

TEST_CASE("type_names_are_the_enum_names") {
  CHECK(wal::type_name(pb::common::Insert) == "Insert");
  CHECK(wal::type_name(pb::common::CreateDatabase) == "CreateDatabase");
  CHECK(wal::type_name(pb::common::TimeTick) == "TimeTick");
  CHECK(wal::type_name(static_cast<pb::common::MsgType>(9999)) == "9999");
}

// -- decode: every message type --------------------------------------------------------------

TEST_CASE("dml_topic_ddl_messages_carry_collection_and_names") {
  pb::schema::CollectionSchema schema;
  schema.set_name("books");
  schema.set_enable_dynamic_field(true);
  pb::msg::CreateCollectionRequest create;
  set_base(create, pb::common::CreateCollection, ts1);
  create.set_collectionid(4001);
  create.set_schema(schema.SerializeAsString());
  create.add_virtualchannelnames(vch);
  create.add_physicalchannelnames("by-dev-rootcoord-dml_0");
  auto ev = decode(make_record(create));
  REQUIRE(ev);
  CHECK(ev->type == pb::common::CreateCollection);
  CHECK(ev->collection_id == 4001);
  CHECK(ev->collection_name == "books"); // from the schema: collectionName is empty
  CHECK(ev->db_name == "");
  REQUIRE(ev->as<pb::msg::CreateCollectionRequest>());
  CHECK(ev->as<pb::msg::CreateCollectionRequest>()->virtualchannelnames(0) == vch);

  pb::msg::DropCollectionRequest drop;
  set_base(drop, pb::common::DropCollection, ts1 + 1);
  drop.set_collectionid(4001);
  drop.set_collectionname("books");
  drop.set_db_name("db1");
  ev = decode(make_record(drop));
  REQUIRE(ev);
  CHECK(ev->type == pb::common::DropCollection);
  CHECK(ev->timestamp == ts1 + 1);
  CHECK(ev->collection_id == 4001);
  CHECK(ev->collection_name == "books");
  CHECK(ev->db_name == "db1");

  pb::msg::CreatePartitionRequest cp;
  set_base(cp, pb::common::CreatePartition, ts1 + 2);
  cp.set_collectionid(4001);
  cp.set_collection_name("books");
  cp.set_partition_name("p1");
  ev = decode(make_record(cp));
  REQUIRE(ev);
  CHECK(ev->type == pb::common::CreatePartition);
  CHECK(ev->collection_id == 4001);
  CHECK(ev->as<pb::msg::CreatePartitionRequest>()->partition_name() == "p1");

  pb::msg::DropPartitionRequest dp;
  set_base(dp, pb::common::DropPartition, ts1 + 3);
  dp.set_collectionid(4001);
  dp.set_partition_name("p1");
  ev = decode(make_record(dp));
  REQUIRE(ev);
  CHECK(ev->type == pb::common::DropPartition);
  CHECK(ev->collection_id == 4001);
  CHECK(ev->as<pb::msg::DropPartitionRequest>()->partition_name() == "p1");

  pb::msg::TimeTickMsg tt;
  set_base(tt, pb::common::TimeTick, ts1 + 4);
  ev = decode(make_record(tt));
  REQUIRE(ev);
  CHECK(ev->type == pb::common::TimeTick);
  CHECK(ev->timestamp == ts1 + 4);
  CHECK(ev->collection_id == 0);
  CHECK(ev->as<pb::msg::TimeTickMsg>() != nullptr);
}

TEST_CASE("every_replicate_channel_type_decodes_to_its_public_request") {
  using namespace pb::common;
  const std::map<MsgType, std::string> expected = {
      {CreateDatabase, "CreateDatabaseRequest"},
      {DropDatabase, "DropDatabaseRequest"},
      {AlterDatabase, "AlterDatabaseRequest"},
      {Flush, "FlushRequest"},
      {LoadCollection, "LoadCollectionRequest"},
      {ReleaseCollection, "ReleaseCollectionRequest"},
      {LoadPartitions, "LoadPartitionsRequest"},
      {ReleasePartitions, "ReleasePartitionsRequest"},
      {CreateIndex, "CreateIndexRequest"},
      {DropIndex, "DropIndexRequest"},
      {AlterIndex, "AlterIndexRequest"},
      {AlterCollection, "AlterCollectionRequest"},
      {AlterCollectionField, "AlterCollectionFieldRequest"},
      {RenameCollection, "RenameCollectionRequest"},
      {CreateAlias, "CreateAliasRequest"},
      {DropAlias, "DropAliasRequest"},
      {AlterAlias, "AlterAliasRequest"},
      {CreateCredential, "CreateCredentialRequest"},
      {DeleteCredential, "DeleteCredentialRequest"},
      {UpdateCredential, "UpdateCredentialRequest"},
      {CreateRole, "CreateRoleRequest"},
      {DropRole, "DropRoleRequest"},
      {OperateUserRole, "OperateUserRoleRequest"},
      {OperatePrivilege, "OperatePrivilegeRequest"},
      {CreatePrivilegeGroup, "CreatePrivilegeGroupRequest"},
      {DropPrivilegeGroup, "DropPrivilegeGroupRequest"},
      {OperatePrivilegeGroup, "OperatePrivilegeGroupRequest"},
      {OperatePrivilegeV2, "OperatePrivilegeV2Request"},
  };
  CHECK(expected.size() == 28);
  int64_t offset = 0;
  for (auto& [type, name] : expected) {
    CAPTURE(name);
    // Every request has base as field 1; a MsgHeader with just the base is a valid empty
    // request of each type.
    pb::common::MsgHeader header;
    set_base(header, type, ts1 + offset);
    auto ev = decode(make_record(header, "by-dev-replicate-msg", offset));
    REQUIRE_MESSAGE(ev, message_of(ev.error()));
    CHECK(ev->type == type);
    CHECK(ev->timestamp == ts1 + offset);
    CHECK(ev->offset == offset);
    CHECK(ev->body->GetDescriptor()->full_name() == "milvus.proto.milvus." + name);
    ++offset;
  }
}

TEST_CASE("replicate_channel_requests_of_2_5_keep_their_values") {
  mpb::CreateAliasRequest alias;
  set_base(alias, pb::common::CreateAlias, ts1);
  alias.set_db_name("db1");
  alias.set_collection_name("books");
  alias.set_alias("novels");
  auto ev = decode(make_record(alias, "by-dev-replicate-msg", 3));
  REQUIRE(ev);
  CHECK(ev->type == pb::common::CreateAlias);
  CHECK(ev->db_name == "db1");
  CHECK(ev->collection_name == "books");
  REQUIRE(ev->as<mpb::CreateAliasRequest>());
  CHECK(ev->as<mpb::CreateAliasRequest>()->alias() == "novels");

  mpb::CreateCredentialRequest cred;
  set_base(cred, pb::common::CreateCredential, ts1 + 1);
  cred.set_username("alice");
  cred.set_password("c2VjcmV0");
  cred.set_created_utc_timestamps(1700000000);
  ev = decode(make_record(cred, "by-dev-replicate-msg", 4));
  REQUIRE(ev);
  CHECK(ev->type == pb::common::CreateCredential);
  CHECK(ev->collection_name == "");
  REQUIRE(ev->as<mpb::CreateCredentialRequest>());
  CHECK(ev->as<mpb::CreateCredentialRequest>()->username() == "alice");
  CHECK(ev->as<mpb::CreateCredentialRequest>()->password() == "c2VjcmV0");
  CHECK(ev->as<mpb::CreateCredentialRequest>()->created_utc_timestamps() == 1700000000);

  mpb::AlterCollectionRequest alter;
  set_base(alter, pb::common::AlterCollection, ts1 + 2);
  alter.set_db_name("db1");
  alter.set_collection_name("books");
  alter.set_collectionid(4001);
  auto* prop = alter.add_properties();
  prop->set_key("collection.ttl.seconds");
  prop->set_value("3600");
  ev = decode(make_record(alter, "by-dev-replicate-msg", 5));
  REQUIRE(ev);
  CHECK(ev->type == pb::common::AlterCollection);
  CHECK(ev->collection_id == 4001);
  CHECK(ev->collection_name == "books");
  CHECK(ev->as<mpb::AlterCollectionRequest>()->properties(0).value() == "3600");

  mpb::RenameCollectionRequest rename;
  set_base(rename, pb::common::RenameCollection, ts1 + 3);
  rename.set_db_name("db1");
  rename.set_oldname("books");
  rename.set_newname("tomes");
  ev = decode(make_record(rename, "by-dev-replicate-msg", 6));
  REQUIRE(ev);
  CHECK(ev->collection_name == "books");
  CHECK(ev->as<mpb::RenameCollectionRequest>()->newname() == "tomes");

  mpb::OperatePrivilegeV2Request grant;
  set_base(grant, pb::common::OperatePrivilegeV2, ts1 + 4);
  grant.mutable_role()->set_name("reader");
  grant.mutable_grantor()->mutable_privilege()->set_name("Search");
  grant.set_db_name("db1");
  grant.set_collection_name("*");
  grant.set_type(mpb::Grant);
  ev = decode(make_record(grant, "by-dev-replicate-msg", 7));
  REQUIRE(ev);
  CHECK(ev->type == pb::common::OperatePrivilegeV2);
  CHECK(ev->as<mpb::OperatePrivilegeV2Request>()->role().name() == "reader");
  CHECK(ev->as<mpb::OperatePrivilegeV2Request>()->grantor().privilege().name() == "Search");

  mpb::OperatePrivilegeGroupRequest group;
  set_base(group, pb::common::OperatePrivilegeGroup, ts1 + 5);
  group.set_group_name("readers");
  group.add_privileges()->set_name("Query");
  group.set_type(mpb::AddPrivilegesToGroup);
  ev = decode(make_record(group, "by-dev-replicate-msg", 8));
  REQUIRE(ev);
  CHECK(ev->as<mpb::OperatePrivilegeGroupRequest>()->group_name() == "readers");
  CHECK(ev->as<mpb::OperatePrivilegeGroupRequest>()->privileges(0).name() == "Query");

  mpb::LoadPartitionsRequest load;
  set_base(load, pb::common::LoadPartitions, ts1 + 6);
  load.set_db_name("db1");
  load.set_collection_name("books");
  load.add_partition_names("p1");
  load.set_replica_number(2);
  ev = decode(make_record(load, "by-dev-replicate-msg", 9));
  REQUIRE(ev);
  CHECK(ev->collection_name == "books");
  CHECK(ev->as<mpb::LoadPartitionsRequest>()->partition_names(0) == "p1");
  CHECK(ev->as<mpb::LoadPartitionsRequest>()->replica_number() == 2);
}

// -- inserts of the types 2.3.5 cannot write ---------------------------------------------------

TEST_CASE("float16_bfloat16_and_sparse_vectors_decode_and_validate") {
  // 3 rows of dim 2: float16 1.0 = 0x3c00, bfloat16 1.0 = 0x3f80 (little endian)
  std::string f16, bf16;
  for (int i = 0; i < 6; ++i) {
    f16 += std::string("\x00\x3c", 2);
    bf16 += std::string("\x80\x3f", 2);
  }
  auto f16_col = column(pb::schema::Float16Vector, "f16", 102);
  f16_col.mutable_vectors()->set_dim(2);
  f16_col.mutable_vectors()->set_float16_vector(f16);
  auto bf16_col = column(pb::schema::BFloat16Vector, "bf16", 103);
  bf16_col.mutable_vectors()->set_dim(2);
  bf16_col.mutable_vectors()->set_bfloat16_vector(bf16);
  auto sparse_col = column(pb::schema::SparseFloatVector, "sparse", 104);
  auto* sparse = sparse_col.mutable_vectors()->mutable_sparse_float_vector();
  sparse->add_contents(sparse_row({{3, 0.5f}, {1000, 2.0f}}));
  sparse->add_contents(sparse_row({}));
  sparse->add_contents(sparse_row({{7, -1.25f}}));
  sparse->set_dim(1001);
  sparse_col.mutable_vectors()->set_dim(1001);

  auto insert = make_insert(4001, vch, 3, ts1,
                            {int64_column("pk", 100, {1, 2, 3}), f16_col, bf16_col, sparse_col});
  auto ev = decode(make_record(insert));
  REQUIRE(ev);
  auto* body = ev->as<pb::msg::InsertRequest>();
  REQUIRE(body);
  CHECK(error_text(wal::validate_insert(*body)) == "");
  auto* c = find_column(*body, "f16");
  REQUIRE(c);
  CHECK(c->type() == pb::schema::Float16Vector);
  CHECK(c->vectors().dim() == 2);
  CHECK(c->vectors().float16_vector() == f16);
  c = find_column(*body, "bf16");
  REQUIRE(c);
  CHECK(c->vectors().bfloat16_vector() == bf16);
  c = find_column(*body, "sparse");
  REQUIRE(c);
  const auto& rows = c->vectors().sparse_float_vector();
  REQUIRE(rows.contents_size() == 3);
  CHECK(rows.contents(1).empty());
  REQUIRE(rows.contents(0).size() == 16);
  uint32_t index = 0;
  float value = 0;
  std::memcpy(&index, rows.contents(0).data() + 8, 4);
  std::memcpy(&value, rows.contents(0).data() + 12, 4);
  CHECK(index == 1000);
  CHECK(value == 2.0f);
  std::memcpy(&value, rows.contents(2).data() + 4, 4);
  CHECK(value == -1.25f);
}

TEST_CASE("nullable_columns_keep_full_length_with_valid_data") {
  auto ages = column(pb::schema::Int32, "age", 105);
  for (int v : {30, 0, 41, 0})
    ages.mutable_scalars()->mutable_int_data()->add_data(v);
  for (bool valid : {true, false, true, false})
    ages.add_valid_data(valid);
  auto names = varchar_column("name", 106, {"", "bob", "", "dan"});
  for (bool valid : {false, true, false, true})
    names.add_valid_data(valid);
  auto insert =
      make_insert(4001, vch, 4, ts1, {int64_column("pk", 100, {1, 2, 3, 4}), ages, names});
  auto ev = decode(make_record(insert));
  REQUIRE(ev);
  auto* body = ev->as<pb::msg::InsertRequest>();
  REQUIRE(body);
  CHECK(error_text(wal::validate_insert(*body)) == "");
  auto* age = find_column(*body, "age");
  REQUIRE(age);
  REQUIRE(age->valid_data_size() == 4);
  CHECK(age->valid_data(0));
  CHECK_FALSE(age->valid_data(1));
  CHECK(age->scalars().int_data().data(2) == 41);
  auto* name = find_column(*body, "name");
  REQUIRE(name);
  CHECK_FALSE(name->valid_data(0));
  CHECK(name->scalars().string_data().data(3) == "dan");

  // a compact column (only the valid rows) is refused: the WAL keeps them full length
  auto compact = column(pb::schema::Int32, "age", 105);
  compact.mutable_scalars()->mutable_int_data()->add_data(30);
  compact.mutable_scalars()->mutable_int_data()->add_data(41);
  for (bool valid : {true, false, true, false})
    compact.add_valid_data(valid);
  auto bad = make_insert(4001, vch, 4, ts1, {int64_column("pk", 100, {1, 2, 3, 4}), compact});
  CHECK(error_text(wal::validate_insert(bad)) ==
        "Insert into collection 4001 (" + vch +
            "): field 'age' (id 105): Int32 column holds 2 values for 4 rows");
  // valid_data of another length
  ages.mutable_valid_data()->RemoveLast();
  bad = make_insert(4001, vch, 4, ts1, {int64_column("pk", 100, {1, 2, 3, 4}), ages});
  CHECK(error_text(wal::validate_insert(bad)) ==
        "Insert into collection 4001 (" + vch +
            "): field 'age' (id 105): valid_data has 3 entries for 4 rows");
}

TEST_CASE("dynamic_field_meta_holds_one_json_object_per_row") {
  auto meta = column(pb::schema::JSON, "$meta", 107);
  meta.set_is_dynamic(true);
  meta.mutable_scalars()->mutable_json_data()->add_data(R"({"color":"red","n":1})");
  meta.mutable_scalars()->mutable_json_data()->add_data(R"({})");
  auto insert = make_insert(4001, vch, 2, ts1, {int64_column("pk", 100, {1, 2}), meta});
  auto ev = decode(make_record(insert));
  REQUIRE(ev);
  auto* body = ev->as<pb::msg::InsertRequest>();
  CHECK(error_text(wal::validate_insert(*body)) == "");
  auto* c = find_column(*body, "$meta");
  REQUIRE(c);
  CHECK(c->is_dynamic());
  CHECK(c->type() == pb::schema::JSON);
  auto doc = json(c->scalars().json_data().data(0));
  CHECK(std::string{doc["color"].GetString()} == "red");
  CHECK(doc["n"].GetInt() == 1);
  CHECK(json(c->scalars().json_data().data(1)).ObjectEmpty());
}

TEST_CASE("every_scalar_type_and_array_validates") {
  auto b = column(pb::schema::Bool, "b", 110);
  auto i8 = column(pb::schema::Int8, "i8", 111);
  auto i16 = column(pb::schema::Int16, "i16", 112);
  auto fl = column(pb::schema::Float, "f", 113);
  auto db = column(pb::schema::Double, "d", 114);
  auto arr = column(pb::schema::Array, "a", 115);
  arr.mutable_scalars()->mutable_array_data()->set_element_type(pb::schema::Int64);
  auto bin = column(pb::schema::BinaryVector, "bv", 116);
  bin.mutable_vectors()->set_dim(16);
  for (int i = 0; i < 2; ++i) {
    b.mutable_scalars()->mutable_bool_data()->add_data(i == 0);
    i8.mutable_scalars()->mutable_int_data()->add_data(-i);
    i16.mutable_scalars()->mutable_int_data()->add_data(1000 + i);
    fl.mutable_scalars()->mutable_float_data()->add_data(0.5f + i);
    db.mutable_scalars()->mutable_double_data()->add_data(1.0 / 3 + i);
    auto* row = arr.mutable_scalars()->mutable_array_data()->add_data();
    row->mutable_long_data()->add_data(i);
    row->mutable_long_data()->add_data(2 * i);
  }
  bin.mutable_vectors()->set_binary_vector(std::string("\x01\x02\x03\x04", 4));
  auto insert = make_insert(4001, vch, 2, ts1,
                            {int64_column("pk", 100, {1, 2}), b, i8, i16, fl, db, arr, bin});
  auto ev = decode(make_record(insert));
  REQUIRE(ev);
  auto* body = ev->as<pb::msg::InsertRequest>();
  CHECK(error_text(wal::validate_insert(*body)) == "");
  CHECK(find_column(*body, "b")->scalars().bool_data().data(0));
  CHECK(find_column(*body, "i16")->scalars().int_data().data(1) == 1001);
  CHECK(find_column(*body, "d")->scalars().double_data().data(0) == 1.0 / 3);
  CHECK(find_column(*body, "a")->scalars().array_data().data(1).long_data().data(1) == 2);
  CHECK(find_column(*body, "bv")->vectors().binary_vector()[3] == '\x04');
}

TEST_CASE("validate_insert_names_the_field_of_a_short_column") {
  const std::string where = "Insert into collection 4001 (" + vch + "): ";
  auto check = [&](pb::schema::FieldData col, const std::string& reason) {
    auto insert = make_insert(4001, vch, 3, ts1, {int64_column("pk", 100, {1, 2, 3}), col});
    auto err = wal::validate_insert(insert);
    CHECK(code_of(err) == ec::undecodable_record);
    CHECK(error_text(err) == where + reason);
  };
  check(int64_column("n", 120, {1, 2}),
        "field 'n' (id 120): Int64 column holds 2 values for 3 rows");
  check(varchar_column("s", 121, {"a", "b", "c", "d"}),
        "field 's' (id 121): VarChar column holds 4 values for 3 rows");
  check(float_vector_column("v", 122, 4, std::vector<float>(11, 1.0f)),
        "field 'v' (id 122): FloatVector column (dim 4) holds 11 floats, expected 4 x 3 rows = 12");
  auto bin = column(pb::schema::BinaryVector, "bv", 123);
  bin.mutable_vectors()->set_dim(16);
  bin.mutable_vectors()->set_binary_vector(std::string(5, 'x'));
  check(bin, "field 'bv' (id 123): BinaryVector column (dim 16) holds 5 bytes, expected 2 x 3 "
             "rows = 6");
  auto f16 = column(pb::schema::Float16Vector, "h", 124);
  f16.mutable_vectors()->set_dim(4);
  f16.mutable_vectors()->set_float16_vector(std::string(16, 'x'));
  check(f16, "field 'h' (id 124): Float16Vector column (dim 4) holds 16 bytes, expected 8 x 3 "
             "rows = 24");
  auto bf16 = column(pb::schema::BFloat16Vector, "bh", 125);
  bf16.mutable_vectors()->set_dim(4);
  bf16.mutable_vectors()->set_bfloat16_vector(std::string(32, 'x'));
  check(bf16, "field 'bh' (id 125): BFloat16Vector column (dim 4) holds 32 bytes, expected 8 x "
              "3 rows = 24");
  auto sparse = column(pb::schema::SparseFloatVector, "sp", 126);
  sparse.mutable_vectors()->mutable_sparse_float_vector()->add_contents(sparse_row({{1, 1.0f}}));
  check(sparse, "field 'sp' (id 126): SparseFloatVector column holds 1 vectors for 3 rows");
  for (int i = 0; i < 2; ++i)
    sparse.mutable_vectors()->mutable_sparse_float_vector()->add_contents("12345");
  check(sparse, "field 'sp' (id 126): SparseFloatVector row 1 has 5 bytes, not (uint32 index, "
                "float32 value) pairs");
  auto wrong = column(pb::schema::Int64, "w", 127);
  for (int i = 0; i < 3; ++i)
    wrong.mutable_scalars()->mutable_string_data()->add_data("x");
  check(wrong, "field 'w' (id 127): Int64 column holds string_data, expected long_data");
  check(column(pb::schema::JSON, "j", 128), "field 'j' (id 128): JSON column without scalar data");
  check(column(pb::schema::FloatVector, "fv", 129),
        "field 'fv' (id 129): FloatVector column without vector data");
  auto arr = column(pb::schema::Array, "arr", 130);
  arr.mutable_scalars()->mutable_array_data()->add_data()->mutable_long_data()->add_data(1);
  check(arr, "field 'arr' (id 130): Array column holds 1 values for 3 rows");
  auto json_col = column(pb::schema::JSON, "j", 131);
  json_col.mutable_scalars()->mutable_json_data()->add_data("{}");
  check(json_col, "field 'j' (id 131): JSON column holds 1 values for 3 rows");

  // system columns
  auto insert = make_insert(4001, vch, 3, ts1, {int64_column("pk", 100, {1, 2, 3})});
  insert.mutable_timestamps()->RemoveLast();
  CHECK(error_text(wal::validate_insert(insert)) == where + "timestamps has 2 entries for 3 rows");
  insert = make_insert(4001, vch, 3, ts1, {int64_column("pk", 100, {1, 2, 3})});
  insert.add_rowids(5);
  CHECK(error_text(wal::validate_insert(insert)) == where + "rowIDs has 4 entries for 3 rows");
}

TEST_CASE("row_count_falls_back_to_the_timestamps_of_old_writers") {
  auto insert = make_insert(4001, vch, 3, ts1, {int64_column("pk", 100, {1, 2, 3})});
  CHECK(wal::row_count(insert) == 3);
  insert.clear_num_rows();
  CHECK(wal::row_count(insert) == 3);
  CHECK(error_text(wal::validate_insert(insert)) == "");
}

// -- primary keys -----------------------------------------------------------------------------

TEST_CASE("insert_keys_read_the_primary_key_column_of_the_schema") {
  pb::schema::CollectionSchema schema;
  schema.set_name("books");
  auto* pk = schema.add_fields();
  pk->set_fieldid(100);
  pk->set_name("pk");
  pk->set_data_type(pb::schema::Int64);
  pk->set_is_primary_key(true);
  auto* other = schema.add_fields();
  other->set_fieldid(101);
  other->set_name("n");
  other->set_data_type(pb::schema::Int64);

  // the pk column need not be first (2.3.5 puts an autoID pk last)
  auto insert = make_insert(
      4001, vch, 3, ts1, {int64_column("n", 101, {7, 8, 9}), int64_column("pk", 100, {1, 2, 3})});
  auto keys = wal::insert_keys(insert, schema);
  REQUIRE(keys);
  CHECK(keys->ints == std::vector<int64_t>{1, 2, 3});
  CHECK(keys->strings.empty());
  CHECK(keys->size() == 3);

  // found by name when the column has no field id
  insert = make_insert(4001, vch, 2, ts1, {int64_column("pk", 0, {5, 6})});
  keys = wal::insert_keys(insert, schema);
  REQUIRE(keys);
  CHECK(keys->ints == std::vector<int64_t>{5, 6});

  // VarChar keys
  pk->set_data_type(pb::schema::VarChar);
  insert = make_insert(4001, vch, 2, ts1, {varchar_column("pk", 100, {"k1", "k2"})});
  keys = wal::insert_keys(insert, schema);
  REQUIRE(keys);
  CHECK(keys->strings == std::vector<std::string>{"k1", "k2"});
  CHECK(keys->ints.empty());

  // a column of another type
  insert = make_insert(4001, vch, 2, ts1, {int64_column("pk", 100, {5, 6})});
  keys = wal::insert_keys(insert, schema);
  REQUIRE_FALSE(keys);
  CHECK(message_of(keys.error()) ==
        "Insert into collection 4001 (" + vch +
            "): the column of the VarChar primary key field 'pk' (id 100) holds no string_data");

  // no column
  insert = make_insert(4001, vch, 2, ts1, {int64_column("n", 101, {5, 6})});
  keys = wal::insert_keys(insert, schema);
  REQUIRE_FALSE(keys);
  CHECK(message_of(keys.error()) == "Insert into collection 4001 (" + vch +
                                        "): no column for the primary key field 'pk' (id 100)");

  // no primary key in the schema
  pk->set_is_primary_key(false);
  keys = wal::insert_keys(insert, schema);
  REQUIRE_FALSE(keys);
  CHECK(code_of(keys.error()) == ec::undecodable_record);
  CHECK(message_of(keys.error()) == "Insert into collection 4001 (" + vch +
                                        "): the schema of 'books' has no primary key field");
}

TEST_CASE("delete_keys_int_string_and_deprecated_int64_primary_keys") {
  pb::msg::DeleteRequest del;
  set_base(del, pb::common::Delete, ts1);
  del.mutable_primary_keys()->mutable_int_id()->add_data(4);
  del.mutable_primary_keys()->mutable_int_id()->add_data(-5);
  CHECK(wal::delete_keys(del) == primary_keys{{4, -5}, {}});

  del.mutable_primary_keys()->mutable_str_id()->add_data("a");
  del.mutable_primary_keys()->mutable_str_id()->add_data("");
  CHECK(wal::delete_keys(del) == primary_keys{{}, {"a", ""}});

  // an older writer: only int64_primary_keys, decoded from the wire
  pb::msg::DeleteRequest old;
  set_base(old, pb::common::Delete, ts1);
  old.set_shardname(vch);
  old.set_collectionid(4001);
  old.add_int64_primary_keys(11);
  old.add_int64_primary_keys(12);
  old.add_timestamps(ts1);
  old.add_timestamps(ts1);
  old.set_num_rows(2);
  auto ev = decode(make_record(old));
  REQUIRE(ev);
  CHECK(ev->type == pb::common::Delete);
  CHECK(ev->shard_name == vch);
  CHECK(ev->collection_id == 4001);
  REQUIRE(ev->as<pb::msg::DeleteRequest>());
  CHECK(wal::delete_keys(*ev->as<pb::msg::DeleteRequest>()) == primary_keys{{11, 12}, {}});

  pb::msg::DeleteRequest none;
  CHECK(wal::delete_keys(none).size() == 0);
}

// -- channels ---------------------------------------------------------------------------------

TEST_CASE("virtual_and_physical_channel_names") {
  CHECK(wal::physical_channel("by-dev-rootcoord-dml_3_453284834843284v0") ==
        "by-dev-rootcoord-dml_3");
  CHECK(wal::physical_channel("my_cluster-rootcoord-dml_15_1v2") == "my_cluster-rootcoord-dml_15");
  CHECK(wal::shard_index("by-dev-rootcoord-dml_3_453284834843284v0") == 0);
  CHECK(wal::shard_index("by-dev-rootcoord-dml_3_453284834843284v12") == 12);
  CHECK(wal::shard_index("by-dev-rootcoord-dml_3") == -1);
  CHECK(wal::shard_index("by-dev-rootcoord-dml_3_453284834843284v") == -1);
  CHECK(wal::shard_index("by-dev-rootcoord-dml_3_45328x4843284v1") == -1);
  CHECK(wal::shard_index("by-dev-rootcoord-dml_3_453284834843284v99999999999") == -1);
  CHECK(wal::shard_index("") == -1);
  CHECK(wal::dml_topic("by-dev", 0) == "by-dev-rootcoord-dml_0");
  CHECK(wal::dml_topic("prod-a", 15) == "prod-a-rootcoord-dml_15");
  for (int i = 0; i < 16; ++i)
    CHECK(wal::physical_channel(wal::dml_topic("by-dev", i) + "_4001v1") ==
          wal::dml_topic("by-dev", i));
}

// -- real records captured from Milvus 2.3.5 ---------------------------------------------------

namespace {

/// The captured CreateCollection schemas by collection name.
std::map<std::string, std::pair<int64_t, pb::schema::CollectionSchema>> captured_schemas() {
  std::map<std::string, std::pair<int64_t, pb::schema::CollectionSchema>> out;
  for (auto& ev : decode_captured("CreateCollection")) {
    pb::schema::CollectionSchema schema;
    REQUIRE(schema.ParseFromString(ev.as<pb::msg::CreateCollectionRequest>()->schema()));
    out[schema.name()] = {ev.collection_id, schema};
  }
  return out;
}

const pb::schema::FieldSchema* field_named(const pb::schema::CollectionSchema& schema,
                                           const std::string& name) {
  for (auto& f : schema.fields())
    if (f.name() == name)
      return &f;
  return nullptr;
}

/// The events of `collection`, in time order (then topic, offset): offsets and topics of
/// a re-capture may differ, names and the order of the workload's steps do not.
std::vector<const event*> of(const std::vector<event>& events, const std::string& collection) {
  std::vector<const event*> out;
  for (auto& ev : events)
    if (ev.collection_name == collection)
      out.push_back(&ev);
  std::sort(out.begin(), out.end(), [](const event* x, const event* y) {
    return std::tie(x->timestamp, x->topic, x->offset) <
           std::tie(y->timestamp, y->topic, y->offset);
  });
  return out;
}

float float_vec(int i, int j) { // capture.py: round(0.1 * ((i * 7 + j) % 10), 3)
  return static_cast<float>(std::round(0.1 * ((i * 7 + j) % 10) * 1000) / 1000);
}

std::string bin_vec(int i) { // capture.py: bytes([(i * 37 + k) % 256 for k in range(2)])
  return {static_cast<char>((i * 37) % 256), static_cast<char>((i * 37 + 1) % 256)};
}

} // namespace

TEST_CASE("captured_every_record_decodes_to_its_type") {
  const std::vector<std::string> files = {
      "CreateCollection", "CreateDatabase",    "CreateIndex",   "Delete", "DropCollection",
      "DropDatabase",     "DropIndex",         "DropPartition", "Flush",  "Insert",
      "LoadCollection",   "ReleaseCollection", "TimeTick"};
  size_t total = 0;
  for (auto& file : files) {
    CAPTURE(file);
    auto records = load_captured(file);
    CHECK_FALSE(records.empty());
    for (auto& c : records) {
      CAPTURE(c.record.topic);
      CAPTURE(c.record.offset);
      auto ev = decode(c.record);
      REQUIRE_MESSAGE(ev, message_of(ev.error()));
      CHECK(static_cast<int>(ev->type) == c.msg_type);
      CHECK(wal::type_name(ev->type) == c.msg_type_name);
      CHECK(c.msg_type_name == file);
      CHECK(ev->topic == c.record.topic);
      CHECK(ev->offset == c.record.offset);
      CHECK(ev->bytes == c.record.value.size());
      // hybrid timestamps: the physical part is the time Kafka got the record (± 10 s)
      CHECK(ev->timestamp != 0);
      auto physical = static_cast<int64_t>(cdc::milvus::physical_ms(ev->timestamp));
      CHECK(std::abs(physical - c.timestamp_ms) < 10'000);
      // replicate-channel types there, DML types on the DML topics
      bool replicate = c.record.topic == "by-dev-replicate-msg";
      CHECK(replicate == (ev->body->GetDescriptor()->file()->package() == "milvus.proto.milvus"));
      if (!replicate)
        CHECK(c.record.topic.rfind("by-dev-rootcoord-dml_", 0) == 0);
      // 2.3.5 sets traceparent on every record but TimeTick
      bool traced = !c.record.headers.empty() && c.record.headers[0].first == "traceparent";
      CHECK(traced == (ev->type != pb::common::TimeTick));
      ++total;
    }
  }
  CHECK(total == 41);
}

TEST_CASE("captured_create_collection_schemas") {
  auto events = decode_captured("CreateCollection");
  REQUIRE(events.size() == 4);
  std::multiset<std::string> names;
  for (auto& ev : events) {
    names.insert(ev.collection_name);
    auto* create = ev.as<pb::msg::CreateCollectionRequest>();
    REQUIRE(create);
    CHECK(create->collectionname() == ""); // 2.3.5 too: the name is in the schema
    CHECK(create->db_name() == "");
    CHECK(ev.collection_id == create->collectionid());
    // written on each of its pchannels; vchannels name their pchannel and shard
    REQUIRE(create->virtualchannelnames_size() == create->physicalchannelnames_size());
    bool on_own_pchannel = false;
    for (int i = 0; i < create->virtualchannelnames_size(); ++i) {
      const auto& v = create->virtualchannelnames(i);
      CHECK(wal::physical_channel(v) == create->physicalchannelnames(i));
      CHECK(wal::shard_index(v) == i);
      CHECK(v == create->physicalchannelnames(i) + "_" + std::to_string(ev.collection_id) + "v" +
                     std::to_string(i));
      on_own_pchannel |= create->physicalchannelnames(i) == ev.topic;
    }
    CHECK(on_own_pchannel);
  }
  CHECK(names ==
        std::multiset<std::string>{"fx_all_types", "fx_auto_id", "fx_varchar_pk", "fx_varchar_pk"});

  auto schemas = captured_schemas();
  REQUIRE(schemas.size() == 3);

  // fx_all_types: int64 pk without autoID, one field of each scalar type, dynamic field
  const auto& all = schemas["fx_all_types"].second;
  CHECK(all.enable_dynamic_field());
  auto* pk = field_named(all, "pk");
  REQUIRE(pk);
  CHECK(pk->is_primary_key());
  CHECK(pk->data_type() == pb::schema::Int64);
  CHECK_FALSE(pk->autoid());
  const std::vector<std::pair<std::string, pb::schema::DataType>> types = {
      {"f_bool", pb::schema::Bool},       {"f_int8", pb::schema::Int8},
      {"f_int16", pb::schema::Int16},     {"f_int32", pb::schema::Int32},
      {"f_int64", pb::schema::Int64},     {"f_float", pb::schema::Float},
      {"f_double", pb::schema::Double},   {"f_varchar", pb::schema::VarChar},
      {"f_json", pb::schema::JSON},       {"f_array_int", pb::schema::Array},
      {"f_array_str", pb::schema::Array}, {"vec", pb::schema::FloatVector},
      {"$meta", pb::schema::JSON},        {"RowID", pb::schema::Int64},
      {"Timestamp", pb::schema::Int64}};
  REQUIRE(all.fields_size() == static_cast<int>(types.size()) + 1);
  for (auto& [name, type] : types) {
    CAPTURE(name);
    auto* f = field_named(all, name);
    REQUIRE(f);
    CHECK(f->data_type() == type);
    CHECK_FALSE(f->is_primary_key());
  }
  CHECK(field_named(all, "f_array_int")->element_type() == pb::schema::Int64);
  CHECK(field_named(all, "f_array_str")->element_type() == pb::schema::VarChar);
  CHECK(type_param(*field_named(all, "f_array_int"), "max_capacity") == "4");
  CHECK(type_param(*field_named(all, "f_varchar"), "max_length") == "32");
  CHECK(type_param(*field_named(all, "vec"), "dim") == "8");
  CHECK(field_named(all, "$meta")->is_dynamic());
  CHECK(field_named(all, "RowID")->fieldid() == 0);
  CHECK(field_named(all, "Timestamp")->fieldid() == 1);
  CHECK(pk->fieldid() >= 100);

  // fx_varchar_pk: VarChar pk, partition key, binary vector, 2 shards
  const auto& vc = schemas["fx_varchar_pk"].second;
  CHECK(vc.enable_dynamic_field());
  REQUIRE(field_named(vc, "id"));
  CHECK(field_named(vc, "id")->is_primary_key());
  CHECK(field_named(vc, "id")->data_type() == pb::schema::VarChar);
  REQUIRE(field_named(vc, "tenant"));
  CHECK(field_named(vc, "tenant")->is_partition_key());
  CHECK(field_named(vc, "bvec")->data_type() == pb::schema::BinaryVector);
  CHECK(type_param(*field_named(vc, "bvec"), "dim") == "16");
  REQUIRE(field_named(vc, "$meta"));
  CHECK(field_named(vc, "$meta")->is_dynamic());
  std::set<std::string> topics;
  for (auto& ev : events)
    if (ev.collection_name == "fx_varchar_pk") {
      topics.insert(ev.topic);
      CHECK(ev.as<pb::msg::CreateCollectionRequest>()->virtualchannelnames_size() == 2);
      CHECK(ev.as<pb::msg::CreateCollectionRequest>()->partitionids_size() == 2);
    }
  CHECK(topics == std::set<std::string>{"by-dev-rootcoord-dml_1", "by-dev-rootcoord-dml_2"});

  // fx_auto_id: autoID pk, no dynamic field
  const auto& ai = schemas["fx_auto_id"].second;
  CHECK_FALSE(ai.enable_dynamic_field());
  REQUIRE(field_named(ai, "pk"));
  CHECK(field_named(ai, "pk")->autoid());
  CHECK(field_named(ai, "pk")->is_primary_key());
  CHECK(field_named(ai, "title")->data_type() == pb::schema::VarChar);
  CHECK(field_named(ai, "$meta") == nullptr);
}

TEST_CASE("captured_inserts_of_every_scalar_type_and_float_vectors") {
  auto events = decode_captured("Insert");
  REQUIRE(events.size() == 6);
  auto schemas = captured_schemas();
  const auto& [all_id, all] = schemas["fx_all_types"];
  for (auto& ev : events) {
    CAPTURE(ev.offset);
    auto* insert = ev.as<pb::msg::InsertRequest>();
    REQUIRE(insert);
    CHECK(error_text(wal::validate_insert(*insert)) == "");
    CHECK(insert->version() == pb::msg::ColumnBased);
    CHECK(wal::physical_channel(ev.shard_name) == ev.topic);
    CHECK(ev.db_name == ""); // 2.3.5 DML carries no database name
    CHECK(ev.collection_name == insert->collection_name());
  }

  // 6 rows in one message (1 shard)
  auto all_inserts = of(events, "fx_all_types");
  REQUIRE(all_inserts.size() == 2);
  const auto& first = *all_inserts[0];
  CHECK(first.collection_id == all_id);
  CHECK(first.collection_name == "fx_all_types");
  CHECK(first.shard_name == "by-dev-rootcoord-dml_0_" + std::to_string(all_id) + "v0");
  CHECK(wal::shard_index(first.shard_name) == 0);
  auto* ins = first.as<pb::msg::InsertRequest>();
  REQUIRE(wal::row_count(*ins) == 6);
  CHECK(ins->fields_data_size() == 14);
  CHECK(first.timestamp == first.as<pb::msg::InsertRequest>()->base().timestamp());
  auto keys = wal::insert_keys(*ins, all);
  REQUIRE(keys);
  CHECK(keys->ints == std::vector<int64_t>{0, 1, 2, 3, 4, 5});

  auto col = [&](const pb::msg::InsertRequest& insert, const std::string& name) {
    auto* c = find_column(insert, name);
    REQUIRE_MESSAGE(c, name);
    CHECK(c->field_id() == field_named(all, name)->fieldid());
    CHECK(c->type() == field_named(all, name)->data_type());
    return c;
  };
  auto check_rows = [&](const pb::msg::InsertRequest& insert, std::vector<int> pks,
                        const std::string& tag) {
    for (size_t r = 0; r < pks.size(); ++r) {
      const int i = pks[r];
      CAPTURE(i);
      CHECK(col(insert, "pk")->scalars().long_data().data(r) == i);
      CHECK(col(insert, "f_bool")->scalars().bool_data().data(r) == (i % 2 == 0));
      CHECK(col(insert, "f_int8")->scalars().int_data().data(r) == i - 3);
      CHECK(col(insert, "f_int16")->scalars().int_data().data(r) == 1000 + i);
      CHECK(col(insert, "f_int32")->scalars().int_data().data(r) == -100000 - i);
      CHECK(col(insert, "f_int64")->scalars().long_data().data(r) == (int64_t{1} << 40) + i);
      CHECK(col(insert, "f_float")->scalars().float_data().data(r) == 0.5f + i);
      CHECK(col(insert, "f_double")->scalars().double_data().data(r) == 1.0 / (i + 3));
      CHECK(col(insert, "f_varchar")->scalars().string_data().data(r) ==
            tag + "-" + std::to_string(i));
      auto j = json(col(insert, "f_json")->scalars().json_data().data(r));
      CHECK(j["i"].GetInt() == i);
      CHECK(std::string{j["tag"].GetString()} == tag);
      REQUIRE(j["list"].Size() == 2);
      CHECK(j["list"][1].GetInt() == i + 1);
      const auto& ai = col(insert, "f_array_int")->scalars().array_data();
      CHECK(ai.element_type() == pb::schema::None); // 2.3.5 leaves it to the schema
      CHECK(std::vector<int64_t>(ai.data(r).long_data().data().begin(),
                                 ai.data(r).long_data().data().end()) ==
            std::vector<int64_t>{i, 2 * i});
      const auto& as = col(insert, "f_array_str")->scalars().array_data();
      CHECK(as.element_type() == pb::schema::None);
      CHECK(std::vector<std::string>(as.data(r).string_data().data().begin(),
                                     as.data(r).string_data().data().end()) ==
            std::vector<std::string>{"s" + std::to_string(i), tag});
      const auto* vec = col(insert, "vec");
      CHECK(vec->vectors().dim() == 8);
      for (int k = 0; k < 8; ++k)
        CHECK(vec->vectors().float_vector().data(static_cast<int>(r) * 8 + k) == float_vec(i, k));
      const auto* meta = col(insert, "$meta");
      CHECK(meta->is_dynamic());
      auto m = json(meta->scalars().json_data().data(r));
      CHECK(m.MemberCount() == 1);
      CHECK(std::string{m["dyn_extra"].GetString()} == "dynamic-" + std::to_string(i));
    }
  };
  check_rows(*ins, {0, 1, 2, 3, 4, 5}, "v1");

  // the upsert's Insert half: rows 2, 3 with tag v2, base.timestamp 0
  const auto& up = *all_inserts[1];
  auto* upsert = up.as<pb::msg::InsertRequest>();
  CHECK(upsert->base().timestamp() == 0);
  CHECK(up.timestamp == upsert->timestamps(0));
  CHECK(up.timestamp > first.timestamp);
  REQUIRE(wal::row_count(*upsert) == 2);
  check_rows(*upsert, {2, 3}, "v2");
}

TEST_CASE("captured_inserts_with_varchar_keys_partition_key_binary_vectors_and_auto_id") {
  auto events = decode_captured("Insert");
  auto schemas = captured_schemas();
  const auto& [vc_id, vc] = schemas["fx_varchar_pk"];

  // 6 rows split over the 2 shards, each on its own pchannel; then the upsert's Insert
  auto vc_inserts = of(events, "fx_varchar_pk");
  REQUIRE(vc_inserts.size() == 3);
  std::map<int, size_t> rows_of_shard;
  std::map<std::string, int> tenant_of;
  std::map<std::string, std::string> bvec_of, note_of;
  for (auto* ev : {vc_inserts[0], vc_inserts[1]}) {
    CHECK(ev->collection_id == vc_id);
    CHECK(ev->collection_name == "fx_varchar_pk");
    auto* insert = ev->as<pb::msg::InsertRequest>();
    rows_of_shard[wal::shard_index(ev->shard_name)] = wal::row_count(*insert);
    auto keys = wal::insert_keys(*insert, vc);
    REQUIRE(keys);
    CHECK(keys->ints.empty());
    REQUIRE(keys->strings.size() == wal::row_count(*insert));
    const auto* tenant = find_column(*insert, "tenant");
    const auto* bvec = find_column(*insert, "bvec");
    const auto* meta = find_column(*insert, "$meta");
    REQUIRE(tenant);
    REQUIRE(bvec);
    REQUIRE(meta);
    CHECK(bvec->vectors().dim() == 16);
    for (size_t r = 0; r < keys->strings.size(); ++r) {
      const auto& key = keys->strings[r];
      tenant_of[key] = static_cast<int>(tenant->scalars().long_data().data(r));
      bvec_of[key] = bvec->vectors().binary_vector().substr(r * 2, 2);
      note_of[key] = json(meta->scalars().json_data().data(r))["note"].GetString();
    }
  }
  CHECK(vc_inserts[0]->topic != vc_inserts[1]->topic);
  CHECK(vc_inserts[0]->timestamp == vc_inserts[1]->timestamp);
  CHECK(rows_of_shard[0] == 2); // k0..k5 hashed to the 2 shards
  CHECK(rows_of_shard[1] == 4);
  REQUIRE(tenant_of.size() == 6);
  for (int i = 0; i < 6; ++i) {
    auto key = "k" + std::to_string(i);
    CAPTURE(key);
    CHECK(tenant_of[key] == i % 3);
    CHECK(bvec_of[key] == bin_vec(i));
    CHECK(note_of[key] == "n" + std::to_string(i));
  }

  // the upsert's Insert half: k2, tenant 2, bin_vec(20), note "up"
  const auto& up = *vc_inserts[2];
  auto* upsert = up.as<pb::msg::InsertRequest>();
  CHECK(upsert->base().timestamp() == 0);
  CHECK(up.timestamp == upsert->timestamps(0));
  auto keys = wal::insert_keys(*upsert, vc);
  REQUIRE(keys);
  CHECK(keys->strings == std::vector<std::string>{"k2"});
  CHECK(find_column(*upsert, "tenant")->scalars().long_data().data(0) == 2);
  CHECK(find_column(*upsert, "bvec")->vectors().binary_vector() == bin_vec(20));
  CHECK(std::string{json(find_column(*upsert, "$meta")->scalars().json_data().data(0))["note"]
                        .GetString()} == "up");

  // autoID: the pk column is there (last), filled by the proxy; partition p1
  const auto& [ai_id, ai] = schemas["fx_auto_id"];
  REQUIRE(of(events, "fx_auto_id").size() == 1);
  const auto& auto_ev = *of(events, "fx_auto_id")[0];
  CHECK(auto_ev.collection_id == ai_id);
  auto* auto_insert = auto_ev.as<pb::msg::InsertRequest>();
  CHECK(auto_insert->partition_name() == "p1");
  REQUIRE(wal::row_count(*auto_insert) == 4);
  CHECK(auto_insert->fields_data(auto_insert->fields_data_size() - 1).field_name() == "pk");
  auto auto_keys = wal::insert_keys(*auto_insert, ai);
  REQUIRE(auto_keys);
  REQUIRE(auto_keys->ints.size() == 4);
  CHECK(std::set<int64_t>(auto_keys->ints.begin(), auto_keys->ints.end()).size() == 4);
  for (auto k : auto_keys->ints)
    CHECK(k > 0);
  for (int i = 0; i < 4; ++i) {
    CHECK(find_column(*auto_insert, "title")->scalars().string_data().data(i) ==
          "t" + std::to_string(i));
    for (int k = 0; k < 8; ++k)
      CHECK(find_column(*auto_insert, "vec")->vectors().float_vector().data(i * 8 + k) ==
            float_vec(i, k));
  }
}

TEST_CASE("captured_deletes_and_upsert_pairs") {
  auto deletes = decode_captured("Delete");
  auto inserts = decode_captured("Insert");
  REQUIRE(deletes.size() == 4);
  auto schemas = captured_schemas();
  for (auto& ev : deletes) {
    auto* del = ev.as<pb::msg::DeleteRequest>();
    REQUIRE(del);
    CHECK(wal::physical_channel(ev.shard_name) == ev.topic);
    CHECK(ev.timestamp == del->base().timestamp());
    CHECK(del->int64_primary_keys_size() == 0); // 2.3.5 fills primary_keys
    CHECK(static_cast<size_t>(del->num_rows()) == wal::delete_keys(*del).size());
  }
  // int keys
  auto all_deletes = of(deletes, "fx_all_types");
  auto vc_deletes = of(deletes, "fx_varchar_pk");
  REQUIRE(all_deletes.size() == 2);
  REQUIRE(vc_deletes.size() == 2);
  const auto& d0 = *all_deletes[0];
  CHECK(d0.collection_id == schemas["fx_all_types"].first);
  CHECK(d0.collection_name == "fx_all_types");
  CHECK(d0.as<pb::msg::DeleteRequest>()->partitionid() == -1);
  CHECK(wal::delete_keys(*d0.as<pb::msg::DeleteRequest>()) == primary_keys{{0, 1}, {}});
  // string keys
  const auto& d1 = *vc_deletes[0];
  CHECK(d1.collection_id == schemas["fx_varchar_pk"].first);
  CHECK(wal::delete_keys(*d1.as<pb::msg::DeleteRequest>()) == primary_keys{{}, {"k0", "k1"}});

  // an upsert = Insert + Delete of the same keys with the same timestamp, Insert first
  auto pair = [&](const std::string& collection) {
    const auto& ins = *of(inserts, collection).back();
    const auto& del = *of(deletes, collection).back();
    CHECK(ins.timestamp == del.timestamp);
    CHECK(ins.collection_id == del.collection_id);
    CHECK(ins.shard_name == del.shard_name);
    CHECK(ins.offset < del.offset);
    auto keys =
        wal::insert_keys(*ins.as<pb::msg::InsertRequest>(), schemas[ins.collection_name].second);
    REQUIRE(keys);
    CHECK(*keys == wal::delete_keys(*del.as<pb::msg::DeleteRequest>()));
    for (auto ts : del.as<pb::msg::DeleteRequest>()->timestamps())
      CHECK(ts == del.timestamp);
    return *keys;
  };
  CHECK(pair("fx_all_types") == primary_keys{{2, 3}, {}});
  CHECK(pair("fx_varchar_pk") == primary_keys{{}, {"k2"}});
  CHECK(all_deletes[1]->as<pb::msg::DeleteRequest>()->partition_name() == "_default");
}

TEST_CASE("captured_time_ticks_do_not_go_back_per_topic") {
  auto ticks = decode_captured("TimeTick");
  REQUIRE(ticks.size() == 12);
  std::map<std::string, uint64_t> last;
  std::map<std::string, int64_t> last_offset;
  for (auto& ev : ticks) {
    CAPTURE(ev.topic);
    CAPTURE(ev.offset);
    REQUIRE(ev.as<pb::msg::TimeTickMsg>());
    CHECK(ev.collection_id == 0);
    CHECK(ev.shard_name == "");
    if (last.count(ev.topic)) {
      CHECK(ev.offset > last_offset[ev.topic]);
      CHECK(ev.timestamp >= last[ev.topic]);
    }
    last[ev.topic] = ev.timestamp;
    last_offset[ev.topic] = ev.offset;
  }
  CHECK(last.size() == 4);
}

TEST_CASE("captured_drops_name_their_collections") {
  auto schemas = captured_schemas();
  auto drops = decode_captured("DropCollection");
  REQUIRE(drops.size() == 3);
  REQUIRE(of(drops, "fx_varchar_pk").size() == 2);
  REQUIRE(of(drops, "fx_auto_id").size() == 1);
  const auto& v1 = *of(drops, "fx_varchar_pk")[0];
  const auto& v2 = *of(drops, "fx_varchar_pk")[1];
  const auto& a = *of(drops, "fx_auto_id")[0];
  CHECK(v1.topic != v2.topic);
  CHECK(v1.collection_name == "fx_varchar_pk");
  CHECK(v1.collection_id == schemas["fx_varchar_pk"].first);
  CHECK(v2.collection_id == v1.collection_id);
  CHECK(v2.timestamp == v1.timestamp); // one message per pchannel, same time
  CHECK(a.collection_name == "fx_auto_id");
  CHECK(a.collection_id == schemas["fx_auto_id"].first);
  CHECK(a.timestamp < v1.timestamp);

  auto parts = decode_captured("DropPartition");
  REQUIRE(parts.size() == 1);
  const auto& p = parts[0];
  CHECK(p.topic == "by-dev-rootcoord-dml_3");
  CHECK(p.collection_id == schemas["fx_auto_id"].first);
  CHECK(p.collection_name == ""); // 2.3.5 names only the partition
  CHECK(p.as<pb::msg::DropPartitionRequest>()->partition_name() == "p1");
  CHECK(p.as<pb::msg::DropPartitionRequest>()->partitionid() != 0);
  CHECK(p.timestamp < a.timestamp);
}

TEST_CASE("captured_replicate_channel_requests") {
  std::vector<event> all;
  for (auto file : {"CreateDatabase", "CreateIndex", "LoadCollection", "ReleaseCollection", "Flush",
                    "DropIndex", "DropDatabase"})
    for (auto& ev : decode_captured(file))
      all.push_back(ev);
  REQUIRE(all.size() == 11);
  std::sort(all.begin(), all.end(), [](auto& x, auto& y) { return x.offset < y.offset; });
  for (size_t i = 0; i < all.size(); ++i) {
    CAPTURE(i);
    CHECK(all[i].topic == "by-dev-replicate-msg");
    CHECK(all[i].offset == static_cast<int64_t>(i)); // nothing else on the channel
    if (i > 0)
      CHECK(all[i].timestamp > all[i - 1].timestamp);
  }
  using namespace pb::common;
  const std::vector<std::tuple<MsgType, std::string, std::string>> expected = {
      {CreateDatabase, "fx_db", ""},
      {CreateIndex, "default", "fx_all_types"},
      {LoadCollection, "default", "fx_all_types"},
      {Flush, "default", ""},
      {ReleaseCollection, "default", "fx_all_types"},
      {DropIndex, "default", "fx_all_types"},
      {Flush, "default", ""},
      {CreateIndex, "fx_db", "fx_auto_id"},
      {ReleaseCollection, "fx_db", "fx_auto_id"},
      {Flush, "fx_db", ""},
      {DropDatabase, "fx_db", ""}};
  for (size_t i = 0; i < all.size(); ++i) {
    CAPTURE(i);
    CHECK(all[i].type == std::get<0>(expected[i]));
    CHECK(all[i].db_name == std::get<1>(expected[i]));
    CHECK(all[i].collection_name == std::get<2>(expected[i]));
    CHECK(all[i].collection_id == 0);
  }
  CHECK(all[0].as<mpb::CreateDatabaseRequest>()->db_name() == "fx_db");
  CHECK(all[10].as<mpb::DropDatabaseRequest>()->db_name() == "fx_db");

  auto* index = all[1].as<mpb::CreateIndexRequest>();
  REQUIRE(index);
  CHECK(index->field_name() == "vec");
  CHECK(index->index_name() == "vec_idx");
  std::map<std::string, std::string> params;
  for (auto& kv : index->extra_params())
    params[kv.key()] = kv.value();
  CHECK(params["index_type"] == "IVF_FLAT");
  CHECK(params["metric_type"] == "L2");
  CHECK(json(params["params"])["nlist"].GetInt() == 4);
  auto* index2 = all[7].as<mpb::CreateIndexRequest>();
  REQUIRE(index2);
  CHECK(index2->field_name() == "vec");
  CHECK(index2->index_name() == "");
  for (auto& kv : index2->extra_params())
    if (kv.key() == "index_type")
      CHECK(kv.value() == "FLAT");

  CHECK(all[2].as<mpb::LoadCollectionRequest>()->replica_number() == 1);
  auto flush_names = [&](size_t i) {
    auto* flush = all[i].as<mpb::FlushRequest>();
    REQUIRE(flush);
    return std::vector<std::string>(flush->collection_names().begin(),
                                    flush->collection_names().end());
  };
  CHECK(flush_names(3) == std::vector<std::string>{"fx_all_types"});
  CHECK(flush_names(6) == std::vector<std::string>{"fx_varchar_pk"});
  CHECK(flush_names(9) == std::vector<std::string>{"fx_auto_id"});
  auto* drop_index = all[5].as<mpb::DropIndexRequest>();
  REQUIRE(drop_index);
  CHECK(drop_index->index_name() == "vec_idx");
  CHECK(drop_index->field_name() == "vec");
}

TEST_CASE("captured_rows_of_skipped_collections_are_not_decoded") {
  for (const std::string type : {"Insert", "Delete"}) {
    for (auto& c : test::load_captured(type)) {
      auto full = decode(c.record);
      REQUIRE(full);
      wal::collection_filter skip;
      skip.skip(full->collection_id + 1); // another collection: decoded as usual
      auto other = decode(c.record, &skip);
      REQUIRE(other);
      CHECK(other->body != nullptr);
      skip.skip(full->collection_id);
      auto skipped = decode(c.record, &skip);
      REQUIRE(skipped);
      CHECK(skipped->body == nullptr);
      CHECK(skipped->type == full->type);
      CHECK(skipped->collection_id == full->collection_id);
      CHECK(skipped->topic == full->topic);
      CHECK(skipped->offset == full->offset);
      CHECK(skipped->bytes == full->bytes);
    }
  }
  // Other types are decoded whatever the filter says.
  for (auto& c : test::load_captured("CreateCollection")) {
    auto full = decode(c.record);
    REQUIRE(full);
    wal::collection_filter skip;
    skip.skip(full->collection_id);
    auto again = decode(c.record, &skip);
    REQUIRE(again);
    CHECK(again->body != nullptr);
  }
}
