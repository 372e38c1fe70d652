#pragma once

// From the decoded WAL events of one collection to the ordered operations on the target
// (mode `api`): upsert pairing, conversion (actors/transformer/convert.hpp) and batching. Pure
// functions: no actors, no I/O.

#include "actors/transformer/convert.hpp"

#include <span>
#include <variant>

namespace cdc::transform {

/// A source event an operation completes: its channel, Kafka offset and timestamp. The
/// writer acknowledges these once the target confirmed the operation.
struct origin {
  std::string topic;
  int64_t offset = -1;
  uint64_t timestamp = 0;
  bool operator==(const origin&) const = default;
};

struct insert_op {
  pb::milvus::InsertRequest request;
  /// Name of the primary key column (batching keeps upserts of the same key apart).
  std::string pk_field;
};

struct upsert_op {
  pb::milvus::UpsertRequest request;
  std::string pk_field;
};

struct delete_op {
  pb::milvus::DeleteRequest request;
};

/// CreateCollection, DropCollection, partitions, and the replicate channel's DDL.
struct ddl_op {
  ddl request;
};

/// Nothing to call on the target (TimeTick, a skipped CreatePartition, an empty Delete):
/// only acknowledges its origins once everything before it is applied.
struct no_op {};

/// One call on the target.
struct op {
  std::variant<insert_op, upsert_op, delete_op, ddl_op, no_op> call;
  /// The source events this operation completes, in WAL order. An event whose rows are
  /// split over several operations is listed on the last of them only.
  std::vector<origin> origins;
  /// Rows written or keys deleted (0 for DDL).
  size_t rows = 0;
  /// Serialized size of the request.
  size_t bytes = 0;
  /// For the log, e.g. the autoID note of a CreateCollection; usually empty.
  std::string note;

  /// "Insert", "Upsert", "Delete", the DDL's message type name ("CreateIndex", ...) or
  /// "None".
  std::string kind() const;
};

/// The operations that apply `events` (all of one collection, in WAL order) to the target,
/// in the order to apply them:
/// - Insert and Delete with the same timestamp whose delete keys are a subset of those
///   inserts' keys (an upsert of Milvus 2.3-2.5): the inserts become Upserts, the delete
///   goes; never insert-then-delete. A delete that shares a timestamp with inserts but is
///   not covered by them goes before the first of them.
/// - Insert -> Insert (Upsert with `inserts_as_upserts`), Delete -> Delete (several when
///   its key expression would make the request larger than `opts.batch_bytes`).
/// - CreateCollection -> CreateCollection from `collection` (its autoID note in `note`),
///   DropCollection, CreatePartition (skipped for partition-key collections and with
///   `ignore_partition`), DropPartition (preceded by ReleasePartitions: Milvus 2.3.5
///   writes no ReleasePartitions, and refuses to drop a loaded partition).
/// - replicate-channel DDL -> ddl_request.
/// - TimeTick, a Delete without keys, a skipped CreatePartition/DropPartition -> no_op.
/// - then `batch` with `opts.batch_bytes`.
/// Every event's origin is on exactly one operation: an absorbed delete's on the last
/// upsert of its pair.
/// Error when an event belongs to another collection or cannot be converted; the message
/// names the event (topic, offset).
caf::expected<std::vector<op>> plan(std::span<const wal::event> events,
                                    const collection_info& collection, const name_mapper& names,
                                    const options& opts = {});

/// Splits Insert/Upsert operations larger than `max_bytes` by rows and merges consecutive
/// ones of the same kind, database, collection, partition and columns into requests of at
/// most `max_bytes` (clamped to [1, max_batch_bytes]; a single row larger than that is
/// sent alone). Upserts that share a key are not merged. A no_op's origins go to the
/// operation before it (it needs nothing but that), so it does not break a batch; a
/// leading no_op stays. Order is kept; other operations are never moved.
std::vector<op> batch(std::vector<op> ops, size_t max_bytes);

/// An operation of one Insert/Upsert/Delete/DDL request, with `rows` and `bytes` filled.
op make_op(insert_op call, std::vector<origin> origins = {});
op make_op(upsert_op call, std::vector<origin> origins = {});
op make_op(delete_op call, size_t keys, std::vector<origin> origins = {});
op make_op(ddl_op call, std::vector<origin> origins = {});
op make_op(no_op call, std::vector<origin> origins = {});

} // namespace cdc::transform
