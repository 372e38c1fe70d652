#include "apply/api_applier.hpp"

#include "apply/ddl.hpp"

#include "metrics/registry.hpp"
#include "transform/convert.hpp"

#include <spdlog/spdlog.h>

namespace cdc {

namespace {

namespace pb = ::milvus::proto;

bool is_collection_event(const wal::event& e) {
  return e.collection_id != 0 && e.type != pb::common::TimeTick;
}

} // namespace

api_applier::api_applier(task_spec spec, std::string replicate_channel, std::string source_uri,
                         std::string source_token, std::shared_ptr<metrics::registry> metrics,
                         milvus::writer_options options)
    : spec_(std::move(spec)), replicate_channel_(std::move(replicate_channel)),
      names_(spec_.name_mappings), target_(spec_.target, options),
      source_(std::move(source_uri), std::move(source_token)), metrics_(std::move(metrics)) {
  options_.ignore_partition = spec_.target.ignore_partition;
}

caf::error api_applier::settle(const milvus::write_status& status) {
  if (metrics_ && status.attempts > 1)
    metrics_->add("cdc_target_retries_total", {{"task", spec_.task_id}}, status.attempts - 1);
  if (!status.ok()) {
    if (metrics_)
      metrics_->add("cdc_target_errors_total", {{"task", spec_.task_id}, {"rpc", status.rpc}});
    return make_error(ec::target_refused,
                      "target " + status.rpc + " " + status.object + " failed: " + status.message);
  }
  if (status.tolerated())
    spdlog::info("target {} {}: {} ({}), fine for a replay", status.rpc, status.object,
                 milvus::to_string(status.outcome), status.message);
  return {};
}

bool api_applier::selected(const std::string& db, const std::string& name) const {
  return selects(spec_, db, name);
}

caf::expected<const std::optional<transform::collection_info>*>
api_applier::collection_of(const wal::event& e) {
  if (auto it = collections_.find(e.collection_id); it != collections_.end())
    return &it->second;
  std::optional<transform::collection_info> info;
  // 2.3-2.5 leave the database out of the WAL: the source knows it.
  auto described = source_.describe(e.collection_id);
  if (auto* create = e.as<pb::msg::CreateCollectionRequest>()) {
    std::string db = described ? described->db_name : std::string{default_database};
    if (!described)
      spdlog::warn("source does not describe collection {} ({}); assuming database {}",
                   e.collection_id, message_of(described.error()), db);
    auto from_wal = transform::collection_from_wal(*create, db);
    if (!from_wal)
      return from_wal.error();
    info = std::move(*from_wal);
  } else if (described) {
    info = transform::collection_info{};
    info->db_name = described->db_name;
    info->name = described->name;
    info->id = described->id;
    info->schema = described->schema;
    info->shards_num =
        static_cast<int32_t>(std::max<size_t>(1, described->virtual_channels.size()));
  } else {
    return make_error(ec::target_refused,
                      "topic " + e.topic + " offset " + std::to_string(e.offset) + ": collection " +
                          std::to_string(e.collection_id) +
                          " is unknown (no CreateCollection seen) and the source cannot "
                          "describe it: " +
                          message_of(described.error()));
  }
  if (!selected(info->db_name, info->name)) {
    spdlog::debug("collection {}.{} is not replicated by this task", info->db_name, info->name);
    info.reset();
  }
  return &(collections_[e.collection_id] = std::move(info));
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
    if (auto err = apply_collection(run.data(), run.data() + run.size(), replayed(e)))
      return err;
    i = j;
  }
  return {};
}

caf::error api_applier::apply_collection(const wal::event* first, const wal::event* last,
                                         bool replay) {
  auto entry = collection_of(*first);
  if (!entry)
    return entry.error();
  if (!**entry)
    return {}; // not selected
  auto& info = ***entry;
  auto opts = options_;
  opts.inserts_as_upserts = replay;
  auto ops = transform::plan(std::span<const wal::event>{first, last}, info, names_, opts);
  if (!ops)
    return ops.error();
  for (const auto& op : *ops) {
    if (!op.note.empty())
      spdlog::info("{} {}.{}: {}", op.kind(), info.db_name, info.name, op.note);
    if (auto err = execute(op))
      return err;
  }
  // A dropped collection may come back with the same name: forget its entry.
  for (auto* e = first; e != last; ++e)
    if (e->type == pb::common::DropCollection)
      collections_.erase(e->collection_id);
  return {};
}

caf::error api_applier::apply_ddl(const wal::event& e) {
  auto request = transform::ddl_request(e, names_);
  if (!request)
    return request.error();
  if (!replicates_ddl(spec_, e))
    return {};
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
  return settle(call_ddl(target_, request));
}

} // namespace cdc
