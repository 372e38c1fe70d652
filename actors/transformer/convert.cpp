#include "actors/transformer/convert.hpp"

#include <algorithm>

namespace cdc::transform {

namespace {

namespace mpb = ::milvus::proto::milvus;
namespace spb = ::milvus::proto::schema;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

constexpr std::string_view default_db{"default"};
constexpr std::string_view dynamic_field_name{"$meta"};

caf::error mismatch(const std::string& what) {
  return make_error(ec::undecodable_record, what);
}

std::string collection_text(const collection_info& collection) {
  return "collection '" + collection.db_name + "." + collection.name + "' (id " +
         std::to_string(collection.id) + ")";
}

// -- columns ----------------------------------------------------------------------------------

/// Bytes (or floats) one vector takes in its VectorField storage; 0 when `dim` is unusable.
size_t vector_unit(spb::DataType type, int64_t dim) {
  if (dim <= 0)
    return 0;
  switch (type) {
  case spb::FloatVector:
    return static_cast<size_t>(dim);
  case spb::BinaryVector:
    return static_cast<size_t>(dim) / 8;
  case spb::Float16Vector:
  case spb::BFloat16Vector:
    return static_cast<size_t>(dim) * 2;
  default:
    return 0;
  }
}

/// Number of values a column holds (not rows: a compact nullable column holds fewer).
size_t value_count(const spb::FieldData& f) {
  if (f.has_scalars())
    return wal::scalar_count(f.scalars());
  if (f.has_vectors()) {
    const auto& v = f.vectors();
    using V = spb::VectorField;
    switch (v.data_case()) {
    case V::kFloatVector:
      if (auto unit = vector_unit(spb::FloatVector, v.dim()))
        return v.float_vector().data_size() / unit;
      return 0;
    case V::kBinaryVector:
      if (auto unit = vector_unit(spb::BinaryVector, v.dim()))
        return v.binary_vector().size() / unit;
      return 0;
    case V::kFloat16Vector:
      if (auto unit = vector_unit(spb::Float16Vector, v.dim()))
        return v.float16_vector().size() / unit;
      return 0;
    case V::kBfloat16Vector:
      if (auto unit = vector_unit(spb::BFloat16Vector, v.dim()))
        return v.bfloat16_vector().size() / unit;
      return 0;
    case V::kSparseFloatVector:
      return v.sparse_float_vector().contents_size();
    case V::DATA_NOT_SET:
      return 0;
    }
  }
  return 0;
}

/// A column with the same field, type and data case as `f`, and no values.
spb::FieldData empty_like(const spb::FieldData& f) {
  spb::FieldData out;
  out.set_type(f.type());
  out.set_field_name(f.field_name());
  out.set_field_id(f.field_id());
  out.set_is_dynamic(f.is_dynamic());
  return out;
}

template <class Array>
void append_plain(Array* to, const Array& from, size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i)
    to->add_data(from.data(static_cast<int>(i)));
}

/// Appends values [begin, end) of `from` to `to` (same field); sets the data case of `to`
/// even when the range is empty.
void append_values(spb::FieldData& to, const spb::FieldData& from, size_t begin, size_t end) {
  using S = spb::ScalarField;
  if (from.has_scalars()) {
    const auto& s = from.scalars();
    auto* t = to.mutable_scalars();
    switch (s.data_case()) {
    case S::kBoolData:
      append_plain(t->mutable_bool_data(), s.bool_data(), begin, end);
      break;
    case S::kIntData:
      append_plain(t->mutable_int_data(), s.int_data(), begin, end);
      break;
    case S::kLongData:
      append_plain(t->mutable_long_data(), s.long_data(), begin, end);
      break;
    case S::kFloatData:
      append_plain(t->mutable_float_data(), s.float_data(), begin, end);
      break;
    case S::kDoubleData:
      append_plain(t->mutable_double_data(), s.double_data(), begin, end);
      break;
    case S::kStringData:
      append_plain(t->mutable_string_data(), s.string_data(), begin, end);
      break;
    case S::kBytesData:
      append_plain(t->mutable_bytes_data(), s.bytes_data(), begin, end);
      break;
    case S::kJsonData:
      append_plain(t->mutable_json_data(), s.json_data(), begin, end);
      break;
    case S::kGeometryData:
      append_plain(t->mutable_geometry_data(), s.geometry_data(), begin, end);
      break;
    case S::kArrayData: {
      auto* a = t->mutable_array_data();
      a->set_element_type(s.array_data().element_type());
      for (size_t i = begin; i < end; ++i)
        *a->add_data() = s.array_data().data(static_cast<int>(i));
      break;
    }
    case S::DATA_NOT_SET:
      break;
    }
    return;
  }
  if (!from.has_vectors())
    return;
  using V = spb::VectorField;
  const auto& v = from.vectors();
  auto* t = to.mutable_vectors();
  t->set_dim(v.dim());
  const size_t count = end - begin;
  switch (v.data_case()) {
  case V::kFloatVector: {
    const size_t unit = vector_unit(spb::FloatVector, v.dim());
    auto* data = t->mutable_float_vector()->mutable_data();
    const auto& src = v.float_vector().data();
    data->Add(src.begin() + static_cast<long>(begin * unit),
              src.begin() + static_cast<long>(end * unit));
    break;
  }
  case V::kBinaryVector: {
    const size_t unit = vector_unit(spb::BinaryVector, v.dim());
    t->mutable_binary_vector()->append(v.binary_vector(), begin * unit, count * unit);
    break;
  }
  case V::kFloat16Vector: {
    const size_t unit = vector_unit(spb::Float16Vector, v.dim());
    t->mutable_float16_vector()->append(v.float16_vector(), begin * unit, count * unit);
    break;
  }
  case V::kBfloat16Vector: {
    const size_t unit = vector_unit(spb::BFloat16Vector, v.dim());
    t->mutable_bfloat16_vector()->append(v.bfloat16_vector(), begin * unit, count * unit);
    break;
  }
  case V::kSparseFloatVector: {
    const auto& src = v.sparse_float_vector();
    auto* sparse = t->mutable_sparse_float_vector();
    sparse->set_dim(std::max(sparse->dim(), src.dim()));
    t->set_dim(std::max(t->dim(), v.dim()));
    for (size_t i = begin; i < end; ++i)
      sparse->add_contents(src.contents(static_cast<int>(i)));
    break;
  }
  case V::DATA_NOT_SET:
    break;
  }
}

size_t valid_count(const spb::FieldData& f, size_t begin, size_t end) {
  size_t n = 0;
  for (size_t i = begin; i < end; ++i)
    n += f.valid_data(static_cast<int>(i)) ? 1 : 0;
  return n;
}

const spb::FieldSchema* find_field(const spb::CollectionSchema& schema,
                                   const spb::FieldData& column) {
  if (column.field_id() != 0)
    for (const auto& field : schema.fields())
      if (field.fieldid() == column.field_id())
        return &field;
  for (const auto& field : schema.fields())
    if (!column.field_name().empty() && field.name() == column.field_name())
      return &field;
  return nullptr;
}

/// The partition a WAL Insert/Delete names, or "" for all/default. Error when it names one
/// only by an unknown id.
caf::expected<std::string> partition_of(const std::string& name, int64_t id,
                                        const collection_info& collection, const options& opts,
                                        const char* what) {
  if (opts.ignore_partition || has_partition_key(collection.schema))
    return std::string{};
  if (!name.empty())
    return name;
  if (id == -1 || id == 0)
    return std::string{};
  if (auto it = collection.partitions.find(id); it != collection.partitions.end())
    return it->second;
  return mismatch(std::string{what} + " of " + collection_text(collection) + " names partition " +
                  std::to_string(id) + " by id only, and its name is not known");
}

template <class Request>
caf::expected<Request> rows_request(const pb::msg::InsertRequest& insert,
                                    const collection_info& collection, const name_mapper& names,
                                    const options& opts) {
  if (insert.collectionid() != 0 && collection.id != 0 && insert.collectionid() != collection.id)
    return make_error(ec::invalid_argument,
                      "Insert into collection " + std::to_string(insert.collectionid()) +
                          " converted with the schema of " + collection_text(collection));
  auto partition =
      partition_of(insert.partition_name(), insert.partitionid(), collection, opts, "Insert");
  if (!partition)
    return partition.error();
  auto columns = target_columns(insert, collection.schema);
  if (!columns)
    return make_error(code_of(columns.error()),
                      collection_text(collection) + ": " + message_of(columns.error()));
  Request req;
  req.set_db_name(names.db(collection.db_name));
  req.set_collection_name(names.collection(collection.db_name, collection.name));
  req.set_partition_name(*partition);
  for (auto& column : *columns)
    *req.add_fields_data() = std::move(column);
  req.set_num_rows(static_cast<uint32_t>(wal::row_count(insert)));
  return req;
}

// -- DDL --------------------------------------------------------------------------------------

const FieldDescriptor* string_field(const Message& msg, const char* name) {
  auto* field = msg.GetDescriptor()->FindFieldByName(name);
  if (field == nullptr || field->type() != FieldDescriptor::TYPE_STRING)
    return nullptr;
  return field;
}

template <class T>
ddl make_ddl(pb::common::MsgType type, std::shared_ptr<T> request) {
  return ddl{type, std::move(request)};
}

} // namespace

