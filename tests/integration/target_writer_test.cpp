// target_writer against the real servers of the harness (tests/harness): the normal Milvus
// 2.3.5 target (TARGET_MILVUS_URI), the standby Milvus 2.3.5 with common.ttMsgEnabled=false
// (STANDBY_MILVUS_URI) and milvus-lite 3.2.2 (LITE_URI). The tests fail, not skip, when one of
// these variables is missing. The last test restarts milvus-lite with the harness
// (CDC_HARNESS_DIR).

#include "actors/writer/target_client.hpp"
#include "actors/writer/target_writer.hpp"
#include "msg.pb.h"
#include "proto/position.hpp"

#include <doctest/doctest.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdlib>
#include <future>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace cdc;
using namespace cdc::milvus;
using namespace std::chrono_literals;

namespace {

namespace mpb = ::milvus::proto::milvus;
namespace cpb = ::milvus::proto::common;
namespace spb = ::milvus::proto::schema;
namespace msgpb = ::milvus::proto::msg;

std::string required_env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0')
    throw std::runtime_error(std::string{name} +
                             " is not set: run the integration tests with the harness "
                             "(tests/run_in_namespace.sh starts lite, target and standby)");
  return value;
}

target_params params_for(const std::string& uri, std::string token = {}) {
  target_params params;
  params.uri = uri;
  params.token = std::move(token);
  params.connect_timeout_s = 5;
  return params;
}

std::string unique(const std::string& prefix) {
  std::random_device rd;
  return prefix + std::to_string(rd() % 1000000000);
}

/// A hybrid timestamp for now: (physical ms << 18).
uint64_t hybrid_now() {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  return static_cast<uint64_t>(ms) << 18;
}

/// Call latencies per server and RPC, printed at the end of each scenario.
struct latencies {
  std::map<std::string, std::vector<double>> ms;
  /// What the target answered when it was not a plain success.
  std::vector<std::string> notes;

  const write_status& operator()(const write_status& status) {
    ms[status.rpc].push_back(static_cast<double>(status.elapsed.count()) / 1000.0);
    if (!status.message.empty())
      notes.push_back("  " + status.rpc + " " + status.object + ": " + to_string(status.outcome) +
                      ": " + status.message + "\n");
    return status;
  }

  std::string summary() const {
    std::string out;
    for (const auto& [rpc, values] : ms) {
      auto sorted = values;
      std::sort(sorted.begin(), sorted.end());
      char line[160];
      std::snprintf(line, sizeof line, "  %-18s n=%zu min %.1f ms median %.1f ms max %.1f ms\n",
                    rpc.c_str(), sorted.size(), sorted.front(), sorted[sorted.size() / 2],
                    sorted.back());
      out += line;
    }
    out += "answers other than a plain success:\n";
    for (const auto& note : notes)
      out += note;
    return out;
  }
};

