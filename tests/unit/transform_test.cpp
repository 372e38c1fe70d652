// The transformer library (actors/transformer/): schema, Insert/Upsert, Delete, DDL conversion,
// upsert pairing and batching, on the records a real Milvus 2.3.5 wrote
// (tests/fixtures/wal-2.3.5) and on records built with the upstream protos.

#include "actors/transformer/convert.hpp"
#include "actors/transformer/plan.hpp"

#include "../support/wal_fixtures.hpp"

#include "milvus.pb.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>

using namespace cdc;
using namespace cdc::transform;
namespace mpb = ::milvus::proto::milvus;
namespace spb = ::milvus::proto::schema;
namespace cpb = ::milvus::proto::common;

namespace {

// -- the captured records -----------------------------------------------------------------------

/// Every captured record decoded, in (topic, offset) order.
const std::vector<wal::event>& captured() {
  static const std::vector<wal::event> events = [] {
    std::vector<wal::event> out;
    for (auto& rec : cdc::test::load_wal_fixtures()) {
      auto ev = wal::decode(rec.record);
      if (!ev)
        throw std::runtime_error(message_of(ev.error()));
      out.push_back(std::move(*ev));
    }
    return out;
  }();
  return events;
}

const wal::event& create_event(const std::string& name) {
  for (const auto& ev : captured())
    if (ev.type == cpb::CreateCollection && ev.collection_name == name)
      return ev;
  throw std::runtime_error("no CreateCollection of " + name);
}

collection_info captured_collection(const std::string& name, const std::string& db) {
  auto info = collection_from_wal(*create_event(name).as<pb::msg::CreateCollectionRequest>(), db);
  REQUIRE_MESSAGE(info, message_of(info.error()));
  return *info;
}

/// The DML records of a collection in WAL order: by timestamp, then topic and offset.
/// CreateCollection and DropCollection only once (Milvus writes them to every pchannel).
std::vector<wal::event> dml_events(int64_t collection_id) {
  std::vector<wal::event> out;
  std::set<cpb::MsgType> once;
  for (const auto& ev : captured()) {
    if (ev.collection_id != collection_id || ev.topic == "by-dev-replicate-msg")
      continue;
    if (ev.type == cpb::CreateCollection || ev.type == cpb::DropCollection)
      if (!once.insert(ev.type).second)
        continue;
    out.push_back(ev);
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.timestamp, a.topic, a.offset) < std::tie(b.timestamp, b.topic, b.offset);
  });
  return out;
}

std::vector<const wal::event*> of_type(const std::vector<wal::event>& events, cpb::MsgType type) {
  std::vector<const wal::event*> out;
  for (const auto& ev : events)
    if (ev.type == type)
      out.push_back(&ev);
  return out;
}

const wal::event& replicate_event(cpb::MsgType type, const std::string& collection = "") {
  for (const auto& ev : captured())
    if (ev.topic == "by-dev-replicate-msg" && ev.type == type &&
        (collection.empty() || ev.collection_name == collection))
      return ev;
  throw std::runtime_error("no replicate-channel record of type " + wal::type_name(type));
}

// -- reading requests ---------------------------------------------------------------------------

template <class Request>
const spb::FieldData& col(const Request& req, const std::string& name) {
  for (const auto& f : req.fields_data())
    if (f.field_name() == name)
      return f;
  FAIL("no column " << name);
  throw std::logic_error("unreachable");
}

template <class Request>
std::vector<std::string> column_names(const Request& req) {
  std::vector<std::string> out;
  for (const auto& f : req.fields_data())
    out.push_back(f.field_name());
  return out;
}

std::vector<int64_t> longs(const spb::FieldData& f) {
  return {f.scalars().long_data().data().begin(), f.scalars().long_data().data().end()};
}

std::vector<std::string> strings(const spb::FieldData& f) {
  return {f.scalars().string_data().data().begin(), f.scalars().string_data().data().end()};
}

std::vector<bool> valid(const spb::FieldData& f) {
  return {f.valid_data().begin(), f.valid_data().end()};
}

std::vector<std::string> field_names(const spb::CollectionSchema& schema) {
  std::vector<std::string> out;
  for (const auto& f : schema.fields())
    out.push_back(f.name());
  return out;
}

const spb::FieldSchema& field(const spb::CollectionSchema& schema, const std::string& name) {
  for (const auto& f : schema.fields())
    if (f.name() == name)
      return f;
  FAIL("no field " << name);
  throw std::logic_error("unreachable");
}

std::string param(const google::protobuf::RepeatedPtrField<cpb::KeyValuePair>& kvs,
                  const std::string& key) {
  for (const auto& kv : kvs)
    if (kv.key() == key)
      return kv.value();
  return "<none>";
}

spb::CollectionSchema schema_of(const mpb::CreateCollectionRequest& req) {
  spb::CollectionSchema schema;
  REQUIRE(schema.ParseFromString(req.schema()));
  return schema;
}

template <class T>
const T& call(const op& o) {
  REQUIRE_MESSAGE(std::holds_alternative<T>(o.call), "operation is " << o.kind());
  return std::get<T>(o.call);
}

std::vector<std::string> kinds(const std::vector<op>& ops) {
  std::vector<std::string> out;
  for (const auto& o : ops)
    out.push_back(o.kind());
  return out;
}

std::string error_text(const caf::error& err) {
  return err ? message_of(err) : "";
}

// -- records built with the protos ---------------------------------------------------------------

constexpr int64_t coll_id = 5001;
constexpr uint64_t ts0 = uint64_t{1'700'000'000'000} << 18;
const std::string vch = "by-dev-rootcoord-dml_0_5001v0";

spb::FieldSchema* add_field(spb::CollectionSchema& s, int64_t id, const std::string& name,
                            spb::DataType type) {
  auto* f = s.add_fields();
  f->set_fieldid(id);
  f->set_name(name);
  f->set_data_type(type);
  return f;
}

/// A 2.5-style WAL schema: pk (Int64) 100, title (VarChar, nullable) 101, score (Int64,
/// nullable) 102, doc (VarChar) 103, sparse (BM25 output) 104, vec (FloatVector, dim 2) 105,
/// meta (JSON, nullable) 106, $meta 107, plus RowID/Timestamp.
collection_info built_collection(spb::DataType pk_type = spb::Int64) {
  collection_info info;
  info.db_name = "default";
  info.name = "built";
  info.id = coll_id;
  auto& s = info.schema;
  s.set_name("built");
  s.set_enable_dynamic_field(true);
  add_field(s, 0, "RowID", spb::Int64);
  add_field(s, 1, "Timestamp", spb::Int64);
  add_field(s, 100, "pk", pk_type)->set_is_primary_key(true);
  auto* title = add_field(s, 101, "title", spb::VarChar);
  title->set_nullable(true);
  auto* kv = title->add_type_params();
  kv->set_key("max_length");
  kv->set_value("64");
  add_field(s, 102, "score", spb::Int64)->set_nullable(true);
  add_field(s, 103, "doc", spb::VarChar);
  auto* sparse = add_field(s, 104, "sparse", spb::SparseFloatVector);
  sparse->set_is_function_output(true);
  auto* vec = add_field(s, 105, "vec", spb::FloatVector);
  kv = vec->add_type_params();
  kv->set_key("dim");
  kv->set_value("2");
  add_field(s, 106, "meta", spb::JSON)->set_nullable(true);
  add_field(s, 107, "$meta", spb::JSON)->set_is_dynamic(true);
  auto* fn = s.add_functions();
  fn->set_name("bm25");
  fn->set_id(9);
  fn->set_type(spb::BM25);
  fn->add_input_field_names("doc");
  fn->add_input_field_ids(103);
  fn->add_output_field_names("sparse");
  fn->add_output_field_ids(104);
  info.partitions[7001] = "_default";
  info.partitions[7002] = "p1";
  return info;
}

spb::FieldData data(spb::DataType type, const std::string& name, int64_t id) {
  spb::FieldData f;
  f.set_type(type);
  f.set_field_name(name);
  f.set_field_id(id);
  return f;
}