// -- names ------------------------------------------------------------------------------------

name_mapper::name_mapper(std::vector<name_mapping> mappings) : mappings_(std::move(mappings)) {}

const name_mapping* name_mapper::find(std::string_view source_db) const {
  if (source_db.empty())
    source_db = default_db;
  for (const auto& m : mappings_) {
    std::string_view from = m.source_db.empty() ? default_db : std::string_view{m.source_db};
    if (from == source_db)
      return &m;
  }
  return nullptr;
}

std::string name_mapper::db(std::string_view source_db) const {
  if (auto* m = find(source_db); m != nullptr && !m->target_db.empty())
    return m->target_db;
  return std::string{source_db.empty() ? default_db : source_db};
}

std::string name_mapper::collection(std::string_view source_db, std::string_view collection) const {
  if (auto* m = find(source_db))
    if (auto it = m->collection_mapping.find(std::string{collection});
        it != m->collection_mapping.end())
      return it->second;
  return std::string{collection};
}

// -- collections ------------------------------------------------------------------------------

caf::expected<collection_info> collection_from_wal(const pb::msg::CreateCollectionRequest& msg,
                                                   std::string_view db_name) {
  collection_info info;
  if (!info.schema.ParseFromString(msg.schema()))
    return mismatch("CreateCollection of collection " + std::to_string(msg.collectionid()) +
                    ": field schema is not a schema.CollectionSchema");
  info.db_name = !db_name.empty()         ? std::string{db_name}
                 : !msg.db_name().empty() ? msg.db_name()
                                          : std::string{default_db};
  info.name = msg.collectionname().empty() ? info.schema.name() : msg.collectionname();
  info.id = msg.collectionid();
  info.shards_num = std::max(1, msg.virtualchannelnames_size());
  const bool partition_key = has_partition_key(info.schema);
  if (partition_key)
    info.num_partitions = msg.partitionids_size();
  // The partitions a collection is created with: "_default", or "_default_<i>" for each
  // partition of a partition key (Milvus's common.defaultPartitionName).
  for (int i = 0; i < msg.partitionids_size(); ++i)
    if (partition_key)
      info.partitions[msg.partitionids(i)] = "_default_" + std::to_string(i);
    else if (msg.partitionids_size() == 1)
      info.partitions[msg.partitionids(i)] = "_default";
  return info;
}

