#pragma once

// Conversion of decoded WAL messages (actors/reader/decode.hpp) into the public MilvusService
// requests of mode `api` (spec/target.md): schema, Insert/Upsert, Delete, and the DDL of the
// replicate channel. Pure functions: no actors, no I/O, no gRPC calls.

#include "actors/base/error.hpp"
#include "actors/base/task_spec.hpp"
#include "actors/reader/decode.hpp"

#include "common.pb.h"
#include "milvus.pb.h"
#include "msg.pb.h"
#include "schema.pb.h"

#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cdc::transform {

namespace pb = ::milvus::proto;

// -- names ------------------------------------------------------------------------------------

/// Applies the task's `name_mapping` (actors/base/task_spec.hpp): a source database renamed
/// on the target, and some of its collections renamed. Names without a mapping stay as they are.
class name_mapper {
public:
  name_mapper() = default;
  explicit name_mapper(std::vector<name_mapping> mappings);

  /// The target database of `source_db`; an empty name is the database "default". Never
  /// empty.
  std::string db(std::string_view source_db) const;

  /// The target name of collection `collection` of database `source_db`.
  std::string collection(std::string_view source_db, std::string_view collection) const;

private:
  const name_mapping* find(std::string_view source_db) const;
  std::vector<name_mapping> mappings_;
};

// -- options ----------------------------------------------------------------------------------

/// Default size limit of one Insert/Upsert request (bytes of the serialized request).
inline constexpr size_t default_batch_bytes = size_t{4} << 20;
/// The target's request size limit (proxy.grpc.serverMaxRecvSize default): batches are
/// never larger.
inline constexpr size_t max_batch_bytes = size_t{64} << 20;

/// How a source collection with an autoID primary key is created on the target. Either way
/// the WAL's keys are written, because the source's deletes refer to them.
enum class auto_id_mode : uint8_t {
  /// The same schema with autoID=false (works on every target).
  disable,
  /// autoID kept, property `allow_insert_auto_id=true` (targets that support it).
  allow_insert,
  /// The source's schema as it is (mode replicate: rows reach the target through
  /// ReplicateMessage, which takes the keys they carry).
  keep,
};

struct options {
  /// Write every row to the target's default partitions (target_params.ignore_partition).
  bool ignore_partition = false;
  auto_id_mode auto_id = auto_id_mode::disable;
  /// Size limit of one Insert/Upsert/Delete request; clamped to [1, max_batch_bytes].
  size_t batch_bytes = default_batch_bytes;
  /// Write inserts as Upsert (the replay window after a restart: no duplicate rows).
  bool inserts_as_upserts = false;
};

// -- collections ------------------------------------------------------------------------------

/// What the transformer knows about one source collection (its schema cache entry).
struct collection_info {
  /// Source database ("default" when the source did not say) and collection name.
  std::string db_name;
  std::string name;
  int64_t id = 0;
  /// The schema as the source has it: from the WAL (with the system fields RowID/Timestamp
  /// and `$meta`) or from DescribeCollection (user fields only); both work everywhere.
  pb::schema::CollectionSchema schema;
  int32_t shards_num = 1;
  /// Partitions of a partition-key collection; 0 otherwise.
  int64_t num_partitions = 0;
  /// The WAL does not carry it: filled from DescribeCollection; Bounded otherwise (the
  /// default of the Milvus SDKs).
  pb::common::ConsistencyLevel consistency_level = pb::common::Bounded;
  /// Collection properties (DescribeCollection); the schema's own properties are added.
  std::vector<std::pair<std::string, std::string>> properties;
  /// Partition names by id, to name the partition of a Delete that carries only its id.
  std::map<int64_t, std::string> partitions;
};

/// The collection a CreateCollection message creates, in database `db_name` (2.3-2.5 leave
/// the message's db_name empty: the caller knows it from DescribeCollection). Shards from
/// the virtual channels, partitions of a partition-key collection from `partitionIDs`.
/// Error when `schema` is not a schema.CollectionSchema.
caf::expected<collection_info> collection_from_wal(const pb::msg::CreateCollectionRequest& msg,
                                                   std::string_view db_name);

/// The collection a source's DescribeCollection answer describes.
collection_info collection_from_describe(const pb::milvus::DescribeCollectionResponse& resp);

/// The primary key field of a schema; nullptr when it has none.
const pb::schema::FieldSchema* primary_key(const pb::schema::CollectionSchema& schema);

/// True for the system fields RowID (id 0) and Timestamp (id 1) of a WAL schema.
bool is_system_field(const pb::schema::FieldSchema& field);

/// True when `field` is computed by one of the schema's functions (e.g. BM25 output).
bool is_function_output(const pb::schema::CollectionSchema& schema,
                        const pb::schema::FieldSchema& field);

/// True when the collection has a partition key field (its partitions are Milvus's own).
bool has_partition_key(const pb::schema::CollectionSchema& schema);

/// A CreateCollection for the target, and what had to change.
struct create_collection {
  pb::milvus::CreateCollectionRequest request;
  /// The schema serialized in `request.schema`.
  pb::schema::CollectionSchema schema;
  /// The source's primary key is autoID: the target takes the WAL's keys (see `note`).
  bool auto_id_changed = false;
  /// For the log, empty when nothing changed: e.g. "autoID primary key 'pk' created with
  /// autoID=false: the target takes the source's keys".
  std::string note;
};

/// The target's CreateCollection: user fields only (no RowID/Timestamp/`$meta`, but
/// enable_dynamic_field), field and function ids cleared (the target assigns its own),
/// functions kept, shards, partitions of a partition key, consistency level, properties;
/// autoID per `opts.auto_id`; names mapped. Error when the schema has no primary key.
caf::expected<create_collection> create_collection_request(const collection_info& collection,
                                                           const name_mapper& names,
                                                           const options& opts = {});