/// A WAL insert of `built_collection` with keys `pks`: full-length nullable columns, null
/// where the key is odd.
pb::msg::InsertRequest built_insert(const std::vector<int64_t>& pks, uint64_t ts,
                                    const std::string& partition = "_default") {
  pb::msg::InsertRequest ins;
  ins.mutable_base()->set_msg_type(cpb::Insert);
  ins.mutable_base()->set_timestamp(ts);
  ins.set_shardname(vch);
  ins.set_collectionid(coll_id);
  ins.set_partition_name(partition);
  ins.set_partitionid(partition == "p1" ? 7002 : 7001);
  ins.set_num_rows(pks.size());
  ins.set_version(pb::msg::ColumnBased);
  auto pk = data(spb::Int64, "pk", 100);
  auto title = data(spb::VarChar, "title", 101);
  auto score = data(spb::Int64, "score", 102);
  auto doc = data(spb::VarChar, "doc", 103);
  auto sparse = data(spb::SparseFloatVector, "sparse", 104);
  auto vec = data(spb::FloatVector, "vec", 105);
  auto meta = data(spb::JSON, "meta", 106);
  auto dyn = data(spb::JSON, "$meta", 107);
  dyn.set_is_dynamic(true);
  vec.mutable_vectors()->set_dim(2);
  sparse.mutable_vectors()->set_dim(100);
  sparse.mutable_vectors()->mutable_sparse_float_vector()->set_dim(100);
  for (auto k : pks) {
    const bool null = k % 2 != 0;
    ins.add_timestamps(ts);
    ins.add_rowids(k + 1000);
    pk.mutable_scalars()->mutable_long_data()->add_data(k);
    title.mutable_scalars()->mutable_string_data()->add_data(null ? "" : "t" + std::to_string(k));
    title.add_valid_data(!null);
    score.mutable_scalars()->mutable_long_data()->add_data(null ? 0 : k * 10);
    score.add_valid_data(!null);
    doc.mutable_scalars()->mutable_string_data()->add_data("doc " + std::to_string(k));
    sparse.mutable_vectors()->mutable_sparse_float_vector()->add_contents(std::string(8, 'x'));
    vec.mutable_vectors()->mutable_float_vector()->add_data(static_cast<float>(k));
    vec.mutable_vectors()->mutable_float_vector()->add_data(0.5f);
    meta.mutable_scalars()->mutable_json_data()->add_data(null ? "" : "{\"k\":1}");
    meta.add_valid_data(!null);
    dyn.mutable_scalars()->mutable_json_data()->add_data("{}");
  }
  for (auto* f : {&pk, &title, &score, &doc, &sparse, &vec, &meta, &dyn})
    *ins.add_fields_data() = *f;
  return ins;
}

wal::event insert_event(const std::vector<int64_t>& pks, uint64_t ts, int64_t offset,
                        const std::string& partition = "_default") {
  auto raw = built_insert(pks, ts, partition);
  raw.mutable_base()->set_timestamp(0); // as the upsert Insert of 2.3.5
  wal::raw_record rec{"by-dev-rootcoord-dml_0", offset, {}, raw.SerializeAsString()};
  auto ev = wal::decode(rec);
  REQUIRE_MESSAGE(ev, message_of(ev.error()));
  return *ev;
}

pb::msg::DeleteRequest built_delete(const std::vector<int64_t>& pks, uint64_t ts,
                                    int64_t partition_id = -1) {
  pb::msg::DeleteRequest del;
  del.mutable_base()->set_msg_type(cpb::Delete);
  del.mutable_base()->set_timestamp(ts);
  del.set_shardname(vch);
  del.set_collectionid(coll_id);
  del.set_partitionid(partition_id);
  for (auto k : pks) {
    del.mutable_primary_keys()->mutable_int_id()->add_data(k);
    del.add_timestamps(ts);
  }
  del.set_num_rows(static_cast<int64_t>(pks.size()));
  return del;
}

wal::event delete_event(const std::vector<int64_t>& pks, uint64_t ts, int64_t offset) {
  wal::raw_record rec{
      "by-dev-rootcoord-dml_0", offset, {}, built_delete(pks, ts).SerializeAsString()};
  auto ev = wal::decode(rec);
  REQUIRE_MESSAGE(ev, message_of(ev.error()));
  return *ev;
}

wal::event time_tick(uint64_t ts, int64_t offset) {
  pb::msg::TimeTickMsg tt;
  tt.mutable_base()->set_msg_type(cpb::TimeTick);
  tt.mutable_base()->set_timestamp(ts);
  wal::raw_record rec{"by-dev-rootcoord-dml_0", offset, {}, tt.SerializeAsString()};
  auto ev = wal::decode(rec);
  REQUIRE(ev);
  return *ev;
}

/// A target Insert of rows [first, first+rows) with `dim` floats each.
mpb::InsertRequest vector_insert(int64_t first, size_t rows, int64_t dim,
                                 const std::string& partition = "") {
  mpb::InsertRequest req;
  req.set_db_name("default");
  req.set_collection_name("vecs");
  req.set_partition_name(partition);
  auto* pk = req.add_fields_data();
  pk->set_type(spb::Int64);
  pk->set_field_name("pk");
  auto* vec = req.add_fields_data();
  vec->set_type(spb::FloatVector);
  vec->set_field_name("vec");
  vec->mutable_vectors()->set_dim(dim);
  for (size_t i = 0; i < rows; ++i) {
    pk->mutable_scalars()->mutable_long_data()->add_data(first + static_cast<int64_t>(i));
    for (int64_t d = 0; d < dim; ++d)
      vec->mutable_vectors()->mutable_float_vector()->add_data(static_cast<float>(d));
  }
  req.set_num_rows(static_cast<uint32_t>(rows));
  return req;
}

mpb::UpsertRequest as_upsert(const mpb::InsertRequest& ins) {
  mpb::UpsertRequest up;
  up.set_db_name(ins.db_name());
  up.set_collection_name(ins.collection_name());
  up.set_partition_name(ins.partition_name());
  *up.mutable_fields_data() = ins.fields_data();
  up.set_num_rows(ins.num_rows());
  return up;
}

/// All primary keys of the Insert/Upsert operations, in order.
std::vector<int64_t> all_keys(const std::vector<op>& ops) {
  std::vector<int64_t> out;
  for (const auto& o : ops) {
    if (auto* i = std::get_if<insert_op>(&o.call)) {
      auto k = longs(col(i->request, "pk"));
      out.insert(out.end(), k.begin(), k.end());
    } else if (auto* u = std::get_if<upsert_op>(&o.call)) {
      auto k = longs(col(u->request, "pk"));
      out.insert(out.end(), k.begin(), k.end());
    }
  }
  return out;
}

} // namespace

// -- names ------------------------------------------------------------------------------------

TEST_CASE("name_mapper_renames_databases_and_collections") {
  name_mapper none;
  CHECK(none.db("") == "default");
  CHECK(none.db("fx_db") == "fx_db");
  CHECK(none.collection("", "c") == "c");

  name_mapper names{{name_mapping{"default", "backup", {{"fx_all_types", "all_copy"}}},
                     name_mapping{"fx_db", "", {{"fx_auto_id", "auto_copy"}}}}};
  CHECK(names.db("") == "backup");
  CHECK(names.db("default") == "backup");
  CHECK(names.db("fx_db") == "fx_db"); // no target_db: same name
  CHECK(names.db("other") == "other");
  CHECK(names.collection("", "fx_all_types") == "all_copy");
  CHECK(names.collection("default", "fx_varchar_pk") == "fx_varchar_pk");
  CHECK(names.collection("fx_db", "fx_auto_id") == "auto_copy");
  // a rename belongs to its database
  CHECK(names.collection("fx_db", "fx_all_types") == "fx_all_types");
  CHECK(names.collection("other", "fx_auto_id") == "fx_auto_id");
}

// -- schema -----------------------------------------------------------------------------------