collection_info collection_from_describe(const pb::milvus::DescribeCollectionResponse& resp) {
  collection_info info;
  info.schema = resp.schema();
  info.db_name = resp.db_name().empty() ? std::string{default_db} : resp.db_name();
  info.name = resp.collection_name().empty() ? resp.schema().name() : resp.collection_name();
  info.id = resp.collectionid();
  info.shards_num =
      resp.shards_num() > 0 ? resp.shards_num() : std::max(1, resp.virtual_channel_names_size());
  if (has_partition_key(info.schema))
    info.num_partitions = resp.num_partitions();
  info.consistency_level = resp.consistency_level();
  for (const auto& kv : resp.properties())
    info.properties.emplace_back(kv.key(), kv.value());
  return info;
}

const pb::schema::FieldSchema* primary_key(const pb::schema::CollectionSchema& schema) {
  for (const auto& field : schema.fields())
    if (field.is_primary_key())
      return &field;
  return nullptr;
}

bool is_system_field(const pb::schema::FieldSchema& field) {
  return (field.fieldid() == 0 && field.name() == "RowID") ||
         (field.fieldid() == 1 && field.name() == "Timestamp");
}

bool is_function_output(const pb::schema::CollectionSchema& schema,
                        const pb::schema::FieldSchema& field) {
  if (field.is_function_output())
    return true;
  for (const auto& function : schema.functions()) {
    for (const auto& name : function.output_field_names())
      if (name == field.name())
        return true;
    if (field.fieldid() != 0)
      for (auto id : function.output_field_ids())
        if (id == field.fieldid())
          return true;
  }
  return false;
}

