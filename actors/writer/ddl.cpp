#include "actors/writer/ddl.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace cdc {

namespace pb = ::milvus::proto;

bool selects(const task_spec& spec, const std::string& db, const std::string& name) {
  for (const auto& [db_selected, refs] : spec.db_collections) {
    if (db_selected != "*" && db_selected != db)
      continue;
    for (const auto& ref : refs)
      if (ref.name == "*" || ref.name == name)
        return true;
  }
  return false;
}

bool selects_database(const task_spec& spec, const std::string& db) {
  for (const auto& [db_selected, refs] : spec.db_collections)
    if (db_selected == "*" || db_selected == db)
      return true;
  return false;
}

bool replicates_ddl(const task_spec& spec, const wal::event& e) {
  std::string db = e.db_name.empty() ? std::string{default_database} : e.db_name;
  switch (e.type) {
  case pb::common::CreateCredential:
  case pb::common::DeleteCredential:
  case pb::common::UpdateCredential:
  case pb::common::CreateRole:
  case pb::common::DropRole:
  case pb::common::OperateUserRole:
  case pb::common::OperatePrivilege:
    return spec.enable_user_role;
  case pb::common::CreateDatabase:
  case pb::common::DropDatabase:
  case pb::common::AlterDatabase:
    return selects_database(spec, db);
  case pb::common::Flush: {
    auto* flush = e.as<pb::milvus::FlushRequest>();
    if (flush == nullptr)
      return false;
    for (const auto& name : flush->collection_names())
      if (selects(spec, db, name))
        return true;
    return false;
  }
  default:
    return selects(spec, db, e.collection_name);
  }
}

std::vector<std::string> channels_before(const task_spec& spec, milvus::source_client& source,
                                         const std::string& replicate_channel,
                                         const wal::event& ddl) {
  if (ddl.topic != replicate_channel)
    return {};
  std::string db = ddl.db_name.empty() ? std::string{default_database} : ddl.db_name;
  std::vector<std::string> names;
  if (const auto* flush = ddl.as<pb::milvus::FlushRequest>())
    names.assign(flush->collection_names().begin(), flush->collection_names().end());
  else if (!ddl.collection_name.empty())
    names.push_back(ddl.collection_name);
  std::vector<std::string> channels;
  for (const auto& name : names) {
    if (!selects(spec, db, name))
      continue;
    auto described = source.describe(db, name);
    if (!described)
      continue;
    channels.insert(channels.end(), described->physical_channels.begin(),
                    described->physical_channels.end());
  }
  return channels;
}

caf::error follow_name(milvus::source_client& source, const transform::name_mapper& names,
                       transform::collection_info& info, std::set<std::string>& checked,
                       const std::string& seen,
                       const std::function<caf::error(const transform::ddl&)>& run,
                       const milvus::source_collection* described) {
  if (seen.empty() || seen == info.name || checked.contains(seen))
    return {};
  std::optional<milvus::source_collection> asked;
  if (described == nullptr) {
    auto now = source.describe(info.id);
    if (!now) {
      if (retryable(now.error()))
        return now.error(); // the source is down: look again when it is back
      spdlog::debug("collection {} ({}.{}) named {}: the source does not describe it ({}); "
                    "its name stays",
                    info.id, info.db_name, info.name, seen, message_of(now.error()));
      checked.insert(seen);
      return {};
    }
    asked = std::move(*now);
    described = &*asked;
  }
  const bool is_alias = std::find(described->aliases.begin(), described->aliases.end(), seen) !=
                        described->aliases.end();
  if (described->name != info.name) {
    spdlog::info("collection {}.{} was renamed {} on the source (Milvus writes no record of "
                 "it; seen from the name {}): renaming it on the target",
                 info.db_name, info.name, described->name, seen);
    if (auto err = run(
            transform::rename_collection_request(info.db_name, info.name, described->name, names)))
      return err;
    info.name = described->name;
  } else if (!is_alias && seen != info.name) {
    // A name it had before: known here by its name now (described at a restart, the rename
    // found from a later event), the target may still have the old one. The target mirrors
    // the source up to this event, when the collection had that name: renaming that name
    // is right, and a target without it (renamed before a crash) answers not found.
    spdlog::info("collection {}.{} was called {} before (an event written under that name): "
                 "renaming it on the target if it still has that name",
                 info.db_name, info.name, seen);
    if (auto err = run(transform::rename_collection_request(info.db_name, seen, info.name, names)))
      return err;
  }
  for (const auto& alias : described->aliases) {
    if (checked.contains(alias))
      continue;
    spdlog::info("collection {}.{} has the alias {} on the source: creating it on the target",
                 info.db_name, info.name, alias);
    if (auto err = run(transform::create_alias_request(info, alias, names)))
      return err;
    checked.insert(alias);
  }
  checked.insert(seen);
  return {};
}