#define CHECK_WRITE_OK(expr)                                                                       \
  do {                                                                                             \
    const write_status status_ = (expr);                                                           \
    INFO(#expr << ": " << std::string{to_string(status_.outcome)} << " " << status_.message);      \
    CHECK(status_.ok());                                                                           \
  } while (false)

#define REQUIRE_WRITE_OK(expr)                                                                     \
  do {                                                                                             \
    const write_status status_ = (expr);                                                           \
    INFO(#expr << ": " << std::string{to_string(status_.outcome)} << " " << status_.message);      \
    REQUIRE(status_.ok());                                                                         \
  } while (false)

// -- requests as the transformer would build them ---------------------------------------------

cpb::KeyValuePair kv(const std::string& key, const std::string& value) {
  cpb::KeyValuePair pair;
  pair.set_key(key);
  pair.set_value(value);
  return pair;
}

constexpr int dim = 8;

mpb::CreateCollectionRequest create_collection(const std::string& db, const std::string& name,
                                               bool varchar_pk) {
  spb::CollectionSchema schema;
  schema.set_name(name);
  auto* pk = schema.add_fields();
  pk->set_fieldid(100);
  pk->set_name("pk");
  pk->set_is_primary_key(true);
  if (varchar_pk) {
    pk->set_data_type(spb::VarChar);
    *pk->add_type_params() = kv("max_length", "64");
  } else {
    pk->set_data_type(spb::Int64);
  }
  auto* vec = schema.add_fields();
  vec->set_fieldid(101);
  vec->set_name("v");
  vec->set_data_type(spb::FloatVector);
  *vec->add_type_params() = kv("dim", std::to_string(dim));
  mpb::CreateCollectionRequest request;
  request.set_db_name(db);
  request.set_collection_name(name);
  request.set_schema(schema.SerializeAsString());
  request.set_shards_num(1);
  request.set_consistency_level(cpb::Strong);
  return request;
}

spb::FieldData vectors(size_t rows, float seed) {
  spb::FieldData field;
  field.set_field_name("v");
  field.set_type(spb::FloatVector);
  field.mutable_vectors()->set_dim(dim);
  auto* data = field.mutable_vectors()->mutable_float_vector()->mutable_data();
  for (size_t i = 0; i < rows * dim; ++i)
    data->Add(seed + static_cast<float>(i % 97) / 97.0f);
  return field;
}

mpb::InsertRequest int64_rows(const std::string& db, const std::string& collection, int64_t first,
                              int64_t count, float seed = 0.0f) {
  mpb::InsertRequest request;
  request.set_db_name(db);
  request.set_collection_name(collection);
  auto* pk = request.add_fields_data();
  pk->set_field_name("pk");
  pk->set_type(spb::Int64);
  for (int64_t k = first; k < first + count; ++k)
    pk->mutable_scalars()->mutable_long_data()->add_data(k);
  *request.add_fields_data() = vectors(static_cast<size_t>(count), seed);
  request.set_num_rows(static_cast<uint32_t>(count));
  return request;
}

mpb::InsertRequest varchar_rows(const std::string& db, const std::string& collection,
                                const std::vector<std::string>& keys) {
  mpb::InsertRequest request;
  request.set_db_name(db);
  request.set_collection_name(collection);
  auto* pk = request.add_fields_data();
  pk->set_field_name("pk");
  pk->set_type(spb::VarChar);
  for (const auto& k : keys)
    pk->mutable_scalars()->mutable_string_data()->add_data(k);
  *request.add_fields_data() = vectors(keys.size(), 0.5f);
  request.set_num_rows(static_cast<uint32_t>(keys.size()));
  return request;
}

mpb::UpsertRequest upsert_of(const mpb::InsertRequest& insert) {
  mpb::UpsertRequest request;
  request.set_db_name(insert.db_name());
  request.set_collection_name(insert.collection_name());
  *request.mutable_fields_data() = insert.fields_data();
  request.set_num_rows(insert.num_rows());
  return request;
}

mpb::DeleteRequest delete_where(const std::string& db, const std::string& collection,
                                const std::string& expr) {
  mpb::DeleteRequest request;
  request.set_db_name(db);
  request.set_collection_name(collection);
  request.set_expr(expr);
  return request;
}

mpb::CreateIndexRequest vector_index(const std::string& db, const std::string& collection) {
  mpb::CreateIndexRequest request;
  request.set_db_name(db);
  request.set_collection_name(collection);
  request.set_field_name("v");
  request.set_index_name("v_idx");
  *request.add_extra_params() = kv("index_type", "AUTOINDEX");
  *request.add_extra_params() = kv("metric_type", "L2");
  *request.add_extra_params() = kv("params", "{}");
  return request;
}

template <class Request>
Request named(const std::string& db, const std::string& collection) {
  Request request;
  request.set_db_name(db);
  request.set_collection_name(collection);
  return request;
}

mpb::CreateDatabaseRequest create_db(const std::string& db) {
  mpb::CreateDatabaseRequest request;
  request.set_db_name(db);
  return request;
}

mpb::DropDatabaseRequest drop_db(const std::string& db) {
  mpb::DropDatabaseRequest request;
  request.set_db_name(db);
  return request;
}

template <class Request>
Request partition(const std::string& db, const std::string& collection, const std::string& name) {
  auto request = named<Request>(db, collection);
  request.set_partition_name(name);
  return request;
}

// -- checking through the stub directly -------------------------------------------------------

/// Reads the target directly (the writer has no Query): count(*) with Strong consistency,
/// retried while the collection is still loading.
class checker {
public:
  explicit checker(const target_params& params) : params_(params) {
    std::string error;
    auto channel = open_channel(params, error);
    if (!channel)
      throw std::runtime_error(error);
    stub_ = mpb::MilvusService::NewStub(channel);
  }

  /// One count(*) query; nullopt (with `why`) when the target cannot answer it yet.
  std::optional<int64_t> try_count(const std::string& db, const std::string& collection,
                                   const std::string& expr, cpb::ConsistencyLevel level,
                                   std::string& why) {
    mpb::QueryRequest request;
    request.set_db_name(db);
    request.set_collection_name(collection);
    request.set_expr(expr);
    request.add_output_fields("count(*)");
    request.set_consistency_level(level);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 20s);
    authorize(context, params_);
    context.AddMetadata("dbname", db);
    mpb::QueryResults results;
    auto status = stub_->Query(&context, request, &results);
    if (status.ok() && succeeded(results.status()) && results.fields_data_size() > 0 &&
        results.fields_data(0).scalars().long_data().data_size() > 0)
      return results.fields_data(0).scalars().long_data().data(0);
    why = status.ok() ? results.status().reason() : status.error_message();
    return std::nullopt;
  }

  /// count(*), retried while the collection is still loading (at most 90 s).
  int64_t count(const std::string& db, const std::string& collection, const std::string& expr,
                cpb::ConsistencyLevel level = cpb::Strong) {
    auto until = std::chrono::steady_clock::now() + 90s;
    std::string why;
    while (std::chrono::steady_clock::now() < until) {
      if (auto n = try_count(db, collection, expr, level, why))
        return *n;
      std::this_thread::sleep_for(300ms);
    }
    throw std::runtime_error("count(*) of " + db + "." + collection + " failed for 90 s: " + why);
  }

  /// The id of a partition, from ShowPartitions.
  int64_t partition_id(const std::string& db, const std::string& collection,
                       const std::string& name) {
    mpb::ShowPartitionsRequest request;
    request.set_db_name(db);
    request.set_collection_name(collection);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 20s);
    authorize(context, params_);
    context.AddMetadata("dbname", db);
    mpb::ShowPartitionsResponse response;
    auto status = stub_->ShowPartitions(&context, request, &response);
    if (!status.ok() || !succeeded(response.status()))
      throw std::runtime_error("ShowPartitions failed: " + status.error_message() +
                               response.status().reason());
    for (int i = 0; i < response.partition_names_size(); ++i)
      if (response.partition_names(i) == name)
        return response.partitionids(i);
    throw std::runtime_error("no partition " + name);
  }

private:
  target_params params_;
  std::unique_ptr<mpb::MilvusService::Stub> stub_;
};

/// A port on 127.0.0.1 where nothing listens.
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// -- the api scenario, the same on every target -----------------------------------------------