bool has_partition_key(const pb::schema::CollectionSchema& schema) {
  return std::any_of(schema.fields().begin(), schema.fields().end(),
                     [](const auto& field) { return field.is_partition_key(); });
}

caf::expected<create_collection> create_collection_request(const collection_info& collection,
                                                           const name_mapper& names,
                                                           const options& opts) {
  const auto& source = collection.schema;
  const auto* pk = primary_key(source);
  if (pk == nullptr)
    return mismatch("the schema of " + collection_text(collection) + " has no primary key field");
  create_collection result;
  auto& schema = result.schema;
  const std::string target_name = names.collection(collection.db_name, collection.name);
  schema.set_name(target_name);
  schema.set_description(source.description());
  bool dynamic = source.enable_dynamic_field();
  bool auto_id = false;
  for (const auto& field : source.fields()) {
    if (is_system_field(field))
      continue;
    if (field.is_dynamic() || field.name() == dynamic_field_name) {
      dynamic = true;
      continue;
    }
    auto* f = schema.add_fields();
    *f = field;
    f->clear_fieldid();
    f->clear_state();
    f->clear_is_function_output(); // the target derives it from the functions
    if (f->autoid() && opts.auto_id != auto_id_mode::keep) {
      if (f->is_primary_key() && opts.auto_id == auto_id_mode::allow_insert) {
        auto_id = true;
        result.auto_id_changed = true;
        result.note = "autoID primary key '" + f->name() +
                      "' kept with property allow_insert_auto_id=true: the target takes the "
                      "source's keys";
      } else {
        f->set_autoid(false);
        if (f->is_primary_key()) {
          result.auto_id_changed = true;
          result.note = "autoID primary key '" + f->name() +
                        "' created with autoID=false: the target takes the source's keys";
        }
      }
    }
  }
  schema.set_enable_dynamic_field(dynamic);
  for (const auto& function : source.functions()) {
    auto* f = schema.add_functions();
    *f = function;
    f->clear_id();
    f->clear_input_field_ids();
    f->clear_output_field_ids();
  }

  auto& req = result.request;
  req.set_db_name(names.db(collection.db_name));
  req.set_collection_name(target_name);
  req.set_shards_num(std::max(1, collection.shards_num));
  req.set_consistency_level(collection.consistency_level);
  if (collection.num_partitions > 0 && has_partition_key(source))
    req.set_num_partitions(collection.num_partitions);
  auto add_property = [&req](const std::string& key, const std::string& value) {
    for (const auto& kv : req.properties())
      if (kv.key() == key)
        return;
    auto* kv = req.add_properties();
    kv->set_key(key);
    kv->set_value(value);
  };
  for (const auto& [key, value] : collection.properties)
    add_property(key, value);
  for (const auto& kv : source.properties())
    add_property(kv.key(), kv.value());
  if (auto_id)
    add_property("allow_insert_auto_id", "true");
  req.set_schema(schema.SerializeAsString());
  return result;
}

// -- rows -------------------------------------------------------------------------------------

size_t column_rows(const pb::schema::FieldData& column) {
  if (column.valid_data_size() != 0)
    return static_cast<size_t>(column.valid_data_size());
  return value_count(column);
}

caf::expected<pb::schema::FieldData> compact_nullable(const pb::schema::FieldData& column) {
  if (column.valid_data_size() == 0)
    return column;
  const size_t rows = static_cast<size_t>(column.valid_data_size());
  const size_t values = value_count(column);
  const size_t valid = valid_count(column, 0, rows);
  if (values == valid) // already compact (also: every row valid)
    return column;
  if (values != rows)
    return mismatch("nullable column '" + column.field_name() + "' holds " +
                    std::to_string(values) + " values for " + std::to_string(rows) +
                    " rows of which " + std::to_string(valid) + " are valid");
  auto out = empty_like(column);
  append_values(out, column, 0, 0); // the data case, also when no row is valid
  size_t i = 0;
  while (i < rows) {
    if (!column.valid_data(static_cast<int>(i))) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < rows && column.valid_data(static_cast<int>(j)))
      ++j;
    append_values(out, column, i, j);
    i = j;
  }
  *out.mutable_valid_data() = column.valid_data();
  return out;
}

