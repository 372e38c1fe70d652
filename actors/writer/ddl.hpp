#pragma once

// What both target modes share: which databases, collections and replicate-channel events a
// task replicates (its selection), and the RPC that applies a DDL/DCL request.

#include "actors/base/task_spec.hpp"
#include "actors/reader/decode.hpp"
#include "actors/transformer/convert.hpp"
#include "actors/writer/source_client.hpp"
#include "actors/writer/target_writer.hpp"

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace cdc {

/// True when the task replicates collection `name` of database `db`.
bool selects(const task_spec& spec, const std::string& db, const std::string& name);

/// True when the task replicates anything of database `db`.
bool selects_database(const task_spec& spec, const std::string& db);

/// True when the task replicates this event of the replicate channel: users and roles only
/// with `enable_user_role`, databases when selected, a Flush when one of its collections is
/// selected, the rest when their collection is.
bool replicates_ddl(const task_spec& spec, const wal::event& e);

/// The source's physical channels of the selected collections a replicate-channel DDL names
/// (a Flush: each of its collections), which must have passed the DDL's time before it is
/// applied; empty for anything else. A collection the source no longer has is left out: all
/// its events are in the WAL before this one.
std::vector<std::string> channels_before(const task_spec& spec, milvus::source_client& source,
                                         const std::string& replicate_channel,
                                         const wal::event& ddl);

/// Milvus 2.3.5 writes no record of a rename or of an alias: an event carries the name the
/// client used, the new name after a rename, an alias when written through one. Once per
/// name an event gives a collection other than its known name (`checked` holds those looked
/// at), this asks the source what the collection is called now (or takes `described`, that
/// answer already at hand) and has the target follow: `run` gets the RenameCollection when
/// the name changed (then `info.name` is the new name) and a CreateAlias per alias. The
/// name is then in `checked`. Error only from `run` or when the source is down (retryable);
/// a collection the source no longer has keeps its name.
caf::error follow_name(milvus::source_client& source, const transform::name_mapper& names,
                       transform::collection_info& info, std::set<std::string>& checked,
                       const std::string& seen,
                       const std::function<caf::error(const transform::ddl&)>& run,
                       const milvus::source_collection* described = nullptr);

/// A collection as the first event of it that a pipeline sees tells it: from its
/// CreateCollection (the database from the source), else from what the source describes now.
/// `described` is the source's answer; `info` is empty when neither says what the collection
/// is (the source no longer has it, and the event is no CreateCollection): the caller decides.
struct first_sight {
  std::optional<transform::collection_info> info;
  caf::expected<milvus::source_collection> described{caf::error{}};
};

/// Error only when the source is down (retryable: try again later rather than guess the
/// database or take the collection for dropped) or the CreateCollection cannot be read.
caf::expected<first_sight> sight_collection(milvus::source_client& source, const wal::event& e);

/// The error of an event whose collection neither a CreateCollection nor the source describes.
caf::error unknown_collection(const wal::event& e, const caf::error& described);

/// A collection a replicate-channel DDL names by a name the applier does not know.
struct unknown_name {
  std::string name;
  milvus::source_collection described;
};

/// The collections a replicate-channel DDL names (a Flush: each of them) by a name for which
/// `known(db, name)` is false, as the source describes them now: renamed since, named
/// through an alias, or from before the task. A name the source no longer has is left out
/// (the DDL goes as it is); error only when the source is down (retryable).
caf::expected<std::vector<unknown_name>>
unknown_names_of(milvus::source_client& source, const wal::event& ddl,
                 const std::function<bool(const std::string&, const std::string&)>& known);

/// Calls `ensure` for each partition collection `db`.`name` has on the source (Milvus
/// 2.3-2.5 write no CreatePartition to the WAL). Error when the source is down (retryable)
/// or from `ensure`; a collection the source no longer has syncs nothing.
caf::error sync_source_partitions(milvus::source_client& source, const std::string& db,
                                  const std::string& name,
                                  const std::function<caf::error(const std::string&)>& ensure);

/// The collection as the source describes it (its current name and database).
transform::collection_info described_collection(const milvus::source_collection& described);

/// A collection that existed on the source before the task saw its CreateCollection (the
/// task started later, or from a position after it): what its WAL will never say, as
/// requests for the target, in the order they go: its indexes, then a LoadCollection when
/// the source has it loaded. Its CreateCollection and partitions are the caller's (each mode
/// creates them its own way). Error when the source is down (retryable) or refuses.
caf::expected<std::vector<transform::ddl>>
existing_state_requests(milvus::source_client& source, const transform::name_mapper& names,
                        const transform::collection_info& info);

/// The user fields of `source` (RowID/Timestamp of a WAL schema left out) are exactly
/// `target_fields`: a collection on the target that Milvus 2.3.5 refuses to create again as
/// "different parameters" (renamed since) is still this one.
bool same_fields(const ::milvus::proto::schema::CollectionSchema& source,
                 const std::set<std::string>& target_fields);

/// Calls the RPC of `request` on the target. A type without an RPC here is logged and
/// counts as applied.
milvus::write_status call_ddl(milvus::target_writer& target, const transform::ddl& request);

} // namespace cdc