/// Creates, writes, indexes, loads, flushes, checks counts and drops, twice where a replay
/// would repeat a call; `real_milvus` is false for milvus-lite, which answers some repeats
/// differently.
void api_scenario(const std::string& uri, bool real_milvus) {
  latencies lat;
  target_writer writer{params_for(uri)};
  checker check{params_for(uri)};
  const auto db = unique("tw_db_");
  const std::string items = "items";
  const std::string docs = "docs";

  // databases
  REQUIRE_WRITE_OK(lat(writer.create_database(create_db(db))));
  {
    auto again = writer.create_database(create_db(db));
    lat(again);
    INFO(again.message);
    CHECK(again.ok());
    CHECK(again.outcome == write_outcome::already_existed);
    CHECK(again.milvus_code != 0);
  }
  auto dbs = writer.list_databases();
  lat(dbs.status);
  REQUIRE(dbs.ok());
  CHECK(std::find(dbs.value.begin(), dbs.value.end(), db) != dbs.value.end());

  // an int64-key collection with a partition
  REQUIRE_WRITE_OK(lat(writer.create_collection(create_collection(db, items, false))));
  {
    auto again = writer.create_collection(create_collection(db, items, false));
    lat(again);
    INFO(again.message);
    CHECK(again.ok());
    // Milvus 2.3 answers success for the same schema; milvus-lite says "already exists".
    CHECK(again.outcome == (real_milvus ? write_outcome::applied : write_outcome::already_existed));
  }
  auto has = writer.has_collection(named<mpb::HasCollectionRequest>(db, items));
  lat(has.status);
  CHECK(has.ok());
  CHECK(has.value);
  auto described = writer.describe_collection(named<mpb::DescribeCollectionRequest>(db, items));
  lat(described.status);
  REQUIRE(described.ok());
  CHECK(described.value.schema().fields_size() >= 2);
  auto missing = writer.describe_collection(named<mpb::DescribeCollectionRequest>(db, "nope"));
  CHECK_FALSE(missing.ok());
  CHECK_FALSE(missing.status.retryable);
  CHECK(missing.status.milvus_code == 100);

  CHECK_WRITE_OK(
      lat(writer.create_partition(partition<mpb::CreatePartitionRequest>(db, items, "p1"))));
  {
    auto again = writer.create_partition(partition<mpb::CreatePartitionRequest>(db, items, "p1"));
    lat(again);
    INFO(again.message);
    CHECK(again.ok());
    CHECK(again.outcome == (real_milvus ? write_outcome::applied : write_outcome::already_existed));
  }
  auto has_p = writer.has_partition(partition<mpb::HasPartitionRequest>(db, items, "p1"));
  lat(has_p.status);
  CHECK(has_p.ok());
  CHECK(has_p.value);

  // rows: 100 inserted, 10 of them upserted, 5 deleted
  auto inserted = writer.insert(int64_rows(db, items, 0, 100));
  lat(inserted.status);
  REQUIRE_WRITE_OK(inserted.status);
  CHECK(inserted.value.insert_cnt() == 100);
  auto upserted = writer.upsert(upsert_of(int64_rows(db, items, 0, 10, 7.0f)));
  lat(upserted.status);
  REQUIRE_WRITE_OK(upserted.status);
  CHECK(upserted.value.upsert_cnt() == 10);
  auto deleted = writer.delete_rows(delete_where(db, items, "pk in [90,91,92,93,94]"));
  lat(deleted.status);
  REQUIRE_WRITE_OK(deleted.status);

  REQUIRE_WRITE_OK(lat(writer.create_index(vector_index(db, items))));
  {
    auto again = writer.create_index(vector_index(db, items));
    lat(again);
    INFO(again.message);
    CHECK(again.ok());
    CHECK(again.outcome == (real_milvus ? write_outcome::applied : write_outcome::already_existed));
  }
  REQUIRE_WRITE_OK(lat(writer.load_collection(named<mpb::LoadCollectionRequest>(db, items))));
  mpb::FlushRequest flush;
  flush.set_db_name(db);
  flush.add_collection_names(items);
  auto flushed = writer.flush(flush);
  lat(flushed.status);
  CHECK_WRITE_OK(flushed.status);
  CHECK(check.count(db, items, "pk >= 0") == 95);

  // a VarChar-key collection: delete with quoted keys
  REQUIRE_WRITE_OK(lat(writer.create_collection(create_collection(db, docs, true))));
  auto docs_in = writer.insert(varchar_rows(db, docs, {"a", "b", "c", "d", "e", "f"}));
  lat(docs_in.status);
  REQUIRE_WRITE_OK(docs_in.status);
  auto docs_up = writer.upsert(upsert_of(varchar_rows(db, docs, {"a", "b"})));
  lat(docs_up.status);
  REQUIRE_WRITE_OK(docs_up.status);
  auto docs_del = writer.delete_rows(delete_where(db, docs, R"(pk in ["c","d"])"));
  lat(docs_del.status);
  REQUIRE_WRITE_OK(docs_del.status);
  REQUIRE_WRITE_OK(lat(writer.create_index(vector_index(db, docs))));
  REQUIRE_WRITE_OK(lat(writer.load_collection(named<mpb::LoadCollectionRequest>(db, docs))));
  CHECK(check.count(db, docs, R"(pk != "")") == 4);

  // load/release of partitions, then release, drop index, drop partition: twice each
  auto release_p = named<mpb::ReleasePartitionsRequest>(db, items);
  release_p.add_partition_names("p1");
  auto load_p = named<mpb::LoadPartitionsRequest>(db, items);
  load_p.add_partition_names("p1");
  CHECK_WRITE_OK(lat(writer.release_collection(named<mpb::ReleaseCollectionRequest>(db, items))));
  if (real_milvus) {
    CHECK_WRITE_OK(lat(writer.load_partitions(load_p)));
    CHECK_WRITE_OK(lat(writer.release_partitions(release_p)));
  } else {
    // milvus-lite has no partition-level load/release: UNIMPLEMENTED, a configuration error
    for (const auto& refused :
         {lat(writer.load_partitions(load_p)), lat(writer.release_partitions(release_p))}) {
      INFO(refused.message);
      CHECK_FALSE(refused.ok());
      CHECK(refused.configuration);
      CHECK(refused.grpc_code == static_cast<int>(grpc::StatusCode::UNIMPLEMENTED));
    }
  }
  CHECK_WRITE_OK(lat(writer.release_collection(named<mpb::ReleaseCollectionRequest>(db, items))));
  mpb::DropIndexRequest drop_index = named<mpb::DropIndexRequest>(db, items);
  drop_index.set_field_name("v");
  drop_index.set_index_name("v_idx");
  CHECK_WRITE_OK(lat(writer.drop_index(drop_index)));
  {
    auto again = writer.drop_index(drop_index);
    lat(again);
    INFO(again.message);
    CHECK(again.ok());
  }
  CHECK_WRITE_OK(lat(writer.drop_partition(partition<mpb::DropPartitionRequest>(db, items, "p1"))));
  {
    auto again = writer.drop_partition(partition<mpb::DropPartitionRequest>(db, items, "p1"));
    lat(again);
    INFO(again.message);
    CHECK(again.ok());
    CHECK(again.outcome == (real_milvus ? write_outcome::applied : write_outcome::did_not_exist));
  }

  // drops, twice
  for (const auto& name : {items, docs}) {
    CHECK_WRITE_OK(lat(writer.drop_collection(named<mpb::DropCollectionRequest>(db, name))));
    auto again = writer.drop_collection(named<mpb::DropCollectionRequest>(db, name));
    lat(again);
    INFO(again.message);
    CHECK(again.ok());
  }
  auto gone = writer.has_collection(named<mpb::HasCollectionRequest>(db, items));
  CHECK(gone.ok());
  CHECK_FALSE(gone.value);
  // a partition of a dropped collection: nothing to drop
  {
    auto again = writer.drop_partition(partition<mpb::DropPartitionRequest>(db, items, "p1"));
    lat(again);
    INFO(again.message);
    CHECK(again.ok());
    CHECK(again.outcome == write_outcome::did_not_exist);
  }
  CHECK_WRITE_OK(lat(writer.drop_database(drop_db(db))));
  {
    auto again = writer.drop_database(drop_db(db));
    lat(again);
    INFO(again.message);
    CHECK(again.ok());
    CHECK(again.outcome == (real_milvus ? write_outcome::applied : write_outcome::did_not_exist));
  }
  MESSAGE("call latencies against "
          << uri << std::string{real_milvus ? " (Milvus 2.3.5)" : " (milvus-lite)"} << ":\n"
          << lat.summary());
}