pb::schema::FieldData slice_rows(const pb::schema::FieldData& column, size_t begin, size_t end) {
  auto out = empty_like(column);
  if (column.valid_data_size() == 0) {
    append_values(out, column, begin, end);
    return out;
  }
  const size_t values = value_count(column);
  if (values == static_cast<size_t>(column.valid_data_size())) {
    // full length (not compacted): values are rows
    append_values(out, column, begin, end);
  } else {
    const size_t first = valid_count(column, 0, begin);
    append_values(out, column, first, first + valid_count(column, begin, end));
  }
  for (size_t i = begin; i < end; ++i)
    out.add_valid_data(column.valid_data(static_cast<int>(i)));
  return out;
}

void append_rows(pb::schema::FieldData& to, const pb::schema::FieldData& from) {
  append_values(to, from, 0, value_count(from));
  for (bool valid : from.valid_data())
    to.add_valid_data(valid);
}

caf::expected<std::vector<pb::schema::FieldData>>
target_columns(const pb::msg::InsertRequest& insert, const pb::schema::CollectionSchema& schema) {
  if (auto err = wal::validate_insert(insert))
    return err;
  std::vector<pb::schema::FieldData> out;
  out.reserve(static_cast<size_t>(insert.fields_data_size()));
  for (const auto& column : insert.fields_data()) {
    const auto* field = find_field(schema, column);
    bool dynamic = column.is_dynamic() || column.field_name() == dynamic_field_name;
    if (field == nullptr) {
      if (column.field_name() == "RowID" || column.field_name() == "Timestamp")
        continue;
      if (!dynamic)
        return mismatch("column '" + column.field_name() + "' (id " +
                        std::to_string(column.field_id()) + ") is not in the schema of '" +
                        schema.name() + "'");
    } else {
      if (is_system_field(*field) || is_function_output(schema, *field))
        continue;
      dynamic = dynamic || field->is_dynamic();
    }
    auto compact = compact_nullable(column);
    if (!compact)
      return compact.error();
    auto& c = out.emplace_back(std::move(*compact));
    c.clear_field_id();
    if (field != nullptr) {
      c.set_field_name(field->name());
      // Milvus 2.3.5 leaves the element type of array columns unset on the WAL
      if (field->data_type() == spb::Array && c.has_scalars() && c.scalars().has_array_data() &&
          c.scalars().array_data().element_type() == spb::None)
        c.mutable_scalars()->mutable_array_data()->set_element_type(field->element_type());
    }
    c.set_is_dynamic(dynamic);
  }
  return out;
}

caf::expected<pb::milvus::InsertRequest> insert_request(const pb::msg::InsertRequest& insert,
                                                        const collection_info& collection,
                                                        const name_mapper& names,
                                                        const options& opts) {
  return rows_request<pb::milvus::InsertRequest>(insert, collection, names, opts);
}

caf::expected<pb::milvus::UpsertRequest> upsert_request(const pb::msg::InsertRequest& insert,
                                                        const collection_info& collection,
                                                        const name_mapper& names,
                                                        const options& opts) {
  return rows_request<pb::milvus::UpsertRequest>(insert, collection, names, opts);
}

// -- deletes ----------------------------------------------------------------------------------

std::string quote(std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    switch (ch) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (c < 0x20 || c == 0x7f) {
        out += "\\x";
        out += hex[c >> 4];
        out += hex[c & 0xf];
      } else {
        out += ch;
      }
    }
  }
  out += '"';
  return out;
}

std::string key_expression(std::string_view pk_field, const wal::primary_keys& keys) {
  std::string expr{pk_field};
  expr += " in [";
  bool first = true;
  for (auto key : keys.ints) {
    if (!first)
      expr += ',';
    first = false;
    expr += std::to_string(key);
  }
  for (const auto& key : keys.strings) {
    if (!first)
      expr += ',';
    first = false;
    expr += quote(key);
  }
  expr += ']';
  return expr;
}

