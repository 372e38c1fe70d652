#pragma once

// The source Milvus's public API, for what the WAL does not say: which database a collection
// belongs to, the schema of collections that existed before the task started, and the list
// of databases and collections a `*` selection covers.

#include "actors/base/task_spec.hpp"

#include "milvus.grpc.pb.h"

#include <caf/expected.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace grpc {
class Channel;
class ClientContext;
} // namespace grpc

namespace cdc::milvus {

/// A collection as the source describes it.
struct source_collection {
  int64_t id = 0;
  std::string db_name;
  std::string name;
  ::milvus::proto::schema::CollectionSchema schema;
  std::vector<std::string> virtual_channels;
  std::vector<std::string> physical_channels;
  /// Other names of the collection (CreateAlias).
  std::vector<std::string> aliases;
  /// The whole answer (consistency level, properties, shards, ...).
  ::milvus::proto::milvus::DescribeCollectionResponse response;
};

class source_client {
public:
  /// Dials lazily; `uri` and `token` as in the `source.milvus` configuration.
  source_client(std::string uri, std::string token,
                std::chrono::seconds deadline = std::chrono::seconds{10});

  /// Describes a collection by id, in whichever database it is: Milvus 2.3-2.5 describe an
  /// id only within the database of the request, so the id is first looked up in the
  /// collection lists of all databases. A collection that no longer exists is an error
  /// naming the id.
  caf::expected<source_collection> describe(int64_t collection_id);

  /// Describes a collection by database and name.
  caf::expected<source_collection> describe(const std::string& db_name, const std::string& name);

  /// The databases of the source.
  caf::expected<std::vector<std::string>> databases();

  /// The collections of one database.
  caf::expected<std::vector<std::string>> collections(const std::string& db_name);

  /// The partition names of a collection ("_default" included).
  caf::expected<std::vector<std::string>> partitions(const std::string& db_name,
                                                     const std::string& collection);

  /// The indexes of a collection (field, index name, parameters); empty when it has none.
  caf::expected<std::vector<::milvus::proto::milvus::IndexDescription>>
  indexes(const std::string& db_name, const std::string& collection);

  /// Whether the collection is loaded (LoadStateLoaded or LoadStateLoading) on the source.
  caf::expected<bool> loaded(const std::string& db_name, const std::string& collection);

private:
  caf::expected<source_collection> describe(::milvus::proto::milvus::DescribeCollectionRequest req);

  /// Where collection `id` is: (database, name), from the collection lists of all databases;
  /// found == false when no database has it.
  struct location {
    bool found = false;
    std::string db_name;
    std::string name;
  };
  caf::expected<location> locate(int64_t collection_id);

  /// ShowCollections of one database.
  caf::expected<::milvus::proto::milvus::ShowCollectionsResponse>
  show_collections(const std::string& db_name);

  /// Sets deadline, credentials and database of `ctx`; a stub on the (lazily opened) channel.
  caf::expected<std::unique_ptr<::milvus::proto::milvus::MilvusService::Stub>>
  prepare(grpc::ClientContext& ctx, const std::string& db_name);

  target_params params_;
  std::chrono::seconds deadline_;
  std::shared_ptr<grpc::Channel> channel_;
};

} // namespace cdc::milvus