/// A ReplicateMessage with one TimeTick at `now` on a physical channel of the standby. The
/// standby's datanode waits for one on the channel of every collection created there, and
/// while it waits it watches no other channel (Milvus 2.3.5): a test that creates a collection
/// on the shared standby sends one after it, also when it drops the collection right away.
write_result<mpb::ReplicateMessageResponse> tick_channel(target_writer& writer,
                                                         const std::string& pchannel) {
  msgpb::TimeTickMsg tick;
  tick.mutable_base()->set_msg_type(cpb::TimeTick);
  tick.mutable_base()->set_timestamp(hybrid_now());
  mpb::ReplicateMessageRequest request;
  mark_replicated(request, tick.base().timestamp());
  request.set_channel_name(pchannel);
  request.set_begints(tick.base().timestamp());
  request.set_endts(tick.base().timestamp());
  request.add_msgs(tick.SerializeAsString());
  return writer.replicate_message(request);
}

} // namespace

TEST_CASE("target_writer_api_mode_on_the_normal_milvus_target") {
  api_scenario(required_env("TARGET_MILVUS_URI"), true);
}

TEST_CASE("target_writer_api_mode_on_milvus_lite") {
  api_scenario(required_env("LITE_URI"), false);
}

TEST_CASE("target_writer_rename_alias_and_alter_on_the_normal_milvus_target") {
  // What a rename or an alias of the source becomes on the target (Milvus 2.4/2.5 write
  // records of them; for 2.3.5 the server follows the names Inserts/Deletes carry).
  const auto uri = required_env("TARGET_MILVUS_URI");
  target_writer writer{params_for(uri)};
  const std::string db = "default";
  const auto first = unique("tw_rename_a_");
  const auto renamed = first + "_b";
  const auto other = unique("tw_rename_c_");
  const auto alias = unique("tw_alias_");
  latencies lat;
  REQUIRE_WRITE_OK(lat(writer.create_collection(create_collection(db, first, false))));
  REQUIRE_WRITE_OK(lat(writer.create_collection(create_collection(db, other, false))));
  auto id_of = [&](const std::string& name) {
    auto described = writer.describe_collection(named<mpb::DescribeCollectionRequest>(db, name));
    INFO(name << ": " << described.status.message);
    REQUIRE(described.ok());
    return described.value.collectionid();
  };
  const auto first_id = id_of(first);
  const auto other_id = id_of(other);

  mpb::RenameCollectionRequest rename;
  rename.set_db_name(db);
  rename.set_oldname(first);
  rename.set_newname(renamed);
  REQUIRE_WRITE_OK(lat(writer.rename_collection(rename)));
  CHECK(id_of(renamed) == first_id);
  auto has_old = writer.has_collection(named<mpb::HasCollectionRequest>(db, first));
  REQUIRE(has_old.ok());
  CHECK_FALSE(has_old.value);
  // Applied again (a replay): the old name is gone, nothing to do.
  auto rename_again = writer.rename_collection(rename);
  lat(rename_again);
  INFO(rename_again.message);
  CHECK(rename_again.ok());
  CHECK(rename_again.outcome == write_outcome::did_not_exist);

  mpb::CreateAliasRequest create_alias;
  create_alias.set_db_name(db);
  create_alias.set_collection_name(renamed);
  create_alias.set_alias(alias);
  REQUIRE_WRITE_OK(lat(writer.create_alias(create_alias)));
  CHECK(id_of(alias) == first_id);
  auto alias_again = writer.create_alias(create_alias);
  lat(alias_again);
  INFO(alias_again.message);
  CHECK(alias_again.ok());

  mpb::AlterAliasRequest alter_alias;
  alter_alias.set_db_name(db);
  alter_alias.set_collection_name(other);
  alter_alias.set_alias(alias);
  REQUIRE_WRITE_OK(lat(writer.alter_alias(alter_alias)));
  CHECK(id_of(alias) == other_id);

  mpb::AlterCollectionRequest alter;
  alter.set_db_name(db);
  alter.set_collection_name(other);
  *alter.add_properties() = kv("collection.ttl.seconds", "3600");
  REQUIRE_WRITE_OK(lat(writer.alter_collection(alter)));
  auto described = writer.describe_collection(named<mpb::DescribeCollectionRequest>(db, other));
  REQUIRE(described.ok());
  bool has_ttl = false;
  for (const auto& property : described.value.properties())
    has_ttl = has_ttl || (property.key() == "collection.ttl.seconds" && property.value() == "3600");
  CHECK(has_ttl);

  mpb::DropAliasRequest drop_alias;
  drop_alias.set_db_name(db);
  drop_alias.set_alias(alias);
  REQUIRE_WRITE_OK(lat(writer.drop_alias(drop_alias)));
  auto via_alias = writer.describe_collection(named<mpb::DescribeCollectionRequest>(db, alias));
  CHECK_FALSE(via_alias.ok());
  auto drop_alias_again = writer.drop_alias(drop_alias);
  lat(drop_alias_again);
  INFO(drop_alias_again.message);
  CHECK(drop_alias_again.ok());

  CHECK_WRITE_OK(lat(writer.drop_collection(named<mpb::DropCollectionRequest>(db, renamed))));
  CHECK_WRITE_OK(lat(writer.drop_collection(named<mpb::DropCollectionRequest>(db, other))));
  MESSAGE("rename, alias and alter on " << uri << ":\n" << lat.summary());
}