std::vector<wal::primary_keys> split_keys(std::string_view pk_field, const wal::primary_keys& keys,
                                          size_t max_bytes) {
  std::vector<wal::primary_keys> groups;
  const size_t empty = pk_field.size() + 6; // "<pk> in []"
  size_t length = 0;                        // of the last group's expression
  // makes room for a literal of `size` bytes in the last group, or starts a new one
  auto place = [&](size_t size) {
    const bool first = groups.empty() || groups.back().size() == 0;
    if (groups.empty() || (!first && length + 1 + size > max_bytes)) {
      groups.emplace_back();
      length = empty + size;
    } else {
      length += (first ? 0 : 1) + size;
    }
  };
  for (auto key : keys.ints) {
    place(std::to_string(key).size());
    groups.back().ints.push_back(key);
  }
  for (const auto& key : keys.strings) {
    place(quote(key).size());
    groups.back().strings.push_back(key);
  }
  return groups;
}

caf::expected<pb::milvus::DeleteRequest> delete_request(const pb::msg::DeleteRequest& del,
                                                        const collection_info& collection,
                                                        const name_mapper& names,
                                                        const options& opts) {
  if (del.collectionid() != 0 && collection.id != 0 && del.collectionid() != collection.id)
    return make_error(ec::invalid_argument,
                      "Delete of collection " + std::to_string(del.collectionid()) +
                          " converted with the schema of " + collection_text(collection));
  const auto* pk = primary_key(collection.schema);
  if (pk == nullptr)
    return mismatch("the schema of " + collection_text(collection) + " has no primary key field");
  const auto keys = wal::delete_keys(del);
  const bool string_pk = pk->data_type() == spb::VarChar || pk->data_type() == spb::String;
  if ((string_pk && !keys.ints.empty()) || (!string_pk && !keys.strings.empty()))
    return mismatch("Delete of " + collection_text(collection) + " carries " +
                    (string_pk ? "integer" : "string") + " keys for the primary key '" +
                    pk->name() + "' of type " + spb::DataType_Name(pk->data_type()));
  auto partition =
      partition_of(del.partition_name(), del.partitionid(), collection, opts, "Delete");
  if (!partition)
    return partition.error();
  pb::milvus::DeleteRequest req;
  req.set_db_name(names.db(collection.db_name));
  req.set_collection_name(names.collection(collection.db_name, collection.name));
  req.set_partition_name(*partition);
  req.set_expr(key_expression(pk->name(), keys));
  return req;
}

// -- DDL --------------------------------------------------------------------------------------

caf::expected<ddl> ddl_request(const wal::event& ev, const name_mapper& names) {
  if (!ev.body || ev.body->GetDescriptor()->file()->package() != "milvus.proto.milvus")
    return make_error(ec::invalid_argument,
                      "topic " + ev.topic + " offset " + std::to_string(ev.offset) + ": " +
                          wal::type_name(ev.type) + " is not a replicate-channel request");
  std::shared_ptr<Message> copy{ev.body->New()};
  copy->CopyFrom(*ev.body);
  const auto* reflection = copy->GetReflection();
  if (auto* base = copy->GetDescriptor()->FindFieldByName("base"))
    reflection->ClearField(copy.get(), base);
  std::string source_db;
  if (auto* db = string_field(*copy, "db_name")) {
    source_db = reflection->GetString(*copy, db);
    reflection->SetString(copy.get(), db, names.db(source_db));
  }
  if (auto* name = string_field(*copy, "collection_name"); name && !name->is_repeated()) {
    auto value = reflection->GetString(*copy, name);
    if (!value.empty())
      reflection->SetString(copy.get(), name, names.collection(source_db, value));
  }
  if (auto* list = string_field(*copy, "collection_names"); list && list->is_repeated())
    for (int i = 0; i < reflection->FieldSize(*copy, list); ++i)
      reflection->SetRepeatedString(
          copy.get(), list, i,
          names.collection(source_db, reflection->GetRepeatedString(*copy, list, i)));
  if (auto* rename = dynamic_cast<mpb::RenameCollectionRequest*>(copy.get())) {
    const std::string new_db = rename->newdbname().empty() ? source_db : rename->newdbname();
    rename->set_oldname(names.collection(source_db, rename->oldname()));
    rename->set_newname(names.collection(new_db, rename->newname()));
    if (!rename->newdbname().empty())
      rename->set_newdbname(names.db(rename->newdbname()));
  }
  if (auto* grant = dynamic_cast<mpb::OperatePrivilegeRequest*>(copy.get())) {
    // a grant names its database and, for a collection object, the collection in `entity`
    auto* entity = grant->mutable_entity();
    const std::string grant_db = entity->db_name();
    if (!grant_db.empty() && grant_db != "*")
      entity->set_db_name(names.db(grant_db));
    if (entity->object().name() == "Collection" && entity->object_name() != "*")
      entity->set_object_name(names.collection(grant_db, entity->object_name()));
  }
  return ddl{ev.type, std::move(copy)};
}