caf::error sync_source_partitions(milvus::source_client& source, const std::string& db,
                                  const std::string& name,
                                  const std::function<caf::error(const std::string&)>& ensure) {
  auto partitions = source.partitions(db, name);
  if (!partitions) {
    if (retryable(partitions.error()))
      return partitions.error(); // the source is down: sync when it is back
    spdlog::debug("partitions of {}.{} not synced: {}", db, name, message_of(partitions.error()));
    return {};
  }
  for (const auto& partition : *partitions)
    if (auto err = ensure(partition))
      return err;
  return {};
}

caf::expected<first_sight> sight_collection(milvus::source_client& source, const wal::event& e) {
  first_sight seen;
  // 2.3-2.5 leave the database out of the WAL: the source knows it.
  seen.described = source.describe(e.collection_id);
  if (!seen.described && retryable(seen.described.error()))
    return seen.described.error();
  if (auto* create = e.as<::milvus::proto::msg::CreateCollectionRequest>()) {
    std::string db = seen.described ? seen.described->db_name : std::string{default_database};
    if (!seen.described)
      spdlog::warn("source does not describe collection {} ({}); assuming database {}",
                   e.collection_id, message_of(seen.described.error()), db);
    auto from_wal = transform::collection_from_wal(*create, db);
    if (!from_wal)
      return from_wal.error();
    seen.info = std::move(*from_wal);
  } else if (seen.described) {
    seen.info = described_collection(*seen.described);
  }
  return seen;
}

caf::error unknown_collection(const wal::event& e, const caf::error& described) {
  return make_error(ec::target_refused,
                    "topic " + e.topic + " offset " + std::to_string(e.offset) + ": collection " +
                        std::to_string(e.collection_id) +
                        " is unknown (no CreateCollection seen) and the source cannot "
                        "describe it: " +
                        message_of(described));
}

caf::expected<std::vector<unknown_name>>
unknown_names_of(milvus::source_client& source, const wal::event& ddl,
                 const std::function<bool(const std::string&, const std::string&)>& known) {
  std::string db = ddl.db_name.empty() ? std::string{default_database} : ddl.db_name;
  std::vector<std::string> named;
  if (const auto* flush = ddl.as<::milvus::proto::milvus::FlushRequest>())
    named.assign(flush->collection_names().begin(), flush->collection_names().end());
  else if (!ddl.collection_name.empty() && ddl.type != ::milvus::proto::common::RenameCollection)
    named.push_back(ddl.collection_name);
  std::vector<unknown_name> unknown;
  for (const auto& name : named) {
    if (known(db, name))
      continue;
    auto described = source.describe(db, name);
    if (!described) {
      if (retryable(described.error()))
        return described.error();
      continue; // gone since: the DDL goes as it is
    }
    unknown.push_back(unknown_name{name, std::move(*described)});
  }
  return unknown;
}

transform::collection_info described_collection(const milvus::source_collection& described) {
  auto info = transform::collection_from_describe(described.response);
  info.db_name = described.db_name;
  info.name = described.name;
  info.id = described.id;
  return info;
}

