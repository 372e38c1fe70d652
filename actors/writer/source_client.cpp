#include "actors/writer/source_client.hpp"

#include "actors/base/error.hpp"
#include "actors/writer/target_client.hpp"
#include "milvus.grpc.pb.h"

#include <grpcpp/grpcpp.h>

namespace cdc::milvus {

namespace {

namespace pb = ::milvus::proto::milvus;

caf::error source_error(const std::string& what, const grpc::Status& status) {
  // The source down or restarting: a later try may succeed.
  auto code = status.error_code();
  bool passing = code == grpc::StatusCode::UNAVAILABLE ||
                 code == grpc::StatusCode::DEADLINE_EXCEEDED ||
                 code == grpc::StatusCode::RESOURCE_EXHAUSTED;
  return make_error(passing ? ec::unavailable : ec::internal,
                    "source Milvus: " + what + ": gRPC " +
                        std::to_string(static_cast<int>(status.error_code())) + " " +
                        status.error_message());
}

caf::error refused(const std::string& what, const ::milvus::proto::common::Status& status) {
  return make_error(ec::internal, "source Milvus: " + what + ": " + status.reason());
}

} // namespace

source_client::source_client(std::string uri, std::string token, std::chrono::seconds deadline)
    : deadline_(deadline) {
  params_.uri = std::move(uri);
  params_.token = std::move(token);
}

caf::expected<std::unique_ptr<pb::MilvusService::Stub>>
source_client::prepare(grpc::ClientContext& ctx, const std::string& db_name) {
  std::string error;
  if (!channel_)
    channel_ = open_channel(params_, error);
  if (!channel_)
    return make_error(ec::internal, "source Milvus: " + error);
  ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
  authorize(ctx, params_);
  if (!db_name.empty())
    ctx.AddMetadata("dbname", db_name);
  return pb::MilvusService::NewStub(channel_);
}

caf::expected<source_collection> source_client::describe(int64_t collection_id) {
  auto where = locate(collection_id);
  if (!where)
    return where.error();
  if (where->found)
    return describe(where->db_name, where->name);
  // Not in any collection list (dropped, or a server without databases): the id alone.
  pb::DescribeCollectionRequest req;
  req.set_collectionid(collection_id);
  return describe(std::move(req));
}

caf::expected<source_client::location> source_client::locate(int64_t collection_id) {
  auto dbs = databases();
  if (!dbs)
    return dbs.error();
  for (const auto& db : *dbs) {
    auto shown = show_collections(db);
    if (!shown)
      return shown.error();
    for (int i = 0; i < shown->collection_ids_size() && i < shown->collection_names_size(); ++i)
      if (shown->collection_ids(i) == collection_id)
        return location{true, db, shown->collection_names(i)};
  }
  return location{};
}

caf::expected<source_collection> source_client::describe(const std::string& db_name,
                                                         const std::string& name) {
  pb::DescribeCollectionRequest req;
  req.set_db_name(db_name);
  req.set_collection_name(name);
  return describe(std::move(req));
}

caf::expected<source_collection> source_client::describe(pb::DescribeCollectionRequest req) {
  grpc::ClientContext ctx;
  auto stub = prepare(ctx, req.db_name());
  if (!stub)
    return stub.error();
  pb::DescribeCollectionResponse resp;
  auto what = req.collectionid() != 0
                  ? "describe collection id " + std::to_string(req.collectionid())
                  : "describe collection " + req.db_name() + "." + req.collection_name();
  auto status = (*stub)->DescribeCollection(&ctx, req, &resp);
  if (!status.ok())
    return source_error(what, status);
  if (!succeeded(resp.status()))
    return refused(what, resp.status());
  source_collection result;
  result.id = resp.collectionid();
  result.db_name = resp.db_name().empty() ? req.db_name() : resp.db_name();
  if (result.db_name.empty())
    result.db_name = "default";
  result.name = resp.collection_name().empty() ? resp.schema().name() : resp.collection_name();
  result.schema = resp.schema();
  result.virtual_channels.assign(resp.virtual_channel_names().begin(),
                                 resp.virtual_channel_names().end());
  result.physical_channels.assign(resp.physical_channel_names().begin(),
                                  resp.physical_channel_names().end());
  result.aliases.assign(resp.aliases().begin(), resp.aliases().end());
  result.response = std::move(resp);
  return result;
}

caf::expected<std::vector<std::string>> source_client::databases() {
  grpc::ClientContext ctx;
  auto stub = prepare(ctx, {});
  if (!stub)
    return stub.error();
  pb::ListDatabasesResponse resp;
  auto status = (*stub)->ListDatabases(&ctx, pb::ListDatabasesRequest{}, &resp);
  if (!status.ok())
    return source_error("list databases", status);
  if (!succeeded(resp.status()))
    return refused("list databases", resp.status());
  return std::vector<std::string>{resp.db_names().begin(), resp.db_names().end()};
}

caf::expected<std::vector<std::string>> source_client::collections(const std::string& db_name) {
  auto shown = show_collections(db_name);
  if (!shown)
    return shown.error();
  return std::vector<std::string>{shown->collection_names().begin(),
                                  shown->collection_names().end()};
}

caf::expected<pb::ShowCollectionsResponse>
source_client::show_collections(const std::string& db_name) {
  grpc::ClientContext ctx;
  auto stub = prepare(ctx, db_name);
  if (!stub)
    return stub.error();
  pb::ShowCollectionsRequest req;
  req.set_db_name(db_name);
  pb::ShowCollectionsResponse resp;
  auto status = (*stub)->ShowCollections(&ctx, req, &resp);
  if (!status.ok())
    return source_error("show collections of " + db_name, status);
  if (!succeeded(resp.status()))
    return refused("show collections of " + db_name, resp.status());
  return resp;
}

caf::expected<std::vector<std::string>> source_client::partitions(const std::string& db_name,
                                                                  const std::string& collection) {
  grpc::ClientContext ctx;
  auto stub = prepare(ctx, db_name);
  if (!stub)
    return stub.error();
  pb::ShowPartitionsRequest req;
  req.set_db_name(db_name);
  req.set_collection_name(collection);
  pb::ShowPartitionsResponse resp;
  auto what = "show partitions of " + db_name + "." + collection;
  auto status = (*stub)->ShowPartitions(&ctx, req, &resp);
  if (!status.ok())
    return source_error(what, status);
  if (!succeeded(resp.status()))
    return refused(what, resp.status());
  return std::vector<std::string>{resp.partition_names().begin(), resp.partition_names().end()};
}

caf::expected<std::vector<pb::IndexDescription>>
source_client::indexes(const std::string& db_name, const std::string& collection) {
  grpc::ClientContext ctx;
  auto stub = prepare(ctx, db_name);
  if (!stub)
    return stub.error();
  pb::DescribeIndexRequest req;
  req.set_db_name(db_name);
  req.set_collection_name(collection);
  pb::DescribeIndexResponse resp;
  auto what = "describe indexes of " + db_name + "." + collection;
  auto status = (*stub)->DescribeIndex(&ctx, req, &resp);
  if (!status.ok())
    return source_error(what, status);
  // A collection without an index is answered "index not found" (code 700 in 2.3.5):
  // nothing to copy.
  if (resp.status().code() == 700 ||
      resp.status().reason().find("index not found") != std::string::npos)
    return std::vector<pb::IndexDescription>{};
  if (!succeeded(resp.status()))
    return refused(what, resp.status());
  return std::vector<pb::IndexDescription>{resp.index_descriptions().begin(),
                                           resp.index_descriptions().end()};
}

caf::expected<bool> source_client::loaded(const std::string& db_name,
                                          const std::string& collection) {
  grpc::ClientContext ctx;
  auto stub = prepare(ctx, db_name);
  if (!stub)
    return stub.error();
  pb::GetLoadStateRequest req;
  req.set_db_name(db_name);
  req.set_collection_name(collection);
  pb::GetLoadStateResponse resp;
  auto what = "load state of " + db_name + "." + collection;
  auto status = (*stub)->GetLoadState(&ctx, req, &resp);
  if (!status.ok())
    return source_error(what, status);
  if (!succeeded(resp.status()))
    return refused(what, resp.status());
  return resp.state() == ::milvus::proto::common::LoadStateLoaded ||
         resp.state() == ::milvus::proto::common::LoadStateLoading;
}

} // namespace cdc::milvus
