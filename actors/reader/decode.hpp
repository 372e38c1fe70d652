#pragma once

// Decoding of the source Milvus's write-ahead log (Milvus 2.3-2.5 on Kafka, see
// spec/wal.md): one Kafka record in, one typed event out. No actors, no I/O: the reader
// feeds records, the transformer and writer consume events, and tests feed captured ones.

#include "actors/base/error.hpp"
#include "actors/reader/filter.hpp"

#include "common.pb.h"
#include "msg.pb.h"
#include "schema.pb.h"

#include <caf/expected.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cdc::wal {

namespace pb = ::milvus::proto;

/// One Kafka record as the reader received it.
struct raw_record {
  std::string topic;
  int64_t offset = -1;
  /// Kafka headers in order (name, value); Milvus 2.6 records carry `_v`, `_t`, ...
  std::vector<std::pair<std::string, std::string>> headers;
  std::string value;
};

/// One decoded WAL message.
struct event {
  /// `base.msg_type` of the payload (the `msg_type` header is only a hint).
  pb::common::MsgType type = pb::common::Undefined;
  /// Where it came from: physical channel (topic) and Kafka offset.
  std::string topic;
  int64_t offset = -1;
  /// `base.timestamp`: hybrid, (physical_ms << 18) | logical. For Insert and Delete the
  /// largest of their per-row `timestamps` (Milvus's EndTs): Milvus 2.3.5 writes the Insert
  /// half of an upsert with `base.timestamp` 0.
  uint64_t timestamp = 0;
  /// The collection the message is about; 0 when the type has none (TimeTick, databases).
  int64_t collection_id = 0;
  /// Virtual channel of Insert/Delete (`shardName`); empty otherwise.
  std::string shard_name;
  /// Database and collection names as the payload carries them (often empty on 2.4/2.5
  /// DML; the schema cache fills them).
  std::string db_name;
  std::string collection_name;
  /// The parsed payload (null for an Insert or Delete of a collection the decoder was told to
  /// skip: see collection_filter): msg.InsertRequest, msg.DeleteRequest, msg.TimeTickMsg,
  /// msg.CreateCollectionRequest, msg.DropCollectionRequest, msg.CreatePartitionRequest,
  /// msg.DropPartitionRequest on the DML topics; the public milvus.*Request of the type on
  /// the replicate channel (milvus.CreateDatabaseRequest, milvus.CreateIndexRequest, ...).
  std::shared_ptr<const google::protobuf::Message> body;
  /// Size of the record value, for flow control and metrics.
  size_t bytes = 0;

  /// The payload as `T`, or nullptr when it is another type.
  template <class T>
  const T* as() const {
    return dynamic_cast<const T*>(body.get());
  }
};

/// Decodes one record. Errors name topic, offset and reason: `ec::undecodable_record` for
/// a record that is not a Milvus message we know, `ec::unsupported_format` for a Milvus 2.6
/// record (a `_v` header). A record is never skipped silently.
/// With `skip`: an Insert or Delete of a collection it names is not parsed beyond its header
/// (the event has type, place, collection id and `base.timestamp`, and no body).
caf::expected<event> decode(const raw_record& record, const collection_filter* skip = nullptr);

/// The name of a message type, e.g. "Insert" (the enum name of common.MsgType).
std::string type_name(pb::common::MsgType type);

// -- inserts and deletes --------------------------------------------------------------------

/// Primary keys of an insert or a delete: exactly one of the two vectors is used.
struct primary_keys {
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  size_t size() const { return ints.size() + strings.size(); }
  bool operator==(const primary_keys&) const = default;
};

/// Number of values a scalar column holds (of whichever type it carries).
size_t scalar_count(const pb::schema::ScalarField& scalars);

/// Number of rows of an insert (`num_rows`, or the length of its timestamps on old writers).
size_t row_count(const pb::msg::InsertRequest& insert);

/// Checks that every column of an insert holds `row_count` values (vectors: dim × rows,
/// nullable columns: `valid_data` of row_count), so that a corrupt message is refused
/// before anything is applied. The error names the field.
caf::error validate_insert(const pb::msg::InsertRequest& insert);

/// The primary keys of an insert: the column of the field that is the primary key in
/// `schema`. Error when the column is missing or of another type.
caf::expected<primary_keys> insert_keys(const pb::msg::InsertRequest& insert,
                                        const pb::schema::CollectionSchema& schema);

/// The primary keys of a delete: `primary_keys` (int or string), or the deprecated
/// `int64_primary_keys` of older writers.
primary_keys delete_keys(const pb::msg::DeleteRequest& del);

// -- channels ---------------------------------------------------------------------------------

/// The physical channel of a virtual one: everything before the last '_'
/// (by-dev-rootcoord-dml_3_453284834843284v0 -> by-dev-rootcoord-dml_3).
std::string_view physical_channel(std::string_view vchannel);

/// The shard index of a virtual channel (the number after the last 'v'); -1 when malformed.
int shard_index(std::string_view vchannel);

/// The DML topic `i` of a cluster: <prefix>-rootcoord-dml_<i>.
std::string dml_topic(std::string_view cluster_prefix, int index);

} // namespace cdc::wal