TEST_CASE("target_writer_users_and_roles_on_the_normal_milvus_target") {
  const auto uri = required_env("TARGET_MILVUS_URI");
  // Authorization is off on the harness Milvus; any token is accepted, and OperatePrivilege
  // needs one (see below).
  target_writer writer{params_for(uri, "root:Milvus")};
  const auto user = unique("tw_user_");
  const auto role = unique("tw_role_");
  latencies lat;

  mpb::CreateCredentialRequest create_user;
  create_user.set_username(user);
  create_user.set_password(base64_encode("password1"));
  REQUIRE_WRITE_OK(lat(writer.create_credential(create_user)));
  auto again = writer.create_credential(create_user);
  lat(again);
  CHECK(again.ok());
  CHECK(again.outcome == write_outcome::already_existed);

  mpb::UpdateCredentialRequest update_user;
  update_user.set_username(user);
  update_user.set_oldpassword(base64_encode("password1"));
  update_user.set_newpassword(base64_encode("password2"));
  CHECK_WRITE_OK(lat(writer.update_credential(update_user)));

  mpb::CreateRoleRequest create_role;
  create_role.mutable_entity()->set_name(role);
  REQUIRE_WRITE_OK(lat(writer.create_role(create_role)));
  auto role_again = writer.create_role(create_role);
  lat(role_again);
  CHECK(role_again.ok());
  CHECK(role_again.outcome == write_outcome::already_existed);

  mpb::OperateUserRoleRequest add;
  add.set_username(user);
  add.set_role_name(role);
  add.set_type(mpb::AddUserToRole);
  CHECK_WRITE_OK(lat(writer.operate_user_role(add)));

  mpb::OperatePrivilegeRequest grant;
  grant.mutable_entity()->mutable_role()->set_name(role);
  grant.mutable_entity()->mutable_object()->set_name("Collection");
  grant.mutable_entity()->set_object_name("*");
  grant.mutable_entity()->set_db_name("default");
  grant.mutable_entity()->mutable_grantor()->mutable_privilege()->set_name("Load");
  grant.set_type(mpb::Grant);
  CHECK_WRITE_OK(lat(writer.operate_privilege(grant)));
  {
    // Milvus 2.3.5 takes the grantor from the authorization metadata, even with
    // authorization disabled: without a token the grant fails (not retryable).
    target_writer anonymous{params_for(uri)};
    auto refused = anonymous.operate_privilege(grant);
    lat(refused);
    INFO(refused.message);
    CHECK_FALSE(refused.ok());
    CHECK_FALSE(refused.retryable);
  }
  auto revoke = grant;
  revoke.set_type(mpb::Revoke);
  CHECK_WRITE_OK(lat(writer.operate_privilege(revoke)));

  auto remove = add;
  remove.set_type(mpb::RemoveUserFromRole);
  CHECK_WRITE_OK(lat(writer.operate_user_role(remove)));

  mpb::DropRoleRequest drop_role;
  drop_role.set_role_name(role);
  CHECK_WRITE_OK(lat(writer.drop_role(drop_role)));
  auto drop_again = writer.drop_role(drop_role);
  lat(drop_again);
  INFO(drop_again.message);
  CHECK(drop_again.ok());
  CHECK(drop_again.outcome == write_outcome::did_not_exist);

  mpb::DeleteCredentialRequest drop_user;
  drop_user.set_username(user);
  CHECK_WRITE_OK(lat(writer.delete_credential(drop_user)));
  CHECK_WRITE_OK(lat(writer.delete_credential(drop_user)));
  MESSAGE("users and roles on " << uri << ":\n" << lat.summary());
}

