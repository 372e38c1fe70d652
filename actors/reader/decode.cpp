#include "actors/reader/decode.hpp"

#include "milvus.pb.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <algorithm>
#include <charconv>

namespace cdc::wal {

namespace {

namespace mpb = ::milvus::proto::milvus;
using google::protobuf::Message;
using google::protobuf::io::CodedInputStream;

std::string where(const raw_record& record) {
  return "topic " + record.topic + " offset " + std::to_string(record.offset);
}

caf::error undecodable(const raw_record& record, const std::string& reason) {
  return make_error(ec::undecodable_record, where(record) + ": " + reason);
}

/// A header value for an error message: printable ASCII as is, other bytes as \xNN, cut
/// after 32 bytes.
std::string printable(std::string_view bytes) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes.size() && i < 32; ++i) {
    auto c = static_cast<unsigned char>(bytes[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  if (bytes.size() > 32)
    out += "...";
  return out;
}

/// Reads `base` (field 1) of a payload without parsing the rest: every top-level field is
/// skipped by its wire type (nothing is copied), occurrences of field 1 are merged as
/// protobuf does. Returns the reason when the bytes are not a protobuf message or have no
/// base.
std::string read_base(const std::string& value, pb::common::MsgBase& base) {
  CodedInputStream in(reinterpret_cast<const uint8_t*>(value.data()),
                      static_cast<int>(value.size()));
  bool found = false;
  while (true) {
    uint32_t tag = in.ReadTag();
    if (tag == 0)
      break;
    uint32_t field = tag >> 3;
    uint32_t wire = tag & 7;
    if (field == 0)
      return "not a protobuf message (field number 0)";
    switch (wire) {
    case 0: { // varint
      uint64_t ignored;
      if (!in.ReadVarint64(&ignored))
        return "not a protobuf message (truncated varint in field " + std::to_string(field) + ")";
      break;
    }
    case 1: // fixed64
      if (!in.Skip(8))
        return "not a protobuf message (truncated field " + std::to_string(field) + ")";
      break;
    case 5: // fixed32
      if (!in.Skip(4))
        return "not a protobuf message (truncated field " + std::to_string(field) + ")";
      break;
    case 2: { // length-delimited
      uint32_t length;
      if (!in.ReadVarint32(&length))
        return "not a protobuf message (bad length of field " + std::to_string(field) + ")";
      if (field == 1) {
        std::string bytes;
        if (!in.ReadString(&bytes, static_cast<int>(length)))
          return "not a protobuf message (field 1 is truncated)";
        if (!base.MergeFromString(bytes))
          return "field 1 is not a common.MsgBase";
        found = true;
      } else if (!in.Skip(static_cast<int>(length))) {
        return "not a protobuf message (field " + std::to_string(field) + " is truncated)";
      }
      break;
    }
    default: // 3, 4: groups (not in proto3); 6, 7: invalid
      return "not a protobuf message (wire type " + std::to_string(wire) + " in field " +
             std::to_string(field) + ")";
    }
  }
  if (!in.ConsumedEntireMessage() || in.CurrentPosition() != static_cast<int>(value.size()))
    return "not a protobuf message (invalid tag at byte " + std::to_string(in.CurrentPosition()) +
           ")";
  if (!found)
    return "no common.MsgBase in field 1";
  return {};
}

template <class T>
std::unique_ptr<Message> make() {
  return std::make_unique<T>();
}

/// The payload type of each message type the WAL carries (spec/wal.md); nullptr for the
/// others.
std::unique_ptr<Message> payload_of(pb::common::MsgType type) {
  using namespace pb::common;
  namespace msg = pb::msg;
  switch (type) {
  // DML topics
  case Insert:
    return make<msg::InsertRequest>();
  case Delete:
    return make<msg::DeleteRequest>();
  case TimeTick:
    return make<msg::TimeTickMsg>();
  case CreateCollection:
    return make<msg::CreateCollectionRequest>();
  case DropCollection:
    return make<msg::DropCollectionRequest>();
  case CreatePartition:
    return make<msg::CreatePartitionRequest>();
  case DropPartition:
    return make<msg::DropPartitionRequest>();
  // replicate channel
  case CreateDatabase:
    return make<mpb::CreateDatabaseRequest>();
  case DropDatabase:
    return make<mpb::DropDatabaseRequest>();
  case AlterDatabase:
    return make<mpb::AlterDatabaseRequest>();
  case Flush:
    return make<mpb::FlushRequest>();
  case LoadCollection:
    return make<mpb::LoadCollectionRequest>();
  case ReleaseCollection:
    return make<mpb::ReleaseCollectionRequest>();
  case LoadPartitions:
    return make<mpb::LoadPartitionsRequest>();
  case ReleasePartitions:
    return make<mpb::ReleasePartitionsRequest>();
  case CreateIndex:
    return make<mpb::CreateIndexRequest>();
  case DropIndex:
    return make<mpb::DropIndexRequest>();
  case AlterIndex:
    return make<mpb::AlterIndexRequest>();
  case AlterCollection:
    return make<mpb::AlterCollectionRequest>();
  case AlterCollectionField:
    return make<mpb::AlterCollectionFieldRequest>();
  case RenameCollection:
    return make<mpb::RenameCollectionRequest>();
  case CreateAlias:
    return make<mpb::CreateAliasRequest>();
  case DropAlias:
    return make<mpb::DropAliasRequest>();
  case AlterAlias:
    return make<mpb::AlterAliasRequest>();
  case CreateCredential:
    return make<mpb::CreateCredentialRequest>();
  case DeleteCredential:
    return make<mpb::DeleteCredentialRequest>();
  case UpdateCredential:
    return make<mpb::UpdateCredentialRequest>();
  case CreateRole:
    return make<mpb::CreateRoleRequest>();
  case DropRole:
    return make<mpb::DropRoleRequest>();
  case OperateUserRole:
    return make<mpb::OperateUserRoleRequest>();
  case OperatePrivilege:
    return make<mpb::OperatePrivilegeRequest>();
  case CreatePrivilegeGroup:
    return make<mpb::CreatePrivilegeGroupRequest>();
  case DropPrivilegeGroup:
    return make<mpb::DropPrivilegeGroupRequest>();
  case OperatePrivilegeGroup:
    return make<mpb::OperatePrivilegeGroupRequest>();
  case OperatePrivilegeV2:
    return make<mpb::OperatePrivilegeV2Request>();
  default:
    return nullptr;
  }
}

/// Milvus's EndTs of an Insert or Delete: the largest of its per-row timestamps. Milvus
/// 2.3.5 leaves `base.timestamp` 0 on the Insert half of an upsert; its msgstream takes the
/// message time from `timestamps` too.
template <class Request>
uint64_t end_ts(const Request& req) {
  if (req.timestamps_size() == 0)
    return req.base().timestamp();
  return *std::max_element(req.timestamps().begin(), req.timestamps().end());
}

/// String field `name` of `msg`, empty when it has none.
std::string string_field(const Message& msg, const char* name) {
  auto* field = msg.GetDescriptor()->FindFieldByName(name);
  if (field == nullptr || field->is_repeated() ||
      field->type() != google::protobuf::FieldDescriptor::TYPE_STRING)
    return {};
  return msg.GetReflection()->GetString(msg, field);
}

int64_t int64_field(const Message& msg, const char* name) {
  auto* field = msg.GetDescriptor()->FindFieldByName(name);
  if (field == nullptr || field->is_repeated() ||
      field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_INT64)
    return 0;
  return msg.GetReflection()->GetInt64(msg, field);
}

/// Fills timestamp, collection, shard and names of `ev` from its payload. Returns a reason
/// when the payload is inconsistent.
std::string fill(event& ev, const Message& body) {
  using namespace pb::common;
  namespace msg = pb::msg;
  switch (ev.type) {
  case Insert: {
    auto& m = static_cast<const msg::InsertRequest&>(body);
    ev.timestamp = end_ts(m);
    ev.collection_id = m.collectionid();
    ev.shard_name = m.shardname();
    ev.db_name = m.db_name();
    ev.collection_name = m.collection_name();
    return {};
  }
  case Delete: {
    auto& m = static_cast<const msg::DeleteRequest&>(body);
    ev.timestamp = end_ts(m);
    ev.collection_id = m.collectionid();
    ev.shard_name = m.shardname();
    ev.db_name = m.db_name();
    ev.collection_name = m.collection_name();
    return {};
  }
  case CreateCollection: {
    auto& m = static_cast<const msg::CreateCollectionRequest&>(body);
    ev.collection_id = m.collectionid();
    ev.db_name = m.db_name();
    ev.collection_name = m.collectionname();
    // 2.4/2.5 (and 2.3.5) leave collectionName empty: the name is in the schema.
    pb::schema::CollectionSchema schema;
    if (!schema.ParseFromString(m.schema()))
      return "CreateCollection: field schema is not a schema.CollectionSchema";
    if (ev.collection_name.empty())
      ev.collection_name = schema.name();
    return {};
  }
  case DropCollection: {
    auto& m = static_cast<const msg::DropCollectionRequest&>(body);
    ev.collection_id = m.collectionid();
    ev.db_name = m.db_name();
    ev.collection_name = m.collectionname();
    return {};
  }
  case CreatePartition: {
    auto& m = static_cast<const msg::CreatePartitionRequest&>(body);
    ev.collection_id = m.collectionid();
    ev.db_name = m.db_name();
    ev.collection_name = m.collection_name();
    return {};
  }
  case DropPartition: {
    auto& m = static_cast<const msg::DropPartitionRequest&>(body);
    ev.collection_id = m.collectionid();
    ev.db_name = m.db_name();
    ev.collection_name = m.collection_name();
    return {};
  }
  case TimeTick:
    return {};
  case RenameCollection: {
    auto& m = static_cast<const mpb::RenameCollectionRequest&>(body);
    ev.db_name = m.db_name();
    ev.collection_name = m.oldname();
    return {};
  }
  default:
    // The replicate channel's requests: names where the request has them (Flush names
    // several collections in `collection_names`: read the body).
    ev.db_name = string_field(body, "db_name");
    ev.collection_name = string_field(body, "collection_name");
    ev.collection_id = int64_field(body, "collectionID");
    return {};
  }
}

/// The type a `msg_type` header names (enum name, or a number), Undefined when none.
pb::common::MsgType hinted_type(const raw_record& record) {
  for (auto& [name, value] : record.headers) {
    if (name != "msg_type")
      continue;
    pb::common::MsgType type;
    if (pb::common::MsgType_Parse(value, &type))
      return type;
    int number = 0;
    auto [end, err] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (err == std::errc{} && end == value.data() + value.size() &&
        pb::common::MsgType_IsValid(number))
      return static_cast<pb::common::MsgType>(number);
  }
  return pb::common::Undefined;
}

/// The name of a ScalarField case, e.g. "long_data".
std::string case_name(pb::schema::ScalarField::DataCase c) {
  using S = pb::schema::ScalarField;
  if (c == S::DATA_NOT_SET)
    return "no data";
  return S::descriptor()->FindFieldByNumber(static_cast<int>(c))->name();
}

/// The ScalarField case a scalar data type is stored in; DATA_NOT_SET for vectors and
/// unknown types.
pb::schema::ScalarField::DataCase scalar_case(pb::schema::DataType type) {
  using namespace pb::schema;
  using S = ScalarField;
  switch (type) {
  case Bool:
    return S::kBoolData;
  case Int8:
  case Int16:
  case Int32:
    return S::kIntData;
  case Int64:
    return S::kLongData;
  case Float:
    return S::kFloatData;
  case Double:
    return S::kDoubleData;
  case String:
  case VarChar:
    return S::kStringData;
  case Array:
    return S::kArrayData;
  case JSON:
    return S::kJsonData;
  case Geometry:
    return S::kGeometryData;
  default:
    return S::DATA_NOT_SET;
  }
}

std::string type_of(pb::schema::DataType type) {
  if (pb::schema::DataType_IsValid(type))
    return pb::schema::DataType_Name(type);
  return "data type " + std::to_string(static_cast<int>(type));
}

/// Why column `f` does not hold `rows` values; empty when it does.
std::string check_column(const pb::schema::FieldData& f, size_t rows) {
  using namespace pb::schema;
  const auto type = f.type();
  const std::string rows_text = std::to_string(rows) + " rows";
  if (f.valid_data_size() != 0 && static_cast<size_t>(f.valid_data_size()) != rows)
    return "valid_data has " + std::to_string(f.valid_data_size()) + " entries for " + rows_text;
  if (auto expected = scalar_case(type); expected != ScalarField::DATA_NOT_SET) {
    if (!f.has_scalars())
      return type_of(type) + " column without scalar data";
    if (f.scalars().data_case() != expected)
      return type_of(type) + " column holds " + case_name(f.scalars().data_case()) + ", expected " +
             case_name(expected);
    size_t n = scalar_count(f.scalars());
    if (n != rows)
      return type_of(type) + " column holds " + std::to_string(n) + " values for " + rows_text;
    return {};
  }
  if (type != BinaryVector && type != FloatVector && type != Float16Vector &&
      type != BFloat16Vector && type != SparseFloatVector)
    return "unsupported " + type_of(type);
  if (!f.has_vectors())
    return type_of(type) + " column without vector data";
  const auto& v = f.vectors();
  const int64_t dim = v.dim();
  if (type == SparseFloatVector) {
    if (!v.has_sparse_float_vector())
      return "SparseFloatVector column without sparse_float_vector data";
    const auto& sparse = v.sparse_float_vector();
    if (static_cast<size_t>(sparse.contents_size()) != rows)
      return "SparseFloatVector column holds " + std::to_string(sparse.contents_size()) +
             " vectors for " + rows_text;
    for (int i = 0; i < sparse.contents_size(); ++i)
      if (sparse.contents(i).size() % 8 != 0)
        return "SparseFloatVector row " + std::to_string(i) + " has " +
               std::to_string(sparse.contents(i).size()) +
               " bytes, not (uint32 index, float32 value) pairs";
    return {};
  }
  if (dim <= 0)
    return type_of(type) + " column with dim " + std::to_string(dim);
  size_t have = 0, per_row = 0;
  std::string unit;
  switch (type) {
  case FloatVector:
    if (!v.has_float_vector())
      return "FloatVector column without float_vector data";
    have = v.float_vector().data_size();
    per_row = dim;
    unit = "floats";
    break;
  case BinaryVector:
    if (!v.has_binary_vector())
      return "BinaryVector column without binary_vector data";
    if (dim % 8 != 0)
      return "BinaryVector column with dim " + std::to_string(dim) + ", not a multiple of 8";
    have = v.binary_vector().size();
    per_row = dim / 8;
    unit = "bytes";
    break;
  case Float16Vector:
    if (!v.has_float16_vector())
      return "Float16Vector column without float16_vector data";
    have = v.float16_vector().size();
    per_row = dim * 2;
    unit = "bytes";
    break;
  default: // BFloat16Vector
    if (!v.has_bfloat16_vector())
      return "BFloat16Vector column without bfloat16_vector data";
    have = v.bfloat16_vector().size();
    per_row = dim * 2;
    unit = "bytes";
    break;
  }
  if (have != per_row * rows)
    return type_of(type) + " column (dim " + std::to_string(dim) + ") holds " +
           std::to_string(have) + " " + unit + ", expected " + std::to_string(per_row) + " x " +
           rows_text + " = " + std::to_string(per_row * rows);
  return {};
}

std::string insert_where(const pb::msg::InsertRequest& insert) {
  return "Insert into collection " + std::to_string(insert.collectionid()) + " (" +
         insert.shardname() + ")";
}

} // namespace

namespace {

/// The collectionID (field 7 of msg.InsertRequest and msg.DeleteRequest) of a record, read
/// without parsing the rest: the columns are skipped, not copied. 0 when absent or malformed.
int64_t peek_collection_id(const std::string& value) {
  google::protobuf::io::CodedInputStream in{reinterpret_cast<const uint8_t*>(value.data()),
                                            static_cast<int>(value.size())};
  constexpr int collection_id_field = 7;
  while (uint32_t tag = in.ReadTag()) {
    if (google::protobuf::internal::WireFormatLite::GetTagFieldNumber(tag) == collection_id_field &&
        google::protobuf::internal::WireFormatLite::GetTagWireType(tag) ==
            google::protobuf::internal::WireFormatLite::WIRETYPE_VARINT) {
      uint64_t id = 0;
      return in.ReadVarint64(&id) ? static_cast<int64_t>(id) : 0;
    }
    if (!google::protobuf::internal::WireFormatLite::SkipField(&in, tag))
      return 0;
  }
  return 0;
}

} // namespace

caf::expected<event> decode(const raw_record& record, const collection_filter* skip) {
  for (auto& [name, value] : record.headers)
    if (name == "_v")
      return make_error(ec::unsupported_format, where(record) +
                                                    ": Milvus 2.6 record format (header _v=" +
                                                    printable(value) + ") is not supported yet");
  if (record.value.empty())
    return undecodable(record, "empty value");
  pb::common::MsgBase base;
  if (auto reason = read_base(record.value, base); !reason.empty())
    return undecodable(record, reason);
  const auto type = base.msg_type();
  if (skip != nullptr && (type == pb::common::Insert || type == pb::common::Delete)) {
    if (auto id = peek_collection_id(record.value); id != 0 && skip->skipped(id)) {
      event ev;
      ev.type = type;
      ev.topic = record.topic;
      ev.offset = record.offset;
      ev.timestamp = base.timestamp();
      ev.collection_id = id;
      ev.bytes = record.value.size();
      return ev;
    }
  }
  auto body = payload_of(type);
  if (!body) {
    std::string reason = "unknown message type " + std::to_string(static_cast<int>(type));
    if (pb::common::MsgType_IsValid(type))
      reason = "message type " + type_name(type) + " (" + std::to_string(static_cast<int>(type)) +
               ") is not a WAL message";
    if (auto hint = hinted_type(record); hint != pb::common::Undefined && hint != type)
      reason += " (header msg_type says " + type_name(hint) + ")";
    return undecodable(record, reason);
  }
  if (!body->ParseFromString(record.value))
    return undecodable(record, "not a valid " + body->GetDescriptor()->full_name() + " (" +
                                   type_name(type) + ")");
  event ev;
  ev.type = type;
  ev.topic = record.topic;
  ev.offset = record.offset;
  ev.timestamp = base.timestamp();
  ev.bytes = record.value.size();
  if (auto reason = fill(ev, *body); !reason.empty())
    return undecodable(record, reason);
  ev.body = std::shared_ptr<const Message>{std::move(body)};
  return ev;
}

std::string type_name(pb::common::MsgType type) {
  if (pb::common::MsgType_IsValid(type))
    return pb::common::MsgType_Name(type);
  return std::to_string(static_cast<int>(type));
}

size_t row_count(const pb::msg::InsertRequest& insert) {
  if (insert.num_rows() != 0)
    return static_cast<size_t>(insert.num_rows());
  return static_cast<size_t>(insert.timestamps_size());
}

caf::error validate_insert(const pb::msg::InsertRequest& insert) {
  const size_t rows = row_count(insert);
  auto fail = [&](const std::string& what) {
    return make_error(ec::undecodable_record, insert_where(insert) + ": " + what);
  };
  if (insert.row_data_size() != 0)
    return fail("row-based data (row_data) is not supported");
  if (static_cast<size_t>(insert.timestamps_size()) != rows)
    return fail("timestamps has " + std::to_string(insert.timestamps_size()) + " entries for " +
                std::to_string(rows) + " rows");
  if (insert.rowids_size() != 0 && static_cast<size_t>(insert.rowids_size()) != rows)
    return fail("rowIDs has " + std::to_string(insert.rowids_size()) + " entries for " +
                std::to_string(rows) + " rows");
  for (const auto& f : insert.fields_data())
    if (auto reason = check_column(f, rows); !reason.empty())
      return fail("field '" + f.field_name() + "' (id " + std::to_string(f.field_id()) +
                  "): " + reason);
  return {};
}

caf::expected<primary_keys> insert_keys(const pb::msg::InsertRequest& insert,
                                        const pb::schema::CollectionSchema& schema) {
  auto fail = [&](const std::string& what) {
    return make_error(ec::undecodable_record, insert_where(insert) + ": " + what);
  };
  const pb::schema::FieldSchema* pk = nullptr;
  for (const auto& field : schema.fields())
    if (field.is_primary_key()) {
      pk = &field;
      break;
    }
  if (pk == nullptr)
    return fail("the schema of '" + schema.name() + "' has no primary key field");
  const std::string pk_text =
      "primary key field '" + pk->name() + "' (id " + std::to_string(pk->fieldid()) + ")";
  const pb::schema::FieldData* column = nullptr;
  for (const auto& f : insert.fields_data())
    if (pk->fieldid() != 0 && f.field_id() == pk->fieldid()) {
      column = &f;
      break;
    }
  if (column == nullptr)
    for (const auto& f : insert.fields_data())
      if (f.field_name() == pk->name()) {
        column = &f;
        break;
      }
  if (column == nullptr)
    return fail("no column for the " + pk_text);
  primary_keys keys;
  const auto& s = column->scalars();
  switch (pk->data_type()) {
  case pb::schema::Int64:
    if (!column->has_scalars() || !s.has_long_data())
      return fail("the column of the Int64 " + pk_text + " holds no long_data");
    keys.ints.assign(s.long_data().data().begin(), s.long_data().data().end());
    return keys;
  case pb::schema::VarChar:
  case pb::schema::String:
    if (!column->has_scalars() || !s.has_string_data())
      return fail("the column of the VarChar " + pk_text + " holds no string_data");
    keys.strings.assign(s.string_data().data().begin(), s.string_data().data().end());
    return keys;
  default:
    return fail("the " + pk_text + " has type " + type_of(pk->data_type()) +
                ", not Int64 or VarChar");
  }
}

primary_keys delete_keys(const pb::msg::DeleteRequest& del) {
  primary_keys keys;
  const auto& ids = del.primary_keys();
  if (ids.has_int_id())
    keys.ints.assign(ids.int_id().data().begin(), ids.int_id().data().end());
  else if (ids.has_str_id())
    keys.strings.assign(ids.str_id().data().begin(), ids.str_id().data().end());
  else
    keys.ints.assign(del.int64_primary_keys().begin(), del.int64_primary_keys().end());
  return keys;
}

std::string_view physical_channel(std::string_view vchannel) {
  auto pos = vchannel.rfind('_');
  if (pos == std::string_view::npos)
    return vchannel;
  return vchannel.substr(0, pos);
}

int shard_index(std::string_view vchannel) {
  auto underscore = vchannel.rfind('_');
  auto v = vchannel.rfind('v');
  if (underscore == std::string_view::npos || v == std::string_view::npos || v < underscore)
    return -1;
  auto all_digits = [](std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  auto collection = vchannel.substr(underscore + 1, v - underscore - 1);
  auto index = vchannel.substr(v + 1);
  if (!all_digits(collection) || !all_digits(index))
    return -1;
  int result = -1;
  auto [end, err] = std::from_chars(index.data(), index.data() + index.size(), result);
  if (err != std::errc{} || end != index.data() + index.size())
    return -1;
  return result;
}

std::string dml_topic(std::string_view cluster_prefix, int index) {
  std::string topic{cluster_prefix};
  topic += "-rootcoord-dml_";
  topic += std::to_string(index);
  return topic;
}

size_t scalar_count(const pb::schema::ScalarField& s) {
  using S = pb::schema::ScalarField;
  switch (s.data_case()) {
  case S::kBoolData:
    return s.bool_data().data_size();
  case S::kIntData:
    return s.int_data().data_size();
  case S::kLongData:
    return s.long_data().data_size();
  case S::kFloatData:
    return s.float_data().data_size();
  case S::kDoubleData:
    return s.double_data().data_size();
  case S::kStringData:
    return s.string_data().data_size();
  case S::kBytesData:
    return s.bytes_data().data_size();
  case S::kArrayData:
    return s.array_data().data_size();
  case S::kJsonData:
    return s.json_data().data_size();
  case S::kGeometryData:
    return s.geometry_data().data_size();
  case S::DATA_NOT_SET:
    break;
  }
  return 0;
}

} // namespace cdc::wal