TEST_CASE("schema_of_the_captured_all_types_collection") {
  auto info = captured_collection("fx_all_types", "default");
  CHECK(info.db_name == "default");
  CHECK(info.name == "fx_all_types");
  CHECK(info.shards_num == 1);
  CHECK(info.num_partitions == 0);
  CHECK(info.partitions.size() == 1);
  CHECK(info.partitions.begin()->second == "_default");
  // the WAL schema has the system fields and $meta
  CHECK(field_names(info.schema) ==
        std::vector<std::string>{"pk", "f_bool", "f_int8", "f_int16", "f_int32", "f_int64",
                                 "f_float", "f_double", "f_varchar", "f_json", "f_array_int",
                                 "f_array_str", "vec", "$meta", "RowID", "Timestamp"});

  auto cc = create_collection_request(info, name_mapper{});
  REQUIRE_MESSAGE(cc, message_of(cc.error()));
  CHECK_FALSE(cc->auto_id_changed);
  CHECK(cc->note == "");
  const auto& req = cc->request;
  CHECK_FALSE(req.has_base());
  CHECK(req.db_name() == "default");
  CHECK(req.collection_name() == "fx_all_types");
  CHECK(req.shards_num() == 1);
  CHECK(req.consistency_level() == cpb::Bounded);
  CHECK(req.num_partitions() == 0);
  auto schema = schema_of(req);
  CHECK(schema.SerializeAsString() == cc->schema.SerializeAsString());
  CHECK(schema.name() == "fx_all_types");
  CHECK(schema.description() == "all scalar types");
  CHECK(schema.enable_dynamic_field());
  CHECK(field_names(schema) == std::vector<std::string>{"pk", "f_bool", "f_int8", "f_int16",
                                                        "f_int32", "f_int64", "f_float", "f_double",
                                                        "f_varchar", "f_json", "f_array_int",
                                                        "f_array_str", "vec"});
  for (const auto& f : schema.fields()) {
    CAPTURE(f.name());
    CHECK(f.fieldid() == 0);
    CHECK_FALSE(f.autoid());
    CHECK_FALSE(f.is_dynamic());
  }
  CHECK(field(schema, "pk").is_primary_key());
  CHECK(field(schema, "pk").data_type() == spb::Int64);
  CHECK(field(schema, "f_bool").data_type() == spb::Bool);
  CHECK(field(schema, "f_int8").data_type() == spb::Int8);
  CHECK(field(schema, "f_int16").data_type() == spb::Int16);
  CHECK(field(schema, "f_int32").data_type() == spb::Int32);
  CHECK(field(schema, "f_float").data_type() == spb::Float);
  CHECK(field(schema, "f_double").data_type() == spb::Double);
  CHECK(field(schema, "f_varchar").data_type() == spb::VarChar);
  CHECK(param(field(schema, "f_varchar").type_params(), "max_length") == "32");
  CHECK(field(schema, "f_json").data_type() == spb::JSON);
  CHECK(field(schema, "f_array_int").data_type() == spb::Array);
  CHECK(field(schema, "f_array_int").element_type() == spb::Int64);
  CHECK(param(field(schema, "f_array_int").type_params(), "max_capacity") == "4");
  CHECK(field(schema, "f_array_str").element_type() == spb::VarChar);
  CHECK(param(field(schema, "f_array_str").type_params(), "max_length") == "16");
  CHECK(field(schema, "vec").data_type() == spb::FloatVector);
  CHECK(param(field(schema, "vec").type_params(), "dim") == "8");
}

TEST_CASE("schema_of_the_captured_varchar_pk_collection_keeps_shards_and_partition_key") {
  auto info = captured_collection("fx_varchar_pk", "default");
  CHECK(info.shards_num == 2);
  CHECK(info.num_partitions == 2);
  CHECK(info.partitions.size() == 2);
  auto cc = create_collection_request(info, name_mapper{});
  REQUIRE(cc);
  CHECK(cc->request.shards_num() == 2);
  CHECK(cc->request.num_partitions() == 2);
  auto schema = schema_of(cc->request);
  CHECK(field_names(schema) == std::vector<std::string>{"id", "tenant", "bvec"});
  CHECK(schema.enable_dynamic_field());
  CHECK(field(schema, "id").is_primary_key());
  CHECK(field(schema, "id").data_type() == spb::VarChar);
  CHECK(param(field(schema, "id").type_params(), "max_length") == "32");
  CHECK(field(schema, "tenant").is_partition_key());
  CHECK(field(schema, "bvec").data_type() == spb::BinaryVector);
  CHECK(param(field(schema, "bvec").type_params(), "dim") == "16");
}

TEST_CASE("schema_of_the_captured_auto_id_collection_keeps_the_wal_keys") {
  auto info = captured_collection("fx_auto_id", "fx_db");
  REQUIRE(field(info.schema, "pk").autoid());
  CHECK_FALSE(info.schema.enable_dynamic_field());

  name_mapper names{{name_mapping{"fx_db", "fx_db_copy", {{"fx_auto_id", "auto_copy"}}}}};
  auto cc = create_collection_request(info, names);
  REQUIRE(cc);
  CHECK(cc->auto_id_changed);
  CHECK(cc->note ==
        "autoID primary key 'pk' created with autoID=false: the target takes the source's keys");
  CHECK(cc->request.db_name() == "fx_db_copy");
  CHECK(cc->request.collection_name() == "auto_copy");
  auto schema = schema_of(cc->request);
  CHECK(schema.name() == "auto_copy");
  CHECK(field_names(schema) == std::vector<std::string>{"pk", "title", "vec"});
  CHECK_FALSE(field(schema, "pk").autoid());
  CHECK_FALSE(schema.enable_dynamic_field());
  CHECK(param(cc->request.properties(), "allow_insert_auto_id") == "<none>");

  options opts;
  opts.auto_id = auto_id_mode::allow_insert;
  cc = create_collection_request(info, names, opts);
  REQUIRE(cc);
  CHECK(cc->auto_id_changed);
  CHECK(cc->note.find("allow_insert_auto_id=true") != std::string::npos);
  CHECK(field(schema_of(cc->request), "pk").autoid());
  CHECK(param(cc->request.properties(), "allow_insert_auto_id") == "true");
}

TEST_CASE("schema_keeps_functions_and_properties_and_drops_ids") {
  auto info = built_collection();
  info.consistency_level = cpb::Strong;
  info.properties = {{"collection.ttl.seconds", "3600"}};
  auto* prop = info.schema.add_properties();
  prop->set_key("mmap.enabled");
  prop->set_value("true");
  auto cc = create_collection_request(info, name_mapper{});
  REQUIRE(cc);
  CHECK(cc->request.consistency_level() == cpb::Strong);
  CHECK(cc->request.properties_size() == 2);
  CHECK(param(cc->request.properties(), "collection.ttl.seconds") == "3600");
  CHECK(param(cc->request.properties(), "mmap.enabled") == "true");
  auto schema = schema_of(cc->request);
  CHECK(schema.properties_size() == 0);
  // the function-output field is created (the target fills it), $meta is not
  CHECK(field_names(schema) ==
        std::vector<std::string>{"pk", "title", "score", "doc", "sparse", "vec", "meta"});
  CHECK(schema.enable_dynamic_field());
  CHECK(field(schema, "title").nullable());
  CHECK_FALSE(field(schema, "sparse").is_function_output()); // derived by the target
  REQUIRE(schema.functions_size() == 1);
  const auto& fn = schema.functions(0);
  CHECK(fn.name() == "bm25");
  CHECK(fn.type() == spb::BM25);
  CHECK(fn.id() == 0);
  CHECK(fn.input_field_ids_size() == 0);
  CHECK(fn.output_field_ids_size() == 0);
  CHECK(fn.input_field_names(0) == "doc");
  CHECK(fn.output_field_names(0) == "sparse");

  // a DescribeCollection answer gives the same request
  mpb::DescribeCollectionResponse resp;
  *resp.mutable_schema() = info.schema;
  resp.set_collection_name("built");
  resp.set_db_name("default");
  resp.set_shards_num(1);
  resp.set_consistency_level(cpb::Strong);
  auto* kv = resp.add_properties();
  kv->set_key("collection.ttl.seconds");
  kv->set_value("3600");
  auto described = collection_from_describe(resp);
  CHECK(described.name == "built");
  CHECK(described.shards_num == 1);
  auto cc2 = create_collection_request(described, name_mapper{});
  REQUIRE(cc2);
  CHECK(cc2->request.SerializeAsString() == cc->request.SerializeAsString());

  info.schema.mutable_fields(2)->set_is_primary_key(false);
  auto no_pk = create_collection_request(info, name_mapper{});
  REQUIRE_FALSE(no_pk);
  CHECK(message_of(no_pk.error()) ==
        "the schema of collection 'default.built' (id 5001) has no primary key field");
}

// -- inserts ----------------------------------------------------------------------------------