TEST_CASE("target_writer_replicate_message_to_the_normal_target_names_tt_msg_enabled") {
  target_writer writer{params_for(required_env("TARGET_MILVUS_URI"))};
  mpb::ReplicateMessageRequest request;
  mark_replicated(request, hybrid_now());
  request.set_channel_name("target-rootcoord-dml_0");
  auto refused = writer.replicate_message(request);
  INFO(refused.status.message);
  CHECK_FALSE(refused.ok());
  CHECK(refused.status.configuration);
  CHECK_FALSE(refused.status.retryable);
  CHECK(refused.status.attempts == 1);
  CHECK(refused.status.milvus_code == 1900);
  CHECK(refused.status.message.find("common.ttMsgEnabled=false") != std::string::npos);
  CHECK(refused.status.message.find("target_mode replicate") != std::string::npos);
  CHECK(refused.status.message.find("deny to use the replicate message in the normal instance") !=
        std::string::npos);

  auto probe = writer.check_replicate_target();
  CHECK_FALSE(probe.ok());
  CHECK(probe.configuration);
  CHECK(probe.message.find("common.ttMsgEnabled") != std::string::npos);
}

TEST_CASE("target_writer_replicate_mode_on_the_standby") {
  target_writer writer{params_for(required_env("STANDBY_MILVUS_URI"))};

  // an empty ReplicateMessage: the standby answers "empty msgs", i.e. it takes the RPC
  mpb::ReplicateMessageRequest empty;
  mark_replicated(empty, hybrid_now());
  empty.set_channel_name("standby-rootcoord-dml_0");
  auto accepted = writer.replicate_message(empty);
  INFO(accepted.status.message);
  CHECK(accepted.ok());
  CHECK(accepted.status.outcome == write_outcome::applied);
  CHECK(accepted.status.message.find("empty msgs") != std::string::npos);
  auto probe = writer.check_replicate_target("standby-replicate-msg");
  INFO(probe.message);
  CHECK(probe.ok());
  CHECK(probe.message.find("position of standby-replicate-msg") != std::string::npos);

  // DDL with replicateInfo through the normal RPCs
  const auto db = unique("tw_rep_");
  auto create = create_db(db);
  mark_replicated(create, hybrid_now());
  REQUIRE_WRITE_OK(writer.create_database(create));
  auto collection = create_collection(db, "items", false);
  mark_replicated(collection, hybrid_now());
  REQUIRE_WRITE_OK(writer.create_collection(collection));
  auto index = vector_index(db, "items");
  mark_replicated(index, hybrid_now());
  CHECK_WRITE_OK(writer.create_index(index));

  // a normal Insert on the standby: refused, a configuration error
  auto insert = writer.insert(int64_rows(db, "items", 0, 3));
  INFO(insert.status.message);
  CHECK_FALSE(insert.ok());
  CHECK(insert.status.configuration);
  CHECK(insert.status.attempts == 1);
  CHECK(insert.status.message.find("common.ttMsgEnabled=false") != std::string::npos);

  auto described = writer.describe_collection(named<mpb::DescribeCollectionRequest>(db, "items"));
  REQUIRE(described.ok());
  auto drop = named<mpb::DropCollectionRequest>(db, "items");
  mark_replicated(drop, hybrid_now());
  CHECK_WRITE_OK(writer.drop_collection(drop));
  auto drop_database = drop_db(db);
  mark_replicated(drop_database, hybrid_now());
  CHECK_WRITE_OK(writer.drop_database(drop_database));
  for (const auto& pchannel : described.value.physical_channel_names())
    CHECK_WRITE_OK(tick_channel(writer, pchannel).status);
}