caf::expected<std::vector<transform::ddl>>
existing_state_requests(milvus::source_client& source, const transform::name_mapper& names,
                        const transform::collection_info& info) {
  std::vector<transform::ddl> requests;
  auto indexes = source.indexes(info.db_name, info.name);
  if (!indexes)
    return indexes.error();
  for (const auto& index : *indexes)
    requests.push_back(transform::create_index_request(info, index, names));
  auto loaded = source.loaded(info.db_name, info.name);
  if (!loaded)
    return loaded.error();
  if (*loaded)
    requests.push_back(transform::load_collection_request(info, names));
  return requests;
}

bool same_fields(const ::milvus::proto::schema::CollectionSchema& source,
                 const std::set<std::string>& target_fields) {
  size_t user_fields = 0;
  for (const auto& field : source.fields()) {
    if (field.fieldid() < 100 && (field.name() == "RowID" || field.name() == "Timestamp"))
      continue;
    ++user_fields;
    if (target_fields.count(field.name()) == 0)
      return false;
  }
  return user_fields == target_fields.size();
}

milvus::write_status call_ddl(milvus::target_writer& target, const transform::ddl& request) {
  using namespace pb::common;
  namespace mpb = pb::milvus;
  switch (request.type) {
  case CreateCollection:
    return target.create_collection(*request.as<mpb::CreateCollectionRequest>());
  case DropCollection:
    return target.drop_collection(*request.as<mpb::DropCollectionRequest>());
  case RenameCollection:
    return target.rename_collection(*request.as<mpb::RenameCollectionRequest>());
  case AlterCollection:
    return target.alter_collection(*request.as<mpb::AlterCollectionRequest>());
  case CreateAlias:
    return target.create_alias(*request.as<mpb::CreateAliasRequest>());
  case DropAlias:
    return target.drop_alias(*request.as<mpb::DropAliasRequest>());
  case AlterAlias:
    return target.alter_alias(*request.as<mpb::AlterAliasRequest>());
  case CreatePartition:
    return target.create_partition(*request.as<mpb::CreatePartitionRequest>());
  case DropPartition:
    return target.drop_partition(*request.as<mpb::DropPartitionRequest>());
  case CreateIndex:
    return target.create_index(*request.as<mpb::CreateIndexRequest>());
  case DropIndex:
    return target.drop_index(*request.as<mpb::DropIndexRequest>());
  case AlterIndex:
    return target.alter_index(*request.as<mpb::AlterIndexRequest>());
  case LoadCollection:
    return target.load_collection(*request.as<mpb::LoadCollectionRequest>());
  case ReleaseCollection:
    return target.release_collection(*request.as<mpb::ReleaseCollectionRequest>());
  case LoadPartitions:
    return target.load_partitions(*request.as<mpb::LoadPartitionsRequest>());
  case ReleasePartitions:
    return target.release_partitions(*request.as<mpb::ReleasePartitionsRequest>());
  case Flush:
    return target.flush(*request.as<mpb::FlushRequest>()).status;
  case CreateDatabase:
    return target.create_database(*request.as<mpb::CreateDatabaseRequest>());
  case DropDatabase:
    return target.drop_database(*request.as<mpb::DropDatabaseRequest>());
  case AlterDatabase:
    return target.alter_database(*request.as<mpb::AlterDatabaseRequest>());
  case CreateCredential:
    return target.create_credential(*request.as<mpb::CreateCredentialRequest>());
  case DeleteCredential:
    return target.delete_credential(*request.as<mpb::DeleteCredentialRequest>());
  case UpdateCredential:
    return target.update_credential(*request.as<mpb::UpdateCredentialRequest>());
  case CreateRole:
    return target.create_role(*request.as<mpb::CreateRoleRequest>());
  case DropRole:
    return target.drop_role(*request.as<mpb::DropRoleRequest>());
  case OperateUserRole:
    return target.operate_user_role(*request.as<mpb::OperateUserRoleRequest>());
  case OperatePrivilege:
    return target.operate_privilege(*request.as<mpb::OperatePrivilegeRequest>());
  default:
    spdlog::warn("{} is not replicated yet; skipped", wal::type_name(request.type));
    milvus::write_status skipped;
    skipped.rpc = wal::type_name(request.type);
    return skipped;
  }
}

} // namespace cdc