TEST_CASE("insert_of_the_captured_all_types_collection") {
  auto info = captured_collection("fx_all_types", "default");
  auto events = dml_events(info.id);
  auto inserts = of_type(events, cpb::Insert);
  REQUIRE(inserts.size() == 2);
  const auto& first = *inserts[0]->as<pb::msg::InsertRequest>();

  name_mapper names{{name_mapping{"default", "backup", {{"fx_all_types", "all_copy"}}}}};
  auto req = insert_request(first, info, names);
  REQUIRE_MESSAGE(req, message_of(req.error()));
  CHECK_FALSE(req->has_base());
  CHECK(req->db_name() == "backup");
  CHECK(req->collection_name() == "all_copy");
  CHECK(req->partition_name() == "_default");
  CHECK(req->num_rows() == 6);
  CHECK(req->hash_keys_size() == 0);
  CHECK(column_names(*req) == std::vector<std::string>{"pk", "f_bool", "f_int8", "f_int16",
                                                       "f_int32", "f_int64", "f_float", "f_double",
                                                       "f_varchar", "f_json", "f_array_int",
                                                       "f_array_str", "vec", "$meta"});
  for (const auto& f : req->fields_data()) {
    CAPTURE(f.field_name());
    CHECK(f.field_id() == 0);
    CHECK(f.valid_data_size() == 0);
    CHECK(f.is_dynamic() == (f.field_name() == "$meta"));
  }
  CHECK(longs(col(*req, "pk")) == std::vector<int64_t>{0, 1, 2, 3, 4, 5});
  const auto& b = col(*req, "f_bool").scalars().bool_data();
  CHECK(std::vector<bool>(b.data().begin(), b.data().end()) ==
        std::vector<bool>{true, false, true, false, true, false});
  CHECK(col(*req, "f_int8").scalars().int_data().data(0) == -3);
  CHECK(col(*req, "f_int16").scalars().int_data().data(5) == 1005);
  CHECK(col(*req, "f_int32").scalars().int_data().data(1) == -100001);
  CHECK(col(*req, "f_int64").scalars().long_data().data(2) == (int64_t{1} << 40) + 2);
  CHECK(col(*req, "f_float").scalars().float_data().data(4) == 4.5f);
  CHECK(col(*req, "f_double").scalars().double_data().data(1) == doctest::Approx(0.25));
  CHECK(strings(col(*req, "f_varchar"))[3] == "v1-3");
  CHECK(col(*req, "f_json").scalars().json_data().data(2).find("\"tag\"") != std::string::npos);
  const auto& arr = col(*req, "f_array_int").scalars().array_data();
  CHECK(arr.element_type() == spb::Int64);
  REQUIRE(arr.data_size() == 6);
  CHECK(arr.data(3).long_data().data(1) == 6);
  const auto& arr_s = col(*req, "f_array_str").scalars().array_data();
  CHECK(arr_s.data(4).string_data().data(0) == "s4");
  const auto& vec = col(*req, "vec").vectors();
  CHECK(vec.dim() == 8);
  CHECK(vec.float_vector().data_size() == 48);
  CHECK(vec.float_vector().data(8 + 1) == doctest::Approx(0.8)); // float_vec(1)[1] = 0.1 * 8
  CHECK(col(*req, "$meta").scalars().json_data().data(5).find("dynamic-5") != std::string::npos);

  // the same rows as an Upsert
  auto up = upsert_request(first, info, names);
  REQUIRE(up);
  CHECK(up->db_name() == "backup");
  CHECK(up->collection_name() == "all_copy");
  CHECK(up->num_rows() == 6);
  REQUIRE(up->fields_data_size() == req->fields_data_size());
  for (int i = 0; i < up->fields_data_size(); ++i)
    CHECK(up->fields_data(i).SerializeAsString() == req->fields_data(i).SerializeAsString());
}

TEST_CASE("insert_of_the_captured_partition_key_and_auto_id_collections") {
  auto vinfo = captured_collection("fx_varchar_pk", "default");
  auto vinserts = of_type(dml_events(vinfo.id), cpb::Insert);
  REQUIRE(vinserts.size() == 3);
  size_t rows = 0;
  std::vector<std::string> keys;
  for (const auto* ev : vinserts) {
    const auto& ins = *ev->as<pb::msg::InsertRequest>();
    CHECK(ins.partition_name().rfind("_default_", 0) == 0);
    auto req = insert_request(ins, vinfo, name_mapper{});
    REQUIRE_MESSAGE(req, message_of(req.error()));
    // partition-key collection: Milvus picks the partition, a name would be refused
    CHECK(req->partition_name() == "");
    CHECK(column_names(*req) == std::vector<std::string>{"id", "tenant", "bvec", "$meta"});
    CHECK(col(*req, "$meta").is_dynamic());
    CHECK(col(*req, "bvec").vectors().dim() == 16);
    CHECK(col(*req, "bvec").vectors().binary_vector().size() == 2 * req->num_rows());
    rows += req->num_rows();
    auto k = strings(col(*req, "id"));
    keys.insert(keys.end(), k.begin(), k.end());
  }
  CHECK(rows == 7); // 6 inserted + 1 upserted
  std::sort(keys.begin(), keys.end());
  CHECK(keys == std::vector<std::string>{"k0", "k1", "k2", "k2", "k3", "k4", "k5"});

  auto ainfo = captured_collection("fx_auto_id", "fx_db");
  auto ainserts = of_type(dml_events(ainfo.id), cpb::Insert);
  REQUIRE(ainserts.size() == 1);
  name_mapper names{{name_mapping{"fx_db", "fx_db_copy", {}}}};
  auto req = insert_request(*ainserts[0]->as<pb::msg::InsertRequest>(), ainfo, names);
  REQUIRE(req);
  CHECK(req->db_name() == "fx_db_copy");
  CHECK(req->collection_name() == "fx_auto_id");
  CHECK(req->partition_name() == "p1");
  CHECK(req->num_rows() == 4);
  // the autoID keys the source generated are written (WAL order: title, vec, pk)
  CHECK(column_names(*req) == std::vector<std::string>{"title", "vec", "pk"});
  auto pks = longs(col(*req, "pk"));
  REQUIRE(pks.size() == 4);
  CHECK(pks[0] > 0);
  CHECK(std::is_sorted(pks.begin(), pks.end()));
  CHECK(strings(col(*req, "title")) == std::vector<std::string>{"t0", "t1", "t2", "t3"});

  options ignore;
  ignore.ignore_partition = true;
  req = insert_request(*ainserts[0]->as<pb::msg::InsertRequest>(), ainfo, names, ignore);
  REQUIRE(req);
  CHECK(req->partition_name() == "");
}

TEST_CASE("insert_compacts_nullable_columns_and_drops_function_outputs") {
  auto info = built_collection();
  auto ins = built_insert({10, 11, 12, 13, 15}, ts0);
  auto req = insert_request(ins, info, name_mapper{});
  REQUIRE_MESSAGE(req, message_of(req.error()));
  CHECK(req->num_rows() == 5);
  // no system columns, no BM25 output (the target computes it), $meta kept
  CHECK(column_names(*req) ==
        std::vector<std::string>{"pk", "title", "score", "doc", "vec", "meta", "$meta"});
  CHECK(longs(col(*req, "pk")) == std::vector<int64_t>{10, 11, 12, 13, 15});
  // nullable: only the valid values, valid_data full length
  CHECK(strings(col(*req, "title")) == std::vector<std::string>{"t10", "t12"});
  CHECK(valid(col(*req, "title")) == std::vector<bool>{true, false, true, false, false});
  CHECK(longs(col(*req, "score")) == std::vector<int64_t>{100, 120});
  CHECK(valid(col(*req, "score")) == std::vector<bool>{true, false, true, false, false});
  CHECK(col(*req, "meta").scalars().json_data().data_size() == 2);
  CHECK(valid(col(*req, "meta")).size() == 5);
  CHECK(col(*req, "doc").valid_data_size() == 0);
  CHECK(strings(col(*req, "doc")).size() == 5);
  CHECK(col(*req, "$meta").is_dynamic());
  CHECK(col(*req, "vec").vectors().float_vector().data_size() == 10);

  // every row null: no values, but the column keeps its type of data
  auto all_null = built_insert({1, 3}, ts0);
  req = insert_request(all_null, info, name_mapper{});
  REQUIRE(req);
  CHECK(col(*req, "score").has_scalars());
  CHECK(col(*req, "score").scalars().has_long_data());
  CHECK(col(*req, "score").scalars().long_data().data_size() == 0);
  CHECK(valid(col(*req, "score")) == std::vector<bool>{false, false});

  // the function output found through the function alone (no is_function_output flag)
  info.schema.mutable_fields(6)->set_is_function_output(false);
  REQUIRE(info.schema.fields(6).name() == "sparse");
  req = insert_request(ins, info, name_mapper{});
  REQUIRE(req);
  auto names = column_names(*req);
  CHECK(std::find(names.begin(), names.end(), "sparse") == names.end());
}

TEST_CASE("compact_nullable_and_row_slices") {
  auto f = data(spb::VarChar, "s", 1);
  for (auto* v : {"a", "", "c", "", "e"})
    f.mutable_scalars()->mutable_string_data()->add_data(v);
  for (bool b : {true, false, true, false, true})
    f.add_valid_data(b);
  auto c = compact_nullable(f);
  REQUIRE(c);
  CHECK(strings(*c) == std::vector<std::string>{"a", "c", "e"});
  CHECK(column_rows(*c) == 5);
  // already compact: unchanged
  auto again = compact_nullable(*c);
  REQUIRE(again);
  CHECK(again->SerializeAsString() == c->SerializeAsString());
  // rows 1..4 of the compact column: rows b(null), c, d(null), e
  auto s = slice_rows(*c, 1, 5);
  CHECK(strings(s) == std::vector<std::string>{"c", "e"});
  CHECK(valid(s) == std::vector<bool>{false, true, false, true});
  auto head = slice_rows(*c, 0, 1);
  append_rows(head, s);
  CHECK(head.SerializeAsString() == c->SerializeAsString());

  // a float vector column in rows
  auto v = data(spb::FloatVector, "v", 2);
  v.mutable_vectors()->set_dim(2);
  for (float x : {1.f, 2.f, 3.f, 4.f, 5.f, 6.f})
    v.mutable_vectors()->mutable_float_vector()->add_data(x);
  auto mid = slice_rows(v, 1, 2);
  CHECK(mid.vectors().dim() == 2);
  REQUIRE(mid.vectors().float_vector().data_size() == 2);
  CHECK(mid.vectors().float_vector().data(0) == 3.f);
  CHECK(column_rows(v) == 3);

  // neither full length nor compact
  auto bad = f;
  bad.mutable_scalars()->mutable_string_data()->add_data("x");
  auto err = compact_nullable(bad);
  REQUIRE_FALSE(err);
  CHECK(message_of(err.error()) ==
        "nullable column 's' holds 6 values for 5 rows of which 3 are valid");
}