TEST_CASE("target_writer_replicate_message_writes_rows_visible_on_the_standby") {
  const auto uri = required_env("STANDBY_MILVUS_URI");
  target_writer writer{params_for(uri)};
  checker check{params_for(uri)};
  const auto db = unique("tw_rmsg_");
  const std::string name = "items";
  auto create_database = create_db(db);
  REQUIRE_WRITE_OK(writer.create_database(mark_replicated(create_database, hybrid_now())));
  auto create = create_collection(db, name, false);
  REQUIRE_WRITE_OK(writer.create_collection(mark_replicated(create, hybrid_now())));
  auto index = vector_index(db, name);
  REQUIRE_WRITE_OK(writer.create_index(mark_replicated(index, hybrid_now())));
  auto load = named<mpb::LoadCollectionRequest>(db, name);
  REQUIRE_WRITE_OK(writer.load_collection(mark_replicated(load, hybrid_now())));
  auto described = writer.describe_collection(named<mpb::DescribeCollectionRequest>(db, name));
  REQUIRE(described.ok());
  REQUIRE(described.value.virtual_channel_names_size() == 1);
  const auto vchannel = described.value.virtual_channel_names(0);
  const auto pchannel = described.value.physical_channel_names(0);
  const auto partition_id = check.partition_id(db, name, "_default");

  // A standby makes a batch visible (and finishes loading) only when a later TimeTick
  // arrived: tick every 200 ms, as the writer does when the source is idle, until the count
  // is right. Returns the count and the time it took.
  auto tick_until = [&](int64_t expected) {
    const auto started = std::chrono::steady_clock::now();
    auto until = started + 60s;
    std::optional<int64_t> got;
    std::string why;
    int ticks = 0;
    while (std::chrono::steady_clock::now() < until) {
      got = check.try_count(db, name, "pk >= 0", cpb::Eventually, why);
      if (got == expected)
        break;
      auto ticked = tick_channel(writer, pchannel);
      REQUIRE(ticked.ok());
      ++ticks;
      std::this_thread::sleep_for(200ms);
    }
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    MESSAGE("count " << (got ? std::to_string(*got) : "unavailable: " + why) << " after " << ticks
                     << " extra TimeTicks, " << took.count() << " ms");
    return got.value_or(-1);
  };
  REQUIRE(tick_until(0) == 0); // loaded

  // What the transformer sends: an Insert with the standby's ids and shard, then a TimeTick
  // past it so that the standby makes the rows visible.
  const int64_t rows = 50;
  const uint64_t insert_ts = hybrid_now();
  msgpb::InsertRequest insert;
  insert.mutable_base()->set_msg_type(cpb::Insert);
  insert.mutable_base()->set_timestamp(insert_ts);
  insert.set_shardname(vchannel);
  insert.set_db_name(db);
  insert.set_collection_name(name);
  insert.set_partition_name("_default");
  insert.set_collectionid(described.value.collectionid());
  insert.set_partitionid(partition_id);
  auto data = int64_rows(db, name, 0, rows);
  for (int f = 0; f < data.fields_data_size(); ++f) {
    auto* field = insert.add_fields_data();
    *field = data.fields_data(f);
    for (const auto& schema_field : described.value.schema().fields())
      if (schema_field.name() == field->field_name())
        field->set_field_id(schema_field.fieldid());
  }
  for (int64_t k = 0; k < rows; ++k) {
    insert.add_timestamps(insert_ts);
    insert.add_rowids(k);
  }
  insert.set_num_rows(static_cast<uint64_t>(rows));
  insert.set_version(msgpb::ColumnBased);
  std::this_thread::sleep_for(5ms);
  const uint64_t tick_ts = hybrid_now();
  msgpb::TimeTickMsg tick;
  tick.mutable_base()->set_msg_type(cpb::TimeTick);
  tick.mutable_base()->set_timestamp(tick_ts);

  mpb::ReplicateMessageRequest request;
  mark_replicated(request, tick_ts);
  request.set_channel_name(pchannel);
  request.set_begints(insert_ts);
  request.set_endts(tick_ts);
  request.add_msgs(insert.SerializeAsString());
  request.add_msgs(tick.SerializeAsString());
  const auto sent = std::chrono::steady_clock::now();
  auto replicated = writer.replicate_message(request);
  INFO(replicated.status.message);
  REQUIRE(replicated.ok());
  CHECK_FALSE(replicated.value.position().empty());
  CHECK(tick_until(rows) == rows);
  const auto visible = std::chrono::steady_clock::now() - sent;

  // a Delete of 10 keys, then a TimeTick
  const uint64_t delete_ts = hybrid_now();
  msgpb::DeleteRequest remove;
  remove.mutable_base()->set_msg_type(cpb::Delete);
  remove.mutable_base()->set_timestamp(delete_ts);
  remove.set_shardname(vchannel);
  remove.set_db_name(db);
  remove.set_collection_name(name);
  remove.set_collectionid(described.value.collectionid());
  remove.set_partitionid(-1);
  for (int64_t k = 0; k < 10; ++k) {
    remove.mutable_primary_keys()->mutable_int_id()->add_data(k);
    remove.add_timestamps(delete_ts);
  }
  remove.set_num_rows(10);
  std::this_thread::sleep_for(5ms);
  tick.mutable_base()->set_timestamp(hybrid_now());
  mpb::ReplicateMessageRequest second;
  mark_replicated(second, tick.base().timestamp());
  second.set_channel_name(pchannel);
  second.set_begints(delete_ts);
  second.set_endts(tick.base().timestamp());
  second.add_msgs(remove.SerializeAsString());
  second.add_msgs(tick.SerializeAsString());
  auto deleted = writer.replicate_message(second);
  INFO(deleted.status.message);
  REQUIRE(deleted.ok());
  CHECK(tick_until(rows - 10) == rows - 10);

  MESSAGE("ReplicateMessage (Insert of "
          << rows << " rows + TimeTick) took " << replicated.status.elapsed.count() / 1000.0
          << " ms; rows visible on the standby after "
          << std::chrono::duration_cast<std::chrono::milliseconds>(visible).count()
          << " ms; position " << replicated.value.position());

  auto release = named<mpb::ReleaseCollectionRequest>(db, name);
  CHECK_WRITE_OK(writer.release_collection(mark_replicated(release, hybrid_now())));
  auto drop = named<mpb::DropCollectionRequest>(db, name);
  CHECK_WRITE_OK(writer.drop_collection(mark_replicated(drop, hybrid_now())));
  auto drop_database = drop_db(db);
  CHECK_WRITE_OK(writer.drop_database(mark_replicated(drop_database, hybrid_now())));
  CHECK_WRITE_OK(tick_channel(writer, pchannel).status);
}

TEST_CASE("target_writer_replicate_message_on_milvus_lite_is_a_configuration_error") {
  target_writer writer{params_for(required_env("LITE_URI"))};
  auto probe = writer.check_replicate_target();
  INFO(probe.message);
  CHECK_FALSE(probe.ok());
  CHECK(probe.configuration);
  CHECK(probe.grpc_code == static_cast<int>(grpc::StatusCode::UNIMPLEMENTED));
  CHECK(probe.attempts == 1);
}

TEST_CASE("target_writer_unreachable_target_is_retryable_after_n_attempts_with_backoff") {
  writer_options options;
  options.max_attempts = 3;
  options.base_delay = 200ms;
  options.max_delay = 300ms;
  options.connect_timeout = 300ms;
  const auto uri = "http://127.0.0.1:" + std::to_string(closed_port());
  target_writer writer{params_for(uri), options};
  auto started = std::chrono::steady_clock::now();
  auto status = writer.create_database(create_db("never"));
  auto took = std::chrono::steady_clock::now() - started;
  INFO(status.message);
  CHECK_FALSE(status.ok());
  CHECK(status.retryable);
  CHECK(status.retries_exhausted);
  CHECK(status.attempts == 3);
  CHECK(status.grpc_code == static_cast<int>(grpc::StatusCode::UNAVAILABLE));
  CHECK(status.message.find("after 3 attempts") != std::string::npos);
  CHECK(status.message.find(uri) != std::string::npos);
  // 3 connect waits of 300 ms, backoff 200 ms then 300 ms (capped): 1 400 ms. CI measured
  // 1 404 ms, and gRPC's connect deadline may fire a little early: the bound leaves 100 ms of
  // slack, still far above the 900 ms that three connect waits without backoff would take.
  CHECK(took >= 1300ms);
  CHECK(took < 5s);
  MESSAGE(
      "unreachable target: " << status.message << " in "
                             << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                             << " ms");
}