ddl drop_collection_request(const collection_info& collection, const name_mapper& names) {
  auto req = std::make_shared<mpb::DropCollectionRequest>();
  req->set_db_name(names.db(collection.db_name));
  req->set_collection_name(names.collection(collection.db_name, collection.name));
  return make_ddl(pb::common::DropCollection, std::move(req));
}

ddl rename_collection_request(std::string_view db, std::string_view old_name,
                              std::string_view new_name, const name_mapper& names) {
  auto req = std::make_shared<mpb::RenameCollectionRequest>();
  req->set_db_name(names.db(db));
  req->set_oldname(names.collection(db, old_name));
  req->set_newname(names.collection(db, new_name));
  return make_ddl(pb::common::RenameCollection, std::move(req));
}

ddl create_alias_request(const collection_info& collection, std::string_view alias,
                         const name_mapper& names) {
  auto req = std::make_shared<mpb::CreateAliasRequest>();
  req->set_db_name(names.db(collection.db_name));
  req->set_collection_name(names.collection(collection.db_name, collection.name));
  req->set_alias(std::string{alias});
  return make_ddl(pb::common::CreateAlias, std::move(req));
}

ddl create_index_request(const collection_info& collection,
                         const pb::milvus::IndexDescription& index, const name_mapper& names) {
  auto req = std::make_shared<mpb::CreateIndexRequest>();
  req->set_db_name(names.db(collection.db_name));
  req->set_collection_name(names.collection(collection.db_name, collection.name));
  req->set_field_name(index.field_name());
  req->set_index_name(index.index_name());
  // DescribeIndex answers the parameters CreateIndex took (index_type, metric_type and the
  // JSON "params"), so they go back as they are.
  *req->mutable_extra_params() = index.params();
  return make_ddl(pb::common::CreateIndex, std::move(req));
}

ddl load_collection_request(const collection_info& collection, const name_mapper& names) {
  auto req = std::make_shared<mpb::LoadCollectionRequest>();
  req->set_db_name(names.db(collection.db_name));
  req->set_collection_name(names.collection(collection.db_name, collection.name));
  return make_ddl(pb::common::LoadCollection, std::move(req));
}

ddl create_partition_request(const collection_info& collection, std::string_view partition,
                             const name_mapper& names) {
  auto req = std::make_shared<mpb::CreatePartitionRequest>();
  req->set_db_name(names.db(collection.db_name));
  req->set_collection_name(names.collection(collection.db_name, collection.name));
  req->set_partition_name(std::string{partition});
  return make_ddl(pb::common::CreatePartition, std::move(req));
}

ddl drop_partition_request(const collection_info& collection, std::string_view partition,
                           const name_mapper& names) {
  auto req = std::make_shared<mpb::DropPartitionRequest>();
  req->set_db_name(names.db(collection.db_name));
  req->set_collection_name(names.collection(collection.db_name, collection.name));
  req->set_partition_name(std::string{partition});
  return make_ddl(pb::common::DropPartition, std::move(req));
}

ddl release_partition_request(const collection_info& collection, std::string_view partition,
                              const name_mapper& names) {
  auto req = std::make_shared<mpb::ReleasePartitionsRequest>();
  req->set_db_name(names.db(collection.db_name));
  req->set_collection_name(names.collection(collection.db_name, collection.name));
  req->add_partition_names(std::string{partition});
  return make_ddl(pb::common::ReleasePartitions, std::move(req));
}

} // namespace cdc::transform