TEST_CASE("insert_with_a_column_the_schema_does_not_know_is_refused") {
  auto info = built_collection();
  auto ins = built_insert({1, 2}, ts0);
  auto* extra = ins.add_fields_data();
  *extra = data(spb::Int64, "added_later", 108);
  extra->mutable_scalars()->mutable_long_data()->add_data(1);
  extra->mutable_scalars()->mutable_long_data()->add_data(2);
  auto req = insert_request(ins, info, name_mapper{});
  REQUIRE_FALSE(req);
  CHECK(code_of(req.error()) == ec::undecodable_record);
  CHECK(message_of(req.error()) == "collection 'default.built' (id 5001): column 'added_later' (id "
                                   "108) is not in the schema of 'built'");
  // a corrupt column
  ins = built_insert({1, 2}, ts0);
  ins.mutable_fields_data(0)->mutable_scalars()->mutable_long_data()->add_data(3);
  req = insert_request(ins, info, name_mapper{});
  REQUIRE_FALSE(req);
  CHECK(message_of(req.error()).find("field 'pk' (id 100)") != std::string::npos);
  // another collection's insert
  ins = built_insert({1, 2}, ts0);
  ins.set_collectionid(42);
  req = insert_request(ins, info, name_mapper{});
  REQUIRE_FALSE(req);
  CHECK(code_of(req.error()) == ec::invalid_argument);
}

// -- deletes ----------------------------------------------------------------------------------

TEST_CASE("delete_of_the_captured_records") {
  auto info = captured_collection("fx_all_types", "default");
  auto deletes = of_type(dml_events(info.id), cpb::Delete);
  REQUIRE(deletes.size() == 2);
  name_mapper names{{name_mapping{"default", "backup", {{"fx_all_types", "all_copy"}}}}};
  auto req = delete_request(*deletes[0]->as<pb::msg::DeleteRequest>(), info, names);
  REQUIRE_MESSAGE(req, message_of(req.error()));
  CHECK_FALSE(req->has_base());
  CHECK(req->db_name() == "backup");
  CHECK(req->collection_name() == "all_copy");
  CHECK(req->expr() == "pk in [0,1]");
  CHECK(req->partition_name() == ""); // partitionID -1: all partitions
  // the delete half of the upsert names its partition
  req = delete_request(*deletes[1]->as<pb::msg::DeleteRequest>(), info, names);
  REQUIRE(req);
  CHECK(req->expr() == "pk in [2,3]");
  CHECK(req->partition_name() == "_default");

  auto vinfo = captured_collection("fx_varchar_pk", "default");
  auto vdeletes = of_type(dml_events(vinfo.id), cpb::Delete);
  REQUIRE(vdeletes.size() == 2);
  req = delete_request(*vdeletes[0]->as<pb::msg::DeleteRequest>(), vinfo, name_mapper{});
  REQUIRE(req);
  CHECK(req->expr() == R"(id in ["k0","k1"])");
  CHECK(req->partition_name() == "");
  req = delete_request(*vdeletes[1]->as<pb::msg::DeleteRequest>(), vinfo, name_mapper{});
  REQUIRE(req);
  CHECK(req->expr() == R"(id in ["k2"])");
}

TEST_CASE("string_keys_are_quoted_and_escaped") {
  CHECK(quote("abc") == R"("abc")");
  CHECK(quote(R"(a"b)") == R"("a\"b")");
  CHECK(quote(R"(a\b)") == R"("a\\b")");
  CHECK(quote(R"(\")") == R"("\\\"")");
  CHECK(quote("it's") == R"("it's")");
  CHECK(quote("l1\nl2\r\t") == R"("l1\nl2\r\t")");
  CHECK(quote(std::string{"a\0b\x1f", 4}) == R"("a\x00b\x1f")");
  CHECK(quote("ünï €") == "\"ünï €\"");
  CHECK(quote("") == R"("")");

  wal::primary_keys ints;
  ints.ints = {-5, 0, 9223372036854775807};
  CHECK(key_expression("id", ints) == "id in [-5,0,9223372036854775807]");
  wal::primary_keys strs;
  strs.strings = {"a", R"(x"y)", R"(back\slash)"};
  CHECK(key_expression("name", strs) == R"(name in ["a","x\"y","back\\slash"])");

  auto info = built_collection(spb::VarChar);
  pb::msg::DeleteRequest del;
  del.set_collectionid(coll_id);
  del.set_partitionid(-1);
  del.mutable_primary_keys()->mutable_str_id()->add_data(R"(say "hi" \o/)");
  auto req = delete_request(del, info, name_mapper{});
  REQUIRE(req);
  CHECK(req->expr() == R"(pk in ["say \"hi\" \\o/"])");
  // int keys for a VarChar key are a mismatch
  del.mutable_primary_keys()->mutable_int_id()->add_data(1);
  req = delete_request(del, info, name_mapper{});
  REQUIRE_FALSE(req);
  CHECK(message_of(req.error()).find("integer keys for the primary key 'pk' of type VarChar") !=
        std::string::npos);
}

TEST_CASE("delete_partitions_by_name_or_known_id") {
  auto info = built_collection();
  auto del = built_delete({4, 5}, ts0, 7002);
  auto req = delete_request(del, info, name_mapper{});
  REQUIRE(req);
  CHECK(req->partition_name() == "p1"); // named through collection_info.partitions
  CHECK(req->expr() == "pk in [4,5]");
  // the old deprecated key field
  del.clear_primary_keys();
  del.add_int64_primary_keys(8);
  req = delete_request(del, info, name_mapper{});
  REQUIRE(req);
  CHECK(req->expr() == "pk in [8]");
  del.set_partitionid(7999);
  req = delete_request(del, info, name_mapper{});
  REQUIRE_FALSE(req);
  CHECK(message_of(req.error()) == "Delete of collection 'default.built' (id 5001) names "
                                   "partition 7999 by id only, and its name is not known");
  del.set_partition_name("p9");
  req = delete_request(del, info, name_mapper{});
  REQUIRE(req);
  CHECK(req->partition_name() == "p9");
  options ignore;
  ignore.ignore_partition = true;
  req = delete_request(del, info, name_mapper{}, ignore);
  REQUIRE(req);
  CHECK(req->partition_name() == "");
}

// -- DDL --------------------------------------------------------------------------------------