// -- rows -------------------------------------------------------------------------------------

/// The columns of an Insert as a client sends them: user fields (matched to the schema by
/// id, else by name) in WAL order, field ids cleared; function-output and system fields
/// dropped; nullable columns compacted to their valid values with `valid_data`; `$meta`
/// kept with is_dynamic=true. Error when a column is not in the schema (the schema is
/// stale) or does not hold `rows` values.
caf::expected<std::vector<pb::schema::FieldData>>
target_columns(const pb::msg::InsertRequest& insert, const pb::schema::CollectionSchema& schema);

/// The target Insert of a WAL Insert: mapped names, partition (none for a partition-key
/// collection or with `ignore_partition`), target_columns, num_rows.
caf::expected<pb::milvus::InsertRequest> insert_request(const pb::msg::InsertRequest& insert,
                                                        const collection_info& collection,
                                                        const name_mapper& names,
                                                        const options& opts = {});

/// The same rows as an Upsert.
caf::expected<pb::milvus::UpsertRequest> upsert_request(const pb::msg::InsertRequest& insert,
                                                        const collection_info& collection,
                                                        const name_mapper& names,
                                                        const options& opts = {});

/// Keeps only the values of the rows whose `valid_data` is true (a client's form of a
/// nullable column); `valid_data` itself is kept. Columns without valid_data are returned
/// as they are. Error when the column does not hold one value per row.
caf::expected<pb::schema::FieldData> compact_nullable(const pb::schema::FieldData& column);

/// Number of rows of a column in client form (valid_data size when present).
size_t column_rows(const pb::schema::FieldData& column);

/// Rows [begin, end) of a column in client form (compact nullable columns stay compact).
pb::schema::FieldData slice_rows(const pb::schema::FieldData& column, size_t begin, size_t end);

/// Appends the rows of `from` to `to` (same field, both in client form).
void append_rows(pb::schema::FieldData& to, const pb::schema::FieldData& from);

// -- deletes ----------------------------------------------------------------------------------

/// A string as a double-quoted literal of Milvus's expression language: `"` and `\`
/// escaped, newline/CR/tab and other control bytes as escapes.
std::string quote(std::string_view text);

/// `<pk> in [1,2,3]` or `<pk> in ["a","b"]`.
std::string key_expression(std::string_view pk_field, const wal::primary_keys& keys);

/// The keys in order, in groups whose key_expression is at most `max_bytes` long (a single
/// key longer than that is a group of its own): a large delete as several requests.
std::vector<wal::primary_keys> split_keys(std::string_view pk_field, const wal::primary_keys& keys,
                                          size_t max_bytes);

/// The target Delete of a WAL Delete: mapped names, the key expression on the primary key,
/// the partition when it targets one (partitionID -1 = all; none for a partition-key
/// collection or with `ignore_partition`). Error when the delete names a partition only by
/// an id `collection.partitions` does not know, or the schema has no primary key.
caf::expected<pb::milvus::DeleteRequest> delete_request(const pb::msg::DeleteRequest& del,
                                                        const collection_info& collection,
                                                        const name_mapper& names,
                                                        const options& opts = {});

// -- DDL --------------------------------------------------------------------------------------

/// A DDL/DCL request for the target: a milvus.*Request message (CreateIndexRequest, ...).
struct ddl {
  pb::common::MsgType type = pb::common::Undefined;
  std::shared_ptr<const google::protobuf::Message> request;

  template <class T>
  const T* as() const {
    return dynamic_cast<const T*>(request.get());
  }
};

/// A replicate-channel event (CreateIndex, LoadCollection, Flush, CreateDatabase, ...): its
/// payload already is the public request; copied with `base` cleared and db_name,
/// collection_name (Flush: collection_names; RenameCollection: oldName/newName/newDBName;
/// OperatePrivilege: entity.db_name and a collection's object_name) mapped. An empty
/// db_name becomes the (mapped) default database, written explicitly. Error when the event's
/// payload is not a milvus.* request.
caf::expected<ddl> ddl_request(const wal::event& ev, const name_mapper& names);

/// milvus.DropCollectionRequest for a collection.
ddl drop_collection_request(const collection_info& collection, const name_mapper& names);

/// milvus.RenameCollectionRequest from source name `old_name` to `new_name` in source
/// database `db`: Milvus 2.3.5 writes no record of a rename, the writer finds it.
ddl rename_collection_request(std::string_view db, std::string_view old_name,
                              std::string_view new_name, const name_mapper& names);

/// milvus.CreateAliasRequest of alias `alias` for a collection.
ddl create_alias_request(const collection_info& collection, std::string_view alias,
                         const name_mapper& names);

/// milvus.CreateIndexRequest of an index the source describes (a collection that existed
/// before the task), and milvus.LoadCollectionRequest of a collection.
ddl create_index_request(const collection_info& collection,
                         const pb::milvus::IndexDescription& index, const name_mapper& names);
ddl load_collection_request(const collection_info& collection, const name_mapper& names);

/// milvus.CreatePartitionRequest / DropPartitionRequest / ReleasePartitionsRequest of
/// partition `partition` of a collection.
ddl create_partition_request(const collection_info& collection, std::string_view partition,
                             const name_mapper& names);
ddl drop_partition_request(const collection_info& collection, std::string_view partition,
                           const name_mapper& names);
ddl release_partition_request(const collection_info& collection, std::string_view partition,
                              const name_mapper& names);

} // namespace cdc::transform
