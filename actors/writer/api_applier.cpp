#include "actors/writer/api_applier.hpp"

#include "actors/writer/ddl.hpp"

#include "actors/base/metrics.hpp"
#include "actors/transformer/convert.hpp"

#include <grpcpp/support/status.h>
#include <spdlog/spdlog.h>

namespace cdc {

namespace {

namespace pb = ::milvus::proto;
namespace mpb = ::milvus::proto::milvus;

bool is_collection_event(const wal::event& e) {
  return e.collection_id != 0 && e.type != pb::common::TimeTick;
}

} // namespace

api_applier::api_applier(task_spec spec, std::string replicate_channel, std::string source_uri,
                         std::string source_token, std::shared_ptr<metrics::registry> metrics,
                         milvus::writer_options options,
                         std::shared_ptr<wal::collection_filter> skip)
    : spec_(std::move(spec)), replicate_channel_(std::move(replicate_channel)),
      names_(spec_.name_mappings), target_(spec_.target, options),
      source_(std::move(source_uri), std::move(source_token)), metrics_(std::move(metrics)),
      skip_(std::move(skip)) {
  options_.ignore_partition = spec_.target.ignore_partition;
}

caf::error api_applier::settle(const milvus::write_status& status) {
  if (metrics_ && status.attempts > 1)
    metrics_->add("cdc_target_retries_total", {{"task", spec_.task_id}}, status.attempts - 1);
  if (!status.ok()) {
    if (metrics_)
      metrics_->add("cdc_target_errors_total", {{"task", spec_.task_id}, {"rpc", status.rpc}});
    return make_error(status.retryable ? ec::unavailable : ec::target_refused,
                      "target " + status.rpc + " " + status.object + " failed: " + status.message);
  }
  if (status.tolerated())
    spdlog::info("target {} {}: {} ({}), fine for a replay", status.rpc, status.object,
                 milvus::to_string(status.outcome), status.message);
  return {};
}

caf::expected<std::optional<transform::collection_info>*>
api_applier::collection_of(const wal::event& e) {
  if (auto it = collections_.find(e.collection_id); it != collections_.end())
    return &it->second;
  auto seen = sight_collection(source_, e);
  if (!seen)
    return seen.error();
  auto& info = seen->info;
  auto& described = seen->described;
  if (!info) {
    if (e.type != pb::common::DropCollection && e.type != pb::common::DropPartition)
      return unknown_collection(e, described.error());
    // Nothing of it reached the target, or it went with its database (see apply_ddl).
    spdlog::debug("{} of collection {}, unknown here and to the source: nothing to drop",
                  wal::type_name(e.type), e.collection_id);
    return &(collections_[e.collection_id] = std::nullopt);
  }
  if (!selects(spec_, info->db_name, info->name)) {
    spdlog::debug("collection {}.{} is not replicated by this task", info->db_name, info->name);
    info.reset();
    if (skip_)
      skip_->skip(e.collection_id);
  } else if (described && e.type != pb::common::CreateCollection &&
             e.type != pb::common::DropCollection) {
    // The target may have it under the name this event carries (renamed since): renamed
    // there rather than a second collection created beside it.
    if (!e.collection_name.empty())
      if (auto err = follow_name(
              source_, names_, *info, other_names_[e.collection_id], e.collection_name,
              [&](const transform::ddl& request) { return execute(request); }, &*described))
        return err;
    if (auto err = adopt(*info))
      return err;
  }
  return &(collections_[e.collection_id] = std::move(info));
}

caf::error api_applier::adopt(const transform::collection_info& info) {
  auto create = transform::create_collection_request(info, names_, options_);
  if (!create)
    return create.error();
  auto created = target_.create_collection(create->request);
  if (!created.ok() && created.target_reason.find("different parameters") != std::string::npos) {
    // Milvus 2.3.5 compares the stored collection with the request: one this task made
    // before and renamed since is refused although it is the same.
    mpb::DescribeCollectionRequest describe;
    describe.set_db_name(create->request.db_name());
    describe.set_collection_name(create->request.collection_name());
    auto on_target = target_.describe_collection(describe);
    if (!on_target.ok())
      return settle(on_target.status);
    std::set<std::string> fields;
    for (const auto& field : on_target.value.schema().fields())
      fields.insert(field.name());
    if (!same_fields(create->schema, fields))
      return settle(created);
  } else if (auto err = settle(created)) {
    return err;
  } else if (created.outcome == milvus::write_outcome::applied) {
    spdlog::info("task {}: {}.{} existed on the source before the task saw its "
                 "CreateCollection: created on the target from the source's description "
                 "(schema, partitions, indexes, load state); rows written before the task "
                 "started are not copied",
                 spec_.task_id, info.db_name, info.name);
    if (!create->note.empty())
      spdlog::info("CreateCollection {}.{}: {}", info.db_name, info.name, create->note);
  }
  if (auto err = sync_source_partitions(
          source_, info.db_name, info.name,
          [&](const std::string& partition) { return ensure_partition(info, partition); }))
    return err;
  auto requests = existing_state_requests(source_, names_, info);
  if (!requests)
    return requests.error();
  // Best effort: the records that follow in the WAL (a DropIndex, a Release) make the
  // target right where the source's state of now does not fit the target of then; only an
  // outage stops here.
  for (const auto& request : *requests)
    if (auto err = execute(request)) {
      if (retryable(err))
        return err;
      spdlog::warn("task {}: {}.{}: {} of a collection from before the task not applied: {}",
                   spec_.task_id, info.db_name, info.name, wal::type_name(request.type),
                   message_of(err));
    }
  return {};
}

caf::error api_applier::apply(const std::vector<wal::event>& events,
                              const std::map<std::string, int64_t>& replay_until) {
  auto replayed = [&](const wal::event& e) {
    auto it = replay_until.find(e.topic);
    return it != replay_until.end() && e.offset <= it->second;
  };
  size_t i = 0;
  while (i < events.size()) {
    const auto& e = events[i];
    if (e.topic == replicate_channel_) {
      if (auto err = apply_ddl(e))
        return err;
      ++i;
      continue;
    }
    if (!is_collection_event(e)) {
      remember(e);
      ++i;
      continue;
    }
    // A run: consecutive events of one collection, all inside or all outside the replay
    // window (TimeTicks in between do not end it).
    std::vector<wal::event> run{e};
    size_t j = i + 1;
    for (; j < events.size(); ++j) {
      const auto& next = events[j];
      if (next.type == pb::common::TimeTick && next.topic != replicate_channel_)
        continue;
      if (next.topic == replicate_channel_ || next.collection_id != e.collection_id ||
          replayed(next) != replayed(e))
        break;
      run.push_back(next);
    }
    pair_with_recent_inserts(run);
    if (auto err = apply_collection(run.data(), run.data() + run.size(), replayed(e)))
      return err;
    for (const auto& applied : run)
      remember(applied);
    i = j;
  }
  return {};
}

void api_applier::remember(const wal::event& e) {
  auto& recent = recent_inserts_[e.topic];
  if (e.timestamp > recent.timestamp) {
    recent.timestamp = e.timestamp;
    recent.inserts.clear();
  }
  if (e.type == pb::common::Insert && e.timestamp == recent.timestamp)
    recent.inserts.push_back(e);
}

void api_applier::pair_with_recent_inserts(std::vector<wal::event>& run) {
  for (size_t k = 0; k < run.size(); ++k) {
    const auto& del = run[k];
    if (del.type != pb::common::Delete)
      continue;
    auto it = recent_inserts_.find(del.topic);
    if (it == recent_inserts_.end() || it->second.timestamp != del.timestamp)
      continue;
    std::vector<wal::event> halves;
    for (const auto& insert : it->second.inserts)
      if (insert.collection_id == del.collection_id)
        halves.push_back(insert);
    if (halves.empty())
      continue;
    // The Insert half of this upsert went to the target as an Insert already (it came in an
    // earlier batch); with its Delete it becomes an Upsert, which replaces both the old rows
    // and the ones that Insert wrote.
    spdlog::debug("{} offset {}: Delete pairs with {} Insert(s) applied before; upserting them",
                  del.topic, del.offset, halves.size());
    run.insert(run.begin() + static_cast<std::ptrdiff_t>(k), halves.begin(), halves.end());
    k += halves.size();
  }
}

caf::error api_applier::apply_collection(const wal::event* first, const wal::event* last,
                                         bool replay) {
  auto entry = collection_of(*first);
  if (!entry)
    return entry.error();
  if (!**entry)
    return {}; // not selected
  auto& info = ***entry;
  for (auto* e = first; e != last; ++e)
    if (auto err = follow_name(source_, names_, info, other_names_[info.id], e->collection_name,
                               [&](const transform::ddl& request) { return execute(request); }))
      return err;
  auto opts = options_;
  opts.inserts_as_upserts = replay;
  auto ops = transform::plan(std::span<const wal::event>{first, last}, info, names_, opts);
  if (!ops)
    return ops.error();
  for (const auto& op : *ops) {
    if (!op.note.empty())
      spdlog::info("{} {}.{}: {}", op.kind(), info.db_name, info.name, op.note);
    // Rows may name a partition the target does not have yet: Milvus 2.3.5 writes no
    // CreatePartition to its WAL.
    if (const auto* insert = std::get_if<transform::insert_op>(&op.call))
      if (auto err = ensure_partition(info, insert->request.partition_name()))
        return err;
    if (const auto* upsert = std::get_if<transform::upsert_op>(&op.call))
      if (auto err = ensure_partition(info, upsert->request.partition_name()))
        return err;
    if (auto err = execute(op))
      return err;
    if (const auto* ddl = std::get_if<transform::ddl_op>(&op.call)) {
      if (const auto* created = ddl->request.as<pb::milvus::CreatePartitionRequest>())
        partitions_[info.id].insert(created->partition_name());
      if (const auto* dropped = ddl->request.as<pb::milvus::DropPartitionRequest>())
        partitions_[info.id].erase(dropped->partition_name());
    }
  }
  // A dropped collection may come back with the same name: forget its entry.
  for (auto* e = first; e != last; ++e)
    if (e->type == pb::common::DropCollection) {
      collections_.erase(e->collection_id);
      partitions_.erase(e->collection_id);
      other_names_.erase(e->collection_id);
    }
  return {};
}

caf::error api_applier::ensure_partition(const transform::collection_info& info,
                                         const std::string& partition) {
  if (partition.empty() || partition == "_default" || options_.ignore_partition ||
      transform::has_partition_key(info.schema))
    return {};
  auto& known = partitions_[info.id];
  if (known.contains(partition))
    return {};
  spdlog::info("creating partition {} of {}.{} on the target (the source has it; its WAL does "
               "not say so)",
               partition, info.db_name, info.name);
  if (auto err = execute(transform::create_partition_request(info, partition, names_)))
    return err;
  known.insert(partition);
  return {};
}

caf::error api_applier::sync_partitions(const std::string& db, const std::string& name) {
  const auto* info = find(db, name);
  if (info == nullptr)
    return {}; // nothing of it applied yet: its CreateCollection brings the partitions
  return sync_source_partitions(source_, db, name, [&](const std::string& partition) {
    return ensure_partition(*info, partition);
  });
}

std::vector<std::string> api_applier::channels_before(const wal::event& ddl) {
  return cdc::channels_before(spec_, source_, replicate_channel_, ddl);
}

transform::collection_info* api_applier::find(const std::string& db, const std::string& name) {
  for (auto& [id, entry] : collections_)
    if (entry && entry->db_name == db && entry->name == name)
      return &*entry;
  return nullptr;
}

caf::error api_applier::follow_names_of(const wal::event& ddl) {
  auto unknown =
      unknown_names_of(source_, ddl, [&](const std::string& db, const std::string& name) {
        return find(db, name) != nullptr;
      });
  if (!unknown)
    return unknown.error();
  for (const auto& [name, found] : *unknown) {
    const auto* described = &found;
    auto it = collections_.find(described->id);
    if (it != collections_.end() && !it->second)
      continue; // not replicated
    auto follow = [&](transform::collection_info& info) {
      return follow_name(
          source_, names_, info, other_names_[described->id], name,
          [&](const transform::ddl& request) { return execute(request); }, &*described);
    };
    if (it != collections_.end()) {
      if (auto err = follow(*it->second))
        return err;
      continue;
    }
    // No event of it seen yet: a collection from before the task, named first by a DDL.
    auto info = described_collection(*described);
    if (!selects(spec_, info.db_name, info.name))
      continue;
    if (auto err = follow(info))
      return err;
    if (auto err = adopt(info))
      return err;
    collections_[described->id] = std::move(info);
  }
  return {};
}

caf::error api_applier::apply_ddl(const wal::event& e) {
  auto request = transform::ddl_request(e, names_);
  if (!request)
    return request.error();
  if (auto err = follow_names_of(e))
    return err;
  std::string db = e.db_name.empty() ? std::string{default_database} : e.db_name;
  // A collection the task follows under a name it did not select (renamed on the source).
  if (!replicates_ddl(spec_, e) && (e.collection_name.empty() || !find(db, e.collection_name)))
    return {};
  // Milvus drops a collection's data asynchronously: the DropCollection of the last
  // collections of a database can reach the WAL after the DropDatabase. The source refuses to
  // drop a database with collections, so they are gone there: drop them here first.
  if (e.type == pb::common::DropDatabase)
    for (auto& [id, entry] : collections_)
      if (entry && entry->db_name == db) {
        spdlog::info("dropping {}.{} with its database (its DropCollection comes later)", db,
                     entry->name);
        if (auto err = execute(transform::drop_collection_request(*entry, names_)))
          return err;
        entry.reset();
        partitions_.erase(id);
      }
  // Partitions the source created since (2.3.5 does not write CreatePartition) must be
  // there before an index, a load or a flush.
  if (e.type == pb::common::Flush) {
    for (const auto& name : e.as<pb::milvus::FlushRequest>()->collection_names())
      if (selects(spec_, db, name))
        if (auto err = sync_partitions(db, name))
          return err;
  } else if (!e.collection_name.empty() && e.type != pb::common::RenameCollection) {
    if (auto err = sync_partitions(db, e.collection_name))
      return err;
  }
  return execute(*request);
}

caf::error api_applier::execute(const transform::op& op) {
  auto err = std::visit(
      [&](const auto& call) -> caf::error {
        using call_type = std::decay_t<decltype(call)>;
        if constexpr (std::is_same_v<call_type, transform::insert_op>)
          return settle(target_.insert(call.request).status);
        else if constexpr (std::is_same_v<call_type, transform::upsert_op>)
          return settle(target_.upsert(call.request).status);
        else if constexpr (std::is_same_v<call_type, transform::delete_op>)
          return settle(target_.delete_rows(call.request).status);
        else if constexpr (std::is_same_v<call_type, transform::ddl_op>)
          return execute(call.request);
        else
          return caf::error{};
      },
      op.call);
  if (!err && metrics_ && op.rows > 0) {
    metrics_->add("cdc_rows_applied_total", {{"task", spec_.task_id}, {"kind", op.kind()}},
                  static_cast<double>(op.rows));
    metrics_->add("cdc_bytes_applied_total", {{"task", spec_.task_id}},
                  static_cast<double>(op.bytes));
  }
  return err;
}

caf::error api_applier::execute(const transform::ddl& request) {
  auto status = call_ddl(target_, request);
  // milvus-lite has no partition loading: nothing to release there.
  if (request.type == pb::common::ReleasePartitions && !status.ok() &&
      status.grpc_code == static_cast<int>(grpc::StatusCode::UNIMPLEMENTED)) {
    spdlog::warn("target does not implement ReleasePartitions ({}); {} skipped",
                 status.target_reason, status.object);
    return {};
  }
  return settle(status);
}

} // namespace cdc