TEST_CASE("replicate_channel_ddl_is_copied_without_base_and_with_mapped_names") {
  name_mapper names{{name_mapping{"default", "backup", {{"fx_all_types", "all_copy"}}},
                     name_mapping{"fx_db", "fx_db_copy", {}}}};
  const auto& ci = replicate_event(cpb::CreateIndex, "fx_all_types");
  auto d = ddl_request(ci, names);
  REQUIRE_MESSAGE(d, message_of(d.error()));
  CHECK(d->type == cpb::CreateIndex);
  const auto* idx = d->as<mpb::CreateIndexRequest>();
  REQUIRE(idx != nullptr);
  CHECK_FALSE(idx->has_base());
  CHECK(idx->db_name() == "backup");
  CHECK(idx->collection_name() == "all_copy");
  CHECK(idx->field_name() == "vec");
  CHECK(idx->index_name() == "vec_idx");
  CHECK(param(idx->extra_params(), "index_type") == "IVF_FLAT");
  CHECK(param(idx->extra_params(), "metric_type") == "L2");
  // the event itself is unchanged
  CHECK(ci.as<mpb::CreateIndexRequest>()->has_base());
  CHECK(ci.as<mpb::CreateIndexRequest>()->collection_name() == "fx_all_types");

  d = ddl_request(replicate_event(cpb::LoadCollection), names);
  REQUIRE(d);
  CHECK(d->as<mpb::LoadCollectionRequest>()->collection_name() == "all_copy");
  CHECK(d->as<mpb::LoadCollectionRequest>()->replica_number() == 1);

  d = ddl_request(replicate_event(cpb::Flush), names);
  REQUIRE(d);
  const auto* flush = d->as<mpb::FlushRequest>();
  REQUIRE(flush != nullptr);
  CHECK_FALSE(flush->has_base());
  CHECK(flush->db_name() == "backup");
  REQUIRE(flush->collection_names_size() == 1);
  CHECK(flush->collection_names(0) == "all_copy");

  d = ddl_request(replicate_event(cpb::CreateDatabase), names);
  REQUIRE(d);
  CHECK(d->as<mpb::CreateDatabaseRequest>()->db_name() == "fx_db_copy");
  CHECK_FALSE(d->as<mpb::CreateDatabaseRequest>()->has_base());
  d = ddl_request(replicate_event(cpb::DropDatabase), names);
  REQUIRE(d);
  CHECK(d->as<mpb::DropDatabaseRequest>()->db_name() == "fx_db_copy");

  for (auto type : {cpb::ReleaseCollection, cpb::DropIndex}) {
    d = ddl_request(replicate_event(type), name_mapper{});
    REQUIRE(d);
    CHECK(d->type == type);
    CHECK(d->request->GetDescriptor()->file()->package() == "milvus.proto.milvus");
  }

  // a DML-topic message is not a replicate-channel request
  auto bad = ddl_request(create_event("fx_all_types"), names);
  REQUIRE_FALSE(bad);
  CHECK(message_of(bad.error()).find("CreateCollection is not a replicate-channel request") !=
        std::string::npos);
}

TEST_CASE("replicate_channel_ddl_built_with_the_protos") {
  name_mapper names{{name_mapping{"db1", "db2", {{"a", "a2"}, {"b", "b2"}}}}};
  auto decode_one = [](const google::protobuf::Message& msg) {
    wal::raw_record rec{"by-dev-replicate-msg", 3, {}, msg.SerializeAsString()};
    auto ev = wal::decode(rec);
    REQUIRE_MESSAGE(ev, message_of(ev.error()));
    return *ev;
  };
  mpb::LoadPartitionsRequest lp;
  lp.mutable_base()->set_msg_type(cpb::LoadPartitions);
  lp.mutable_base()->set_timestamp(ts0);
  lp.set_db_name("db1");
  lp.set_collection_name("a");
  lp.add_partition_names("p1");
  auto d = ddl_request(decode_one(lp), names);
  REQUIRE(d);
  CHECK(d->as<mpb::LoadPartitionsRequest>()->db_name() == "db2");
  CHECK(d->as<mpb::LoadPartitionsRequest>()->collection_name() == "a2");
  CHECK(d->as<mpb::LoadPartitionsRequest>()->partition_names(0) == "p1");
  CHECK_FALSE(d->as<mpb::LoadPartitionsRequest>()->has_base());

  mpb::RenameCollectionRequest rn;
  rn.mutable_base()->set_msg_type(cpb::RenameCollection);
  rn.set_db_name("db1");
  rn.set_oldname("a");
  rn.set_newname("b");
  d = ddl_request(decode_one(rn), names);
  REQUIRE(d);
  CHECK(d->as<mpb::RenameCollectionRequest>()->db_name() == "db2");
  CHECK(d->as<mpb::RenameCollectionRequest>()->oldname() == "a2");
  CHECK(d->as<mpb::RenameCollectionRequest>()->newname() == "b2");

  // an empty db_name is the default database, written explicitly
  mpb::AlterDatabaseRequest ad;
  ad.mutable_base()->set_msg_type(cpb::AlterDatabase);
  auto* kv = ad.add_properties();
  kv->set_key("database.replica.number");
  kv->set_value("1");
  d = ddl_request(decode_one(ad), names);
  REQUIRE(d);
  CHECK(d->as<mpb::AlterDatabaseRequest>()->db_name() == "default");
  CHECK(d->as<mpb::AlterDatabaseRequest>()->properties_size() == 1);

  mpb::OperatePrivilegeRequest grant;
  grant.mutable_base()->set_msg_type(cpb::OperatePrivilege);
  grant.mutable_entity()->mutable_role()->set_name("reader");
  grant.mutable_entity()->mutable_object()->set_name("Collection");
  grant.mutable_entity()->set_object_name("a");
  grant.mutable_entity()->set_db_name("db1");
  grant.mutable_entity()->mutable_grantor()->mutable_privilege()->set_name("Query");
  grant.set_type(mpb::Grant);
  d = ddl_request(decode_one(grant), names);
  REQUIRE(d);
  const auto* g = d->as<mpb::OperatePrivilegeRequest>();
  CHECK_FALSE(g->has_base());
  CHECK(g->entity().db_name() == "db2");
  CHECK(g->entity().object_name() == "a2");
  CHECK(g->entity().role().name() == "reader");
  CHECK(g->entity().grantor().privilege().name() == "Query");
  CHECK(g->type() == mpb::Grant);
  grant.mutable_entity()->set_object_name("*");
  d = ddl_request(decode_one(grant), names);
  REQUIRE(d);
  CHECK(d->as<mpb::OperatePrivilegeRequest>()->entity().object_name() == "*");

  auto info = built_collection();
  info.db_name = "db1";
  info.name = "a";
  auto drop = drop_partition_request(info, "p1", names);
  CHECK(drop.type == cpb::DropPartition);
  CHECK(drop.as<mpb::DropPartitionRequest>()->db_name() == "db2");
  CHECK(drop.as<mpb::DropPartitionRequest>()->collection_name() == "a2");
  CHECK(drop.as<mpb::DropPartitionRequest>()->partition_name() == "p1");
  auto dc = drop_collection_request(info, names);
  CHECK(dc.as<mpb::DropCollectionRequest>()->collection_name() == "a2");
}

// -- plan: pairing ----------------------------------------------------------------------------

TEST_CASE("plan_of_the_captured_all_types_collection_pairs_the_upsert") {
  auto info = captured_collection("fx_all_types", "default");
  auto events = dml_events(info.id);
  // WAL order on by-dev-rootcoord-dml_0: CreateCollection, Insert (6 rows), Delete pk 0,1,
  // Insert (upsert half, base.timestamp 0), Delete (upsert half, same timestamp)
  REQUIRE(events.size() == 5);
  CHECK(events[3].type == cpb::Insert);
  CHECK(events[3].as<pb::msg::InsertRequest>()->base().timestamp() == 0);
  CHECK(events[4].type == cpb::Delete);
  CHECK(events[3].timestamp == events[4].timestamp);
  CHECK(events[3].offset < events[4].offset); // 2.3.5 writes the insert half first

  auto ops = plan(events, info, name_mapper{});
  REQUIRE_MESSAGE(ops, message_of(ops.error()));
  CHECK(kinds(*ops) == std::vector<std::string>{"CreateCollection", "Insert", "Delete", "Upsert"});
  CHECK(schema_of(*call<ddl_op>((*ops)[0]).request.as<mpb::CreateCollectionRequest>()).name() ==
        "fx_all_types");
  CHECK(call<insert_op>((*ops)[1]).request.num_rows() == 6);
  CHECK((*ops)[1].rows == 6);
  CHECK(call<delete_op>((*ops)[2]).request.expr() == "pk in [0,1]");
  CHECK((*ops)[2].rows == 2);
  const auto& up = call<upsert_op>((*ops)[3]).request;
  CHECK(up.num_rows() == 2);
  CHECK(up.partition_name() == "_default");
  CHECK(longs(col(up, "pk")) == std::vector<int64_t>{2, 3});
  CHECK(strings(col(up, "f_varchar")) == std::vector<std::string>{"v2-2", "v2-3"});
  // the upsert completes both halves
  CHECK((*ops)[3].origins ==
        std::vector<origin>{{events[3].topic, events[3].offset, events[3].timestamp},
                            {events[4].topic, events[4].offset, events[4].timestamp}});
  for (size_t i = 0; i < 3; ++i)
    CHECK((*ops)[i].origins ==
          std::vector<origin>{{events[i].topic, events[i].offset, events[i].timestamp}});
  for (const auto& o : *ops)
    CHECK(o.bytes > 0);

  // with the replicate channel's DDL of the collection after its DML
  std::vector<wal::event> all = events;
  for (auto type :
       {cpb::CreateIndex, cpb::LoadCollection, cpb::Flush, cpb::ReleaseCollection, cpb::DropIndex})
    all.push_back(replicate_event(type, type == cpb::Flush ? "" : "fx_all_types"));
  ops = plan(all, info, name_mapper{});
  REQUIRE_MESSAGE(ops, message_of(ops.error()));
  CHECK(kinds(*ops) == std::vector<std::string>{"CreateCollection", "Insert", "Delete", "Upsert",
                                                "CreateIndex", "LoadCollection", "Flush",
                                                "ReleaseCollection", "DropIndex"});
}