TEST_CASE("target_writer_call_deadline_and_insert_retried_as_upsert") {
  const auto uri = required_env("TARGET_MILVUS_URI");
  target_writer setup{params_for(uri)};
  const auto db = unique("tw_deadline_");
  REQUIRE_WRITE_OK(setup.create_database(create_db(db)));
  REQUIRE_WRITE_OK(setup.create_collection(create_collection(db, "items", false)));
  // Right after create, a Flush may be refused at once ("channel not found") instead of
  // running into the deadline: wait, with a deadline, until a normal Flush succeeds.
  {
    mpb::FlushRequest ready;
    ready.set_db_name(db);
    ready.add_collection_names("items");
    auto until = std::chrono::steady_clock::now() + 60s;
    bool flushed_once = false;
    while (!flushed_once && std::chrono::steady_clock::now() < until) {
      flushed_once = setup.flush(ready).ok();
      if (!flushed_once)
        std::this_thread::sleep_for(200ms);
    }
    REQUIRE(flushed_once);
  }

  // A deadline of 0 ms has passed when the call starts: DEADLINE_EXCEEDED on every attempt,
  // whatever the target's speed (CI once saw a Flush of an empty collection answer within
  // the 1 ms this test used before). Retryable; the Insert's retry goes out as an Upsert,
  // since a first attempt that ran out of time may still have been applied.
  writer_options options;
  options.call_timeout = 0ms;
  options.max_attempts = 2;
  options.base_delay = 10ms;
  target_writer hurried{params_for(uri), options};
  mpb::FlushRequest flush;
  flush.set_db_name(db);
  flush.add_collection_names("items");
  auto flushed = hurried.flush(flush);
  INFO(flushed.status.message);
  CHECK_FALSE(flushed.ok());
  CHECK(flushed.status.retryable);
  CHECK(flushed.status.retries_exhausted);
  CHECK(flushed.status.grpc_code == static_cast<int>(grpc::StatusCode::DEADLINE_EXCEEDED));
  CHECK(flushed.status.attempts == 2);
  auto insert = hurried.insert(int64_rows(db, "items", 0, 5));
  INFO(insert.status.message);
  CHECK_FALSE(insert.ok());
  CHECK(insert.status.grpc_code == static_cast<int>(grpc::StatusCode::DEADLINE_EXCEEDED));
  CHECK(insert.status.message.find("retried as Upsert") != std::string::npos);

  CHECK_WRITE_OK(setup.drop_collection(named<mpb::DropCollectionRequest>(db, "items")));
  CHECK_WRITE_OK(setup.drop_database(drop_db(db)));
}

TEST_CASE("target_writer_request_above_the_size_limit_is_not_retried") {
  const auto uri = required_env("TARGET_MILVUS_URI");
  target_writer writer{params_for(uri)};
  const auto db = unique("tw_big_");
  REQUIRE_WRITE_OK(writer.create_database(create_db(db)));
  REQUIRE_WRITE_OK(writer.create_collection(create_collection(db, "items", false)));
  // 80 MB of vectors: above the 64 MiB the Milvus proxy accepts by default
  const int64_t rows = 80'000'000 / (dim * 4);
  auto big = writer.insert(int64_rows(db, "items", 0, rows));
  INFO(big.status.message);
  CHECK_FALSE(big.ok());
  CHECK_FALSE(big.status.retryable);
  CHECK(big.status.attempts == 1);
  CHECK(big.status.grpc_code == static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  MESSAGE(big.status.message);
  CHECK_WRITE_OK(writer.drop_collection(named<mpb::DropCollectionRequest>(db, "items")));
  CHECK_WRITE_OK(writer.drop_database(drop_db(db)));
}

TEST_CASE("target_writer_cancel_stops_the_retries") {
  writer_options options;
  options.max_attempts = 100;
  options.base_delay = 1s;
  options.connect_timeout = 200ms;
  target_writer writer{params_for("http://127.0.0.1:" + std::to_string(closed_port())), options};
  auto started = std::chrono::steady_clock::now();
  auto canceller = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(500ms);
    writer.cancel();
  });
  auto status = writer.drop_database(drop_db("never"));
  auto took = std::chrono::steady_clock::now() - started;
  canceller.get();
  INFO(status.message);
  CHECK_FALSE(status.ok());
  CHECK_FALSE(status.retryable);
  CHECK(status.message.find("cancelled") != std::string::npos);
  CHECK(took < 2s);
  auto later = writer.create_database(create_db("never"));
  CHECK_FALSE(later.ok());
  CHECK(later.attempts == 1);
}

// Last: it restarts milvus-lite with the harness (same port, same data).
TEST_CASE("target_writer_retries_until_a_restarted_target_answers") {
  const auto uri = required_env("LITE_URI");
  required_env("CDC_HARNESS_DIR"); // the harness needs it
  const std::string harness = CDC_FIXTURES_DIR "/../harness/harness.sh";
  writer_options options;
  options.max_attempts = 60;
  options.base_delay = 100ms;
  options.max_delay = 500ms;
  options.connect_timeout = 500ms;
  target_writer writer{params_for(uri), options};
  const auto db = unique("tw_restart_");
  REQUIRE_WRITE_OK(writer.create_database(create_db(db)));

  REQUIRE(std::system((harness + " stop lite >/dev/null").c_str()) == 0);
  auto restarter = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(1500ms);
    return std::system((harness + " start lite >/dev/null").c_str());
  });
  auto status = writer.drop_database(drop_db(db));
  CHECK(restarter.get() == 0);
  INFO(status.message);
  CHECK(status.ok());
  CHECK(status.attempts > 1);
  MESSAGE("DropDatabase across a milvus-lite restart: "
          << std::string{to_string(status.outcome)} << " after " << status.attempts << " attempts, "
          << status.elapsed.count() / 1000 << " ms");
}
