#pragma once

// Helpers of the WAL decoder tests: Kafka records built with the upstream protos, and the
// records captured from a real Milvus 2.3.5 (tests/fixtures/wal-2.3.5/*.jsonl, see
// tests/fixtures/README.md).

#include "actors/reader/decode.hpp"
#include "proto/position.hpp"

#include "milvus.pb.h"

#include <rapidjson/document.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace cdc::test {

namespace pb = ::milvus::proto;

/// A Kafka record whose value is `payload` serialized.
inline wal::raw_record make_record(const google::protobuf::Message& payload,
                                   std::string topic = "by-dev-rootcoord-dml_0",
                                   int64_t offset = 42,
                                   std::vector<std::pair<std::string, std::string>> headers = {}) {
  wal::raw_record record;
  record.topic = std::move(topic);
  record.offset = offset;
  record.headers = std::move(headers);
  record.value = payload.SerializeAsString();
  return record;
}

/// Sets `base` of any payload (field 1 of every WAL message).
template <class T>
void set_base(T& payload, pb::common::MsgType type, uint64_t timestamp) {
  payload.mutable_base()->set_msg_type(type);
  payload.mutable_base()->set_timestamp(timestamp);
  payload.mutable_base()->set_msgid(7);
  payload.mutable_base()->set_sourceid(1);
}

/// A column without data: type, name, id.
inline pb::schema::FieldData column(pb::schema::DataType type, const std::string& name,
                                    int64_t id) {
  pb::schema::FieldData f;
  f.set_type(type);
  f.set_field_name(name);
  f.set_field_id(id);
  return f;
}

inline pb::schema::FieldData int64_column(const std::string& name, int64_t id,
                                          const std::vector<int64_t>& values) {
  auto f = column(pb::schema::Int64, name, id);
  for (auto v : values)
    f.mutable_scalars()->mutable_long_data()->add_data(v);
  return f;
}

inline pb::schema::FieldData varchar_column(const std::string& name, int64_t id,
                                            const std::vector<std::string>& values) {
  auto f = column(pb::schema::VarChar, name, id);
  for (auto& v : values)
    f.mutable_scalars()->mutable_string_data()->add_data(v);
  return f;
}

inline pb::schema::FieldData float_vector_column(const std::string& name, int64_t id, int dim,
                                                 const std::vector<float>& values) {
  auto f = column(pb::schema::FloatVector, name, id);
  f.mutable_vectors()->set_dim(dim);
  for (auto v : values)
    f.mutable_vectors()->mutable_float_vector()->add_data(v);
  return f;
}

/// One sparse row: (uint32 index, float32 value) pairs, little endian, as Milvus stores it.
inline std::string sparse_row(const std::vector<std::pair<uint32_t, float>>& entries) {
  std::string bytes;
  for (auto [index, value] : entries) {
    char buf[8];
    std::memcpy(buf, &index, 4);
    std::memcpy(buf + 4, &value, 4);
    bytes.append(buf, 8);
  }
  return bytes;
}

/// An Insert of `rows` rows at `ts` on vchannel `shard` of collection `collection`, with
/// the given columns; timestamps and rowIDs filled.
inline pb::msg::InsertRequest make_insert(int64_t collection, const std::string& shard, size_t rows,
                                          uint64_t ts, std::vector<pb::schema::FieldData> columns) {
  pb::msg::InsertRequest insert;
  set_base(insert, pb::common::Insert, ts);
  insert.set_shardname(shard);
  insert.set_collectionid(collection);
  insert.set_partitionid(collection + 1);
  insert.set_partition_name("_default");
  insert.set_num_rows(rows);
  insert.set_version(pb::msg::ColumnBased);
  for (size_t i = 0; i < rows; ++i) {
    insert.add_timestamps(ts);
    insert.add_rowids(static_cast<int64_t>(1000 + i));
  }
  for (auto& c : columns)
    *insert.add_fields_data() = std::move(c);
  return insert;
}

// -- captured records ----------------------------------------------------------------------

/// One line of a fixture file: the raw record plus what the capture says it is.
struct captured {
  wal::raw_record record;
  int msg_type = 0;
  std::string msg_type_name;
  int64_t timestamp_ms = 0; // Kafka's record timestamp
};

inline std::filesystem::path fixtures_dir() {
  return std::filesystem::path{CDC_FIXTURES_DIR} / "wal-2.3.5";
}

/// The records of `<type>.jsonl`, in file order (topic, then offset); throws when the
/// file is missing or malformed.
inline std::vector<captured> load_captured(const std::string& type) {
  auto path = fixtures_dir() / (type + ".jsonl");
  std::ifstream in{path};
  if (!in)
    throw std::runtime_error("cannot open " + path.string());
  auto need = [&](bool ok, const std::string& what) {
    if (!ok)
      throw std::runtime_error(path.string() + ": " + what);
  };
  auto b64 = [&](const rapidjson::Value& v) {
    need(v.IsString(), "base64 value expected");
    auto bytes = cdc::milvus::base64_decode({v.GetString(), v.GetStringLength()});
    need(bytes.has_value(), "invalid base64");
    return *bytes;
  };
  std::vector<captured> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty())
      continue;
    rapidjson::Document doc;
    doc.Parse(line.data(), line.size());
    need(!doc.HasParseError() && doc.IsObject(), "line is not a JSON object");
    for (auto key : {"topic", "offset", "headers", "value", "msg_type", "msg_type_name"})
      need(doc.HasMember(key), std::string{"no key "} + key);
    captured c;
    c.record.topic = doc["topic"].GetString();
    c.record.offset = doc["offset"].GetInt64();
    for (auto& h : doc["headers"].GetArray()) {
      need(h.IsArray() && h.Size() == 2, "header is not [name, value]");
      c.record.headers.emplace_back(h[0].GetString(), b64(h[1]));
    }
    c.record.value = b64(doc["value"]);
    c.msg_type = doc["msg_type"].GetInt();
    c.msg_type_name = doc["msg_type_name"].GetString();
    if (doc.HasMember("timestamp_ms"))
      c.timestamp_ms = doc["timestamp_ms"].GetInt64();
    out.push_back(std::move(c));
  }
  return out;
}

/// Decodes every record of `<type>.jsonl`; throws on the first failure.
inline std::vector<wal::event> decode_captured(const std::string& type) {
  std::vector<wal::event> out;
  for (auto& c : load_captured(type)) {
    auto ev = wal::decode(c.record);
    if (!ev)
      throw std::runtime_error(type + ": " + message_of(ev.error()));
    out.push_back(std::move(*ev));
  }
  return out;
}

} // namespace cdc::test