TEST_CASE("plan_of_the_captured_varchar_pk_collection") {
  auto info = captured_collection("fx_varchar_pk", "default");
  auto events = dml_events(info.id);
  // CreateCollection, 2 Inserts (one per shard, same timestamp), Delete k0 k1, Insert k2 +
  // Delete k2 (upsert), DropCollection
  REQUIRE(events.size() == 7);
  auto ops = plan(events, info, name_mapper{});
  REQUIRE_MESSAGE(ops, message_of(ops.error()));
  // the two shard inserts are one request (partition key: no partition name)
  CHECK(kinds(*ops) == std::vector<std::string>{"CreateCollection", "Insert", "Delete", "Upsert",
                                                "DropCollection"});
  const auto& ins = call<insert_op>((*ops)[1]).request;
  CHECK(ins.num_rows() == 6);
  auto keys = strings(col(ins, "id"));
  std::sort(keys.begin(), keys.end());
  CHECK(keys == std::vector<std::string>{"k0", "k1", "k2", "k3", "k4", "k5"});
  CHECK((*ops)[1].origins.size() == 2);
  CHECK(call<delete_op>((*ops)[2]).request.expr() == R"(id in ["k0","k1"])");
  const auto& up = call<upsert_op>((*ops)[3]).request;
  CHECK(strings(col(up, "id")) == std::vector<std::string>{"k2"});
  CHECK(up.partition_name() == "");
  CHECK(longs(col(up, "tenant")) == std::vector<int64_t>{2});
  CHECK(col(up, "$meta").scalars().json_data().data(0).find("up") != std::string::npos);
  CHECK((*ops)[3].origins.size() == 2);
  CHECK(call<ddl_op>((*ops)[4]).request.as<mpb::DropCollectionRequest>()->collection_name() ==
        "fx_varchar_pk");
  const auto cc = call<ddl_op>((*ops)[0]).request.as<mpb::CreateCollectionRequest>();
  CHECK(cc->num_partitions() == 2);
  CHECK(cc->shards_num() == 2);
}

TEST_CASE("plan_of_the_captured_auto_id_collection") {
  auto info = captured_collection("fx_auto_id", "fx_db");
  auto events = dml_events(info.id);
  // CreateCollection, Insert into p1, DropPartition p1, DropCollection
  REQUIRE(events.size() == 4);
  name_mapper names{{name_mapping{"fx_db", "fx_db_copy", {}}}};
  auto ops = plan(events, info, names);
  REQUIRE_MESSAGE(ops, message_of(ops.error()));
  CHECK(kinds(*ops) == std::vector<std::string>{"CreateCollection", "Insert", "ReleasePartitions",
                                                "DropPartition", "DropCollection"});
  CHECK((*ops)[0].note ==
        "autoID primary key 'pk' created with autoID=false: the target takes the source's keys");
  CHECK(call<insert_op>((*ops)[1]).request.partition_name() == "p1");
  CHECK(call<insert_op>((*ops)[1]).request.db_name() == "fx_db_copy");
  const auto* rel = call<ddl_op>((*ops)[2]).request.as<mpb::ReleasePartitionsRequest>();
  CHECK(rel->partition_names(0) == "p1");
  CHECK(rel->db_name() == "fx_db_copy");
  CHECK((*ops)[2].origins.empty());
  const auto* dp = call<ddl_op>((*ops)[3]).request.as<mpb::DropPartitionRequest>();
  CHECK(dp->partition_name() == "p1");
  CHECK(dp->collection_name() == "fx_auto_id");
  CHECK((*ops)[3].origins.size() == 1);
}

TEST_CASE("plan_puts_a_delete_first_when_it_shares_a_timestamp_with_inserts") {
  auto info = built_collection();
  const uint64_t t1 = ts0 + 1, t2 = ts0 + 2, t3 = ts0 + 3;
  SUBCASE("upsert with the delete written first") {
    std::vector<wal::event> events{delete_event({1, 2}, t1, 10), insert_event({1, 2}, t1, 11)};
    auto ops = plan(events, info, name_mapper{});
    REQUIRE(ops);
    CHECK(kinds(*ops) == std::vector<std::string>{"Upsert"});
    CHECK((*ops)[0].origins.size() == 2);
    CHECK((*ops)[0].origins[0].offset == 10);
  }
  SUBCASE("an upsert split over two inserts") {
    std::vector<wal::event> events{insert_event({1, 2}, t1, 10), insert_event({3}, t1, 11),
                                   delete_event({1, 2, 3}, t1, 12)};
    auto ops = plan(events, info, name_mapper{});
    REQUIRE(ops);
    CHECK(kinds(*ops) == std::vector<std::string>{"Upsert"});
    CHECK(all_keys(*ops) == std::vector<int64_t>{1, 2, 3});
    CHECK((*ops)[0].origins.size() == 3);
  }
  SUBCASE("a delete not covered by the inserts goes before them") {
    std::vector<wal::event> events{insert_event({1}, t1, 10), insert_event({2, 3}, t2, 11),
                                   delete_event({3, 4}, t2, 12), insert_event({5}, t3, 13)};
    auto ops = plan(events, info, name_mapper{});
    REQUIRE(ops);
    CHECK(kinds(*ops) == std::vector<std::string>{"Insert", "Delete", "Insert"});
    CHECK(call<delete_op>((*ops)[1]).request.expr() == "pk in [3,4]");
    // inserts either side of the delete are not merged across it
    CHECK(longs(col(call<insert_op>((*ops)[0]).request, "pk")) == std::vector<int64_t>{1});
    CHECK(longs(col(call<insert_op>((*ops)[2]).request, "pk")) == std::vector<int64_t>{2, 3, 5});
  }
  SUBCASE("deletes at other timestamps keep their place") {
    std::vector<wal::event> events{insert_event({1, 2}, t1, 10), delete_event({1}, t2, 11),
                                   insert_event({1}, t3, 12)};
    auto ops = plan(events, info, name_mapper{});
    REQUIRE(ops);
    CHECK(kinds(*ops) == std::vector<std::string>{"Insert", "Delete", "Insert"});
  }
  SUBCASE("replay window: inserts as upserts, time ticks acknowledged") {
    options opts;
    opts.inserts_as_upserts = true;
    std::vector<wal::event> events{time_tick(t1, 9), insert_event({1, 2}, t1, 10),
                                   time_tick(t2, 11), insert_event({3}, t2, 12), time_tick(t3, 13)};
    auto ops = plan(events, info, name_mapper{}, opts);
    REQUIRE(ops);
    CHECK(kinds(*ops) == std::vector<std::string>{"None", "Upsert"});
    CHECK((*ops)[0].origins.size() == 1);
    CHECK((*ops)[1].origins.size() == 4);
    CHECK(all_keys(*ops) == std::vector<int64_t>{1, 2, 3});
    // only time ticks
    std::vector<wal::event> ticks{time_tick(t1, 1), time_tick(t2, 2)};
    ops = plan(ticks, info, name_mapper{});
    REQUIRE(ops);
    CHECK(kinds(*ops) == std::vector<std::string>{"None"});
    CHECK((*ops)[0].origins.size() == 2);
  }
  SUBCASE("an event of another collection is refused") {
    auto other = insert_event({1}, t1, 10);
    other.collection_id = 42;
    std::vector<wal::event> events{other};
    auto ops = plan(events, info, name_mapper{});
    REQUIRE_FALSE(ops);
    CHECK(message_of(ops.error()) == "topic by-dev-rootcoord-dml_0 offset 10: Insert of collection "
                                     "42 planned with collection 'built' (id 5001)");
  }
}

// -- batching ---------------------------------------------------------------------------------

TEST_CASE("batching_merges_consecutive_inserts_up_to_the_limit") {
  const int64_t dim = 64; // 256 bytes of floats per row
  std::vector<op> ops;
  for (int i = 0; i < 40; ++i)
    ops.push_back(make_op(insert_op{vector_insert(i * 10, 10, dim), "pk"}, {origin{"t", i, 0}}));
  size_t one = 0; // the largest (larger keys take more bytes)
  for (const auto& o : ops)
    one = std::max(one, o.bytes);
  REQUIRE(one > 2560);
  const size_t limit = one * 4 + 10;
  auto out = batch(ops, limit);
  CHECK(out.size() == 10);
  std::vector<int64_t> expected(400);
  for (int64_t i = 0; i < 400; ++i)
    expected[static_cast<size_t>(i)] = i;
  CHECK(all_keys(out) == expected);
  size_t origins = 0;
  for (const auto& o : out) {
    CHECK(o.bytes <= limit);
    CHECK(o.bytes == call<insert_op>(o).request.ByteSizeLong());
    CHECK(o.rows == 40);
    CHECK(call<insert_op>(o).request.num_rows() == 40);
    CHECK(col(call<insert_op>(o).request, "vec").vectors().float_vector().data_size() == 40 * dim);
    origins += o.origins.size();
  }
  CHECK(origins == 40);
  CHECK(out[1].origins.front().offset == 4);

  // a limit below one request: nothing merged, every request split to fit
  out = batch(ops, one / 3);
  for (const auto& o : out)
    CHECK(o.bytes <= one / 3);
  CHECK(all_keys(out) == expected);
  CHECK(out.size() >= 120);
}

TEST_CASE("batching_splits_a_large_insert_by_rows") {
  const int64_t dim = 128;
  auto big = make_op(insert_op{vector_insert(0, 1000, dim), "pk"}, {origin{"t", 7, 1}});
  REQUIRE(big.bytes > 500'000);
  const size_t limit = 100'000;
  auto out = batch({big}, limit);
  REQUIRE(out.size() >= 6);
  size_t rows = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    CHECK(out[i].bytes <= limit);
    CHECK(out[i].bytes == call<insert_op>(out[i]).request.ByteSizeLong());
    rows += out[i].rows;
    // the source event is complete with the last part only
    CHECK(out[i].origins.size() == (i + 1 == out.size() ? 1u : 0u));
  }
  CHECK(rows == 1000);
  std::vector<int64_t> expected(1000);
  for (int64_t i = 0; i < 1000; ++i)
    expected[static_cast<size_t>(i)] = i;
  CHECK(all_keys(out) == expected);

  // one row larger than the limit is sent alone
  out = batch({make_op(insert_op{vector_insert(0, 3, dim), "pk"})}, 100);
  CHECK(out.size() == 3);
  for (const auto& o : out)
    CHECK(o.rows == 1);
}

TEST_CASE("batching_keeps_partitions_kinds_and_order_apart") {
  std::vector<op> ops;
  ops.push_back(make_op(insert_op{vector_insert(0, 2, 4, "p1"), "pk"}));
  ops.push_back(make_op(insert_op{vector_insert(2, 2, 4, "p1"), "pk"}));
  ops.push_back(make_op(insert_op{vector_insert(4, 2, 4, "p2"), "pk"}));
  ops.push_back(make_op(upsert_op{as_upsert(vector_insert(6, 2, 4, "p2")), "pk"}));
  ops.push_back(make_op(upsert_op{as_upsert(vector_insert(8, 2, 4, "p2")), "pk"}));
  // the same key again: a second request
  ops.push_back(make_op(upsert_op{as_upsert(vector_insert(9, 1, 4, "p2")), "pk"}));
  mpb::DeleteRequest del;
  del.set_expr("pk in [1]");
  ops.push_back(make_op(delete_op{del}, 1));
  ops.push_back(make_op(insert_op{vector_insert(10, 1, 4, "p2"), "pk"}));
  ops.push_back(make_op(insert_op{vector_insert(11, 1, 8, "p2"), "pk"})); // other dim
  auto out = batch(ops, default_batch_bytes);
  CHECK(kinds(out) == std::vector<std::string>{"Insert", "Insert", "Upsert", "Upsert", "Delete",
                                               "Insert", "Insert"});
  CHECK(out[0].rows == 4);
  CHECK(call<insert_op>(out[0]).request.partition_name() == "p1");
  CHECK(call<insert_op>(out[1]).request.partition_name() == "p2");
  CHECK(longs(col(call<upsert_op>(out[2]).request, "pk")) == std::vector<int64_t>{6, 7, 8, 9});
  CHECK(longs(col(call<upsert_op>(out[3]).request, "pk")) == std::vector<int64_t>{9});
  CHECK(all_keys(out) == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 10, 11});
}

TEST_CASE("batching_merges_nullable_columns_in_client_form") {
  auto info = built_collection();
  std::vector<wal::event> events{insert_event({1, 2, 3}, ts0 + 1, 1),
                                 insert_event({4, 5}, ts0 + 2, 2)};
  auto ops = plan(events, info, name_mapper{});
  REQUIRE(ops);
  REQUIRE(ops->size() == 1);
  const auto& req = call<insert_op>((*ops)[0]).request;
  CHECK(req.num_rows() == 5);
  CHECK(longs(col(req, "score")) == std::vector<int64_t>{20, 40});
  CHECK(valid(col(req, "score")) == std::vector<bool>{false, true, false, true, false});
  // and split again at a small limit, still compact and consistent
  auto parts = batch(std::move(*ops), (*ops)[0].bytes / 2);
  REQUIRE(parts.size() >= 2);
  std::vector<bool> all_valid;
  std::vector<int64_t> scores;
  for (const auto& p : parts) {
    const auto& r = call<insert_op>(p).request;
    const auto& score = col(r, "score");
    CHECK(static_cast<size_t>(score.valid_data_size()) == r.num_rows());
    auto v = valid(score);
    all_valid.insert(all_valid.end(), v.begin(), v.end());
    auto s = longs(score);
    scores.insert(scores.end(), s.begin(), s.end());
  }
  CHECK(all_valid == std::vector<bool>{false, true, false, true, false});
  CHECK(scores == std::vector<int64_t>{20, 40});
}

TEST_CASE("batch_limit_is_never_above_64_mib") {
  // 5 requests of ~20 MiB: with an unlimited setting at most 3 fit in one 64 MiB request
  const int64_t dim = 1024;
  const size_t rows = 5 * 1024; // 5120 rows x 4 KiB = 20 MiB
  std::vector<op> ops;
  for (int i = 0; i < 5; ++i)
    ops.push_back(
        make_op(insert_op{vector_insert(i * static_cast<int64_t>(rows), rows, dim), "pk"}));
  REQUIRE(ops[0].bytes > (size_t{20} << 20));
  auto out = batch(std::move(ops), SIZE_MAX);
  REQUIRE(out.size() == 2);
  CHECK(out[0].rows == 3 * rows);
  CHECK(out[1].rows == 2 * rows);
  for (const auto& o : out)
    CHECK(o.bytes <= max_batch_bytes);
  CHECK(error_text(caf::error{}) == "");
}

TEST_CASE("a_delete_with_many_keys_becomes_several_requests") {
  wal::primary_keys ints;
  ints.ints = {1, 22, 333, 4444};
  // "pk in [1,22]" is 12 bytes, "pk in [1,22,333]" 16
  auto groups = split_keys("pk", ints, 12);
  REQUIRE(groups.size() == 3);
  CHECK(key_expression("pk", groups[0]) == "pk in [1,22]");
  CHECK(key_expression("pk", groups[1]) == "pk in [333]");
  CHECK(key_expression("pk", groups[2]) == "pk in [4444]");
  CHECK(split_keys("pk", ints, 1000).size() == 1);
  // a key longer than the limit is a group of its own
  wal::primary_keys strs;
  strs.strings = {"a", "a very long key", "b", "c"};
  groups = split_keys("id", strs, 16);
  REQUIRE(groups.size() == 3);
  CHECK(key_expression("id", groups[0]) == R"(id in ["a"])");
  CHECK(key_expression("id", groups[1]) == R"(id in ["a very long key"])");
  CHECK(key_expression("id", groups[2]) == R"(id in ["b","c"])");
  for (const auto& g : split_keys("id", strs, 16))
    CHECK((key_expression("id", g).size() <= 16 || g.size() == 1));

  // in a plan: every request within the limit, all keys once, in order
  auto info = built_collection();
  std::vector<int64_t> keys;
  for (int64_t k = 0; k < 5000; ++k)
    keys.push_back(k * 1000);
  std::vector<wal::event> events{delete_event(keys, ts0 + 1, 30)};
  options opts;
  opts.batch_bytes = 4096;
  auto ops = plan(events, info, name_mapper{}, opts);
  REQUIRE(ops);
  REQUIRE(ops->size() > 5);
  std::string all;
  size_t rows = 0;
  for (size_t i = 0; i < ops->size(); ++i) {
    const auto& o = (*ops)[i];
    const auto& del = call<delete_op>(o).request;
    CHECK(o.bytes <= 4096);
    CHECK(del.collection_name() == "built");
    CHECK(del.partition_name() == "");
    CHECK(o.origins.size() == (i + 1 == ops->size() ? 1u : 0u));
    REQUIRE(del.expr().rfind("pk in [", 0) == 0);
    all += (all.empty() ? "" : ",") + del.expr().substr(7, del.expr().size() - 8);
    rows += o.rows;
  }
  CHECK(rows == 5000);
  wal::primary_keys expected;
  expected.ints = keys;
  CHECK("pk in [" + all + "]" == key_expression("pk", expected));
}
