#include "actors/writer/target_writer.hpp"

#include "actors/writer/target_client.hpp"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <string_view>
#include <utility>

namespace cdc::milvus {

namespace {

namespace mpb = ::milvus::proto::milvus;
namespace cpb = ::milvus::proto::common;
using steady = std::chrono::steady_clock;

const char* channel_state_name(grpc_connectivity_state state) {
  switch (state) {
  case GRPC_CHANNEL_IDLE:
    return "IDLE";
  case GRPC_CHANNEL_CONNECTING:
    return "CONNECTING";
  case GRPC_CHANNEL_READY:
    return "READY";
  case GRPC_CHANNEL_TRANSIENT_FAILURE:
    return "TRANSIENT_FAILURE";
  case GRPC_CHANNEL_SHUTDOWN:
    return "SHUTDOWN";
  }
  return "UNKNOWN";
}

std::string lower(std::string_view text) {
  std::string out{text};
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
// error_code is deprecated but older servers (and milvus-lite) fill only, or also, that.
int32_t legacy_code(const cpb::Status& status) {
  return status.error_code();
}
#pragma GCC diagnostic pop

/// `code`, or the legacy error_code when only that is set.
int32_t code_of(const cpb::Status& status) {
  return status.code() != 0 ? status.code() : legacy_code(status);
}

const cpb::Status& status_of(const cpb::Status& status) {
  return status;
}

template <class Response>
const cpb::Status& status_of(const Response& response) {
  return response.status();
}

// Milvus error codes (pkg/util/merr) and legacy ErrorCode values the writer reacts to.
constexpr int32_t merr_collection_not_found = 100;
constexpr int32_t merr_partition_not_found = 200;
constexpr int32_t merr_index_not_found = 700;
constexpr int32_t merr_database_not_found = 800;
constexpr int32_t merr_deny_produce = 1303;
constexpr int32_t merr_deny_replicate = 1900;

/// A Milvus answer that says the thing to drop or release is not there.
bool says_not_found(const cpb::Status& status, const std::string& reason) {
  switch (status.code()) {
  case merr_collection_not_found:
  case merr_partition_not_found:
  case merr_index_not_found:
  case merr_database_not_found:
    return true;
  default:
    break;
  }
  switch (legacy_code(status)) {
  case cpb::CollectionNotExists:
  case cpb::IndexNotExist:
  case cpb::CollectionNameNotFound:
    return true;
  default:
    break;
  }
  return contains(reason, "not found") || contains(reason, "not exist") ||
         contains(reason, "doesn't exist") || contains(reason, "isn't existed");
}

/// A Milvus answer that another try later may turn into success.
bool retryable_status(const cpb::Status& status, const std::string& reason) {
  if (status.retriable())
    return true;
  switch (legacy_code(status)) {
  case cpb::RateLimit:
  case cpb::NotReadyServe:
  case cpb::NotReadyCoordActivating:
    return true;
  default:
    break;
  }
  return contains(reason, "not ready") || contains(reason, "service unavailable") ||
         contains(reason, "rate limit") || contains(reason, "request limit exceeded");
}

std::string qualify(const std::string& db, const std::string& name) {
  return (db.empty() ? std::string{"default"} : db) + "." + name;
}

std::string database_object(const std::string& db) {
  return "database " + (db.empty() ? std::string{"default"} : db);
}

std::string collection_object(const std::string& db, const std::string& collection) {
  return "collection " + qualify(db, collection);
}

std::string partition_object(const std::string& db, const std::string& collection,
                             const std::string& partition) {
  return "partition " + qualify(db, collection) + "/" + partition;
}

std::string partitions_object(const std::string& db, const std::string& collection,
                              const google::protobuf::RepeatedPtrField<std::string>& names) {
  std::string out = "partitions " + qualify(db, collection) + "/[";
  for (int i = 0; i < names.size(); ++i)
    out += (i ? "," : "") + names[i];
  return out + "]";
}

std::string index_object(const std::string& db, const std::string& collection,
                         const std::string& index, const std::string& field) {
  std::string out = "index " + (index.empty() ? std::string{"(default name)"} : index) + " of " +
                    qualify(db, collection);
  if (!field.empty())
    out += " (field " + field + ")";
  return out;
}

mpb::UpsertRequest as_upsert(const mpb::InsertRequest& insert) {
  mpb::UpsertRequest upsert;
  if (insert.has_base())
    *upsert.mutable_base() = insert.base();
  upsert.set_db_name(insert.db_name());
  upsert.set_collection_name(insert.collection_name());
  upsert.set_partition_name(insert.partition_name());
  *upsert.mutable_fields_data() = insert.fields_data();
  *upsert.mutable_hash_keys() = insert.hash_keys();
  upsert.set_num_rows(insert.num_rows());
  upsert.set_schema_timestamp(insert.schema_timestamp());
  return upsert;
}

/// The outcome of an Insert attempt is unknown: it may have been applied.
bool ambiguous(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         status.error_code() == grpc::StatusCode::UNAVAILABLE;
}

} // namespace

const char* to_string(write_outcome outcome) {
  switch (outcome) {
  case write_outcome::applied:
    return "applied";
  case write_outcome::already_existed:
    return "already existed";
  case write_outcome::did_not_exist:
    return "did not exist";
  case write_outcome::failed:
    return "failed";
  }
  return "failed";
}

target_writer::target_writer(target_params params, writer_options options)
    : params_(std::move(params)), options_(options) {}

target_writer::~target_writer() = default;

void target_writer::cancel() {
  std::lock_guard lock{mutex_};
  cancelled_ = true;
  if (in_flight_ != nullptr)
    in_flight_->TryCancel();
  wake_.notify_all();
}

bool target_writer::cancelled() {
  std::lock_guard lock{mutex_};
  return cancelled_;
}

bool target_writer::backoff(std::chrono::milliseconds delay) {
  std::unique_lock lock{mutex_};
  return !wake_.wait_for(lock, delay, [this] { return cancelled_; });
}

target_writer::stub_type* target_writer::connect(write_status& failure) {
  if (!channel_) {
    std::string error;
    channel_ = open_channel(params_, error);
    if (!channel_) {
      failure.outcome = write_outcome::failed;
      failure.configuration = true;
      failure.retryable = false;
      failure.message = "cannot dial: " + error;
      return nullptr;
    }
    stub_ = mpb::MilvusService::NewStub(channel_);
  }
  auto timeout =
      options_.connect_timeout.count() > 0
          ? options_.connect_timeout
          : std::chrono::milliseconds{std::max<int64_t>(params_.connect_timeout_s, 1) * 1000};
  // In short steps, so that a cancel() (a pause, a delete) ends the wait within moments.
  const auto until = std::chrono::system_clock::now() + timeout;
  for (;;) {
    auto step = std::min(until, std::chrono::system_clock::now() + std::chrono::milliseconds{100});
    if (channel_->WaitForConnected(step))
      return stub_.get();
    if (cancelled() || std::chrono::system_clock::now() >= until)
      break;
  }
  auto state = channel_->GetState(false);
  // A fresh channel dials at once on the next attempt, instead of waiting out the old one's
  // reconnect backoff.
  stub_.reset();
  channel_.reset();
  failure.outcome = write_outcome::failed;
  failure.retryable = true;
  failure.grpc_code = static_cast<int>(grpc::StatusCode::UNAVAILABLE);
  failure.message = "cannot connect within the connect timeout of " +
                    std::to_string(timeout.count()) + " ms (channel " + channel_state_name(state) +
                    ")";
  return nullptr;
}

template <class Response>
write_result<Response> target_writer::run(const call_spec& spec,
                                          const attempt_fn<Response>& attempt) {
  write_result<Response> result;
  const auto started = steady::now();
  const int max_attempts =
      spec.max_attempts > 0 ? spec.max_attempts : std::max(1, options_.max_attempts);
  grpc::Status previous = grpc::Status::OK;
  write_status st;
  for (int n = 1;; ++n) {
    st = write_status{};
    st.attempts = n;
    if (cancelled()) {
      st.outcome = write_outcome::failed;
      st.grpc_code = static_cast<int>(grpc::StatusCode::CANCELLED);
      st.message = "cancelled";
      break;
    }
    if (auto* stub = connect(st)) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + options_.call_timeout);
      authorize(context, params_);
      if (!spec.db.empty())
        context.AddMetadata("dbname", spec.db);
      {
        std::lock_guard lock{mutex_};
        if (cancelled_)
          context.TryCancel();
        in_flight_ = &context;
      }
      Response response;
      auto status = attempt(*stub, context, response, n, previous);
      {
        std::lock_guard lock{mutex_};
        in_flight_ = nullptr;
      }
      previous = status;
      st.grpc_code = static_cast<int>(status.error_code());
      if (!status.ok()) {
        st.outcome = write_outcome::failed;
        auto code = status.error_code();
        st.retryable = code == grpc::StatusCode::UNAVAILABLE ||
                       code == grpc::StatusCode::DEADLINE_EXCEEDED ||
                       code == grpc::StatusCode::RESOURCE_EXHAUSTED;
        st.target_reason = status.error_message();
        st.message = std::string{"gRPC "} + grpc_code_name(code) + ": " + status.error_message();
        if (code == grpc::StatusCode::RESOURCE_EXHAUSTED &&
            contains(lower(status.error_message()), "larger than max")) {
          // The request is above the server's size limit (64 MiB by default): resending it
          // cannot help, smaller batches can.
          st.retryable = false;
          st.message += " (the request is larger than the target accepts; send smaller batches)";
        }
        if (code == grpc::StatusCode::UNIMPLEMENTED) {
          st.configuration = true;
          st.message =
              std::string{"the target does not implement "} + spec.rpc + " (" + st.message + ")";
          if (std::string_view{spec.rpc} == "ReplicateMessage")
            st.message += "; milvus-lite and Milvus 2.6 have no ReplicateMessage: use "
                          "target_mode api for this target";
        }
        if (code == grpc::StatusCode::UNAVAILABLE) {
          // The connection broke during the call; dial afresh next time.
          stub_.reset();
          channel_.reset();
        }
      } else {
        const auto& answer = status_of(response);
        if (succeeded(answer)) {
          st.outcome = write_outcome::applied;
        } else {
          const auto reason = lower(answer.reason());
          const auto code = code_of(answer);
          st.milvus_code = code;
          st.target_reason = answer.reason();
          st.outcome = write_outcome::failed;
          if (spec.idempotency == call_spec::kind::create && contains(reason, "already exist")) {
            st.outcome = write_outcome::already_existed;
            st.message = answer.reason();
          } else if (spec.idempotency == call_spec::kind::drop && says_not_found(answer, reason)) {
            st.outcome = write_outcome::did_not_exist;
            st.message = answer.reason();
          } else if (spec.empty_replicate && reason == "empty msgs") {
            st.outcome = write_outcome::applied;
            st.message = "the target accepted the replicate RPC (it answers a request without "
                         "messages with \"empty msgs\")";
          } else {
            std::string said = "Milvus status code " + std::to_string(answer.code());
            if (legacy_code(answer) != 0)
              said += " (error_code " + std::to_string(legacy_code(answer)) + ")";
            said += ": " + answer.reason();
            if (code == merr_deny_replicate || contains(reason, "deny to use the replicate")) {
              st.configuration = true;
              st.message = "the target refuses replicated messages (" + said +
                           "): it runs with common.ttMsgEnabled=true; target_mode replicate "
                           "needs a standby Milvus that runs with common.ttMsgEnabled=false "
                           "(or use target_mode api)";
            } else if (code == merr_deny_produce ||
                       contains(reason, "deny to write the message to mq")) {
              st.configuration = true;
              st.message = "the target refuses writes (" + said +
                           "): it runs with common.ttMsgEnabled=false, a standby that only "
                           "ReplicateMessage writes to; use target_mode replicate for it, or a "
                           "target with common.ttMsgEnabled=true for target_mode api";
            } else if (contains(reason, "not supported in streaming mode")) {
              st.configuration = true;
              st.message = "the target does not support " + std::string{spec.rpc} + " (" + said +
                           "); use target_mode api for this target";
            } else {
              st.retryable = retryable_status(answer, reason);
              st.message = said;
            }
          }
        }
      }
      if (st.ok())
        result.value = std::move(response);
    }
    if (st.ok() || !st.retryable)
      break;
    if (n >= max_attempts) {
      st.retries_exhausted = true;
      break;
    }
    if (n == 1)
      // Otherwise the log says nothing until the attempts are used up (a minute or more).
      spdlog::warn("{}{} on the target {} failed, retrying (up to {} attempts): {}", spec.rpc,
                   spec.object.empty() ? "" : " of " + spec.object, params_.uri, max_attempts,
                   st.message);
    auto delay = options_.base_delay * (int64_t{1} << std::min(n - 1, 30));
    if (delay > options_.max_delay || delay.count() < 0)
      delay = options_.max_delay;
    if (!backoff(delay)) {
      st.retryable = false;
      st.message += "; then cancelled";
      break;
    }
  }
  st.rpc = spec.rpc;
  st.object = spec.object;
  st.elapsed = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - started);
  if (!st.ok()) {
    std::string head = std::string{spec.rpc} + (spec.object.empty() ? "" : " of " + spec.object) +
                       " on the target " + params_.uri + " failed";
    head += st.attempts == 1 ? " at the first attempt"
                             : " after " + std::to_string(st.attempts) + " attempts";
    if (st.configuration)
      head += " (configuration error, not retryable)";
    else if (st.retries_exhausted)
      head += " (retryable error, attempts exhausted)";
    else if (st.retryable)
      head += " (retryable error)";
    else
      head += " (not retryable)";
    st.message = head + ": " + st.message;
  }
  result.status = std::move(st);
  return result;
}

// -- the RPCs ---------------------------------------------------------------------------------

// Most calls are one RPC with a common.Status answer.
#define CDC_STATUS_CALL(Rpc, spec, request)                                                        \
  run<cpb::Status>(spec, [&](stub_type& stub, grpc::ClientContext& context, cpb::Status& response, \
                             int, const grpc::Status&) {                                           \
    return stub.Rpc(&context, request, &response);                                                 \
  }).status

#define CDC_CALL(Response, Rpc, spec, request)                                                     \
  run<Response>(spec, [&](stub_type& stub, grpc::ClientContext& context, Response& response, int,  \
                          const grpc::Status&) { return stub.Rpc(&context, request, &response); })

write_status target_writer::create_database(const mpb::CreateDatabaseRequest& request) {
  call_spec spec{"CreateDatabase", database_object(request.db_name()), request.db_name(),
                 call_spec::kind::create};
  return CDC_STATUS_CALL(CreateDatabase, spec, request);
}

write_status target_writer::drop_database(const mpb::DropDatabaseRequest& request) {
  call_spec spec{"DropDatabase", database_object(request.db_name()), request.db_name(),
                 call_spec::kind::drop};
  return CDC_STATUS_CALL(DropDatabase, spec, request);
}

write_status target_writer::alter_database(const mpb::AlterDatabaseRequest& request) {
  call_spec spec{"AlterDatabase", database_object(request.db_name()), request.db_name()};
  return CDC_STATUS_CALL(AlterDatabase, spec, request);
}

write_result<std::vector<std::string>>
target_writer::list_databases(const mpb::ListDatabasesRequest& request) {
  call_spec spec{"ListDatabases", {}, {}};
  auto answer = CDC_CALL(mpb::ListDatabasesResponse, ListDatabases, spec, request);
  write_result<std::vector<std::string>> result{std::move(answer.status), {}};
  result.value.assign(answer.value.db_names().begin(), answer.value.db_names().end());
  return result;
}

write_result<bool> target_writer::has_collection(const mpb::HasCollectionRequest& request) {
  call_spec spec{"HasCollection", collection_object(request.db_name(), request.collection_name()),
                 request.db_name()};
  auto answer = CDC_CALL(mpb::BoolResponse, HasCollection, spec, request);
  return {std::move(answer.status), answer.value.value()};
}

write_result<mpb::DescribeCollectionResponse>
target_writer::describe_collection(const mpb::DescribeCollectionRequest& request) {
  call_spec spec{"DescribeCollection",
                 collection_object(request.db_name(), request.collection_name()),
                 request.db_name()};
  return CDC_CALL(mpb::DescribeCollectionResponse, DescribeCollection, spec, request);
}

write_status target_writer::create_collection(const mpb::CreateCollectionRequest& request) {
  call_spec spec{"CreateCollection",
                 collection_object(request.db_name(), request.collection_name()), request.db_name(),
                 call_spec::kind::create};
  return CDC_STATUS_CALL(CreateCollection, spec, request);
}

write_status target_writer::drop_collection(const mpb::DropCollectionRequest& request) {
  call_spec spec{"DropCollection", collection_object(request.db_name(), request.collection_name()),
                 request.db_name(), call_spec::kind::drop};
  return CDC_STATUS_CALL(DropCollection, spec, request);
}

write_status target_writer::rename_collection(const mpb::RenameCollectionRequest& request) {
  const auto& new_db = request.newdbname().empty() ? request.db_name() : request.newdbname();
  call_spec spec{"RenameCollection",
                 collection_object(request.db_name(), request.oldname()) + " to " +
                     collection_object(new_db, request.newname()),
                 request.db_name(), call_spec::kind::drop};
  auto status = CDC_STATUS_CALL(RenameCollection, spec, request);
  if (status.ok() || status.retryable || status.configuration)
    return status;
  // Milvus checks the new name before the old one: a rename applied before (a replay) is
  // answered "duplicated new collection name". Done already when the old name is gone.
  mpb::HasCollectionRequest has;
  if (request.has_base())
    *has.mutable_base() = request.base();
  has.set_db_name(request.db_name());
  has.set_collection_name(request.oldname());
  auto exists = has_collection(has);
  if (exists.ok() && !exists.value) {
    status.outcome = write_outcome::did_not_exist;
    status.message = "HasCollection does not find the old name (renamed before); the target "
                     "answered RenameCollection with code " +
                     std::to_string(status.milvus_code) + " \"" + status.target_reason + "\"";
  }
  return status;
}

write_status target_writer::alter_collection(const mpb::AlterCollectionRequest& request) {
  call_spec spec{"AlterCollection", collection_object(request.db_name(), request.collection_name()),
                 request.db_name()};
  return CDC_STATUS_CALL(AlterCollection, spec, request);
}

write_status target_writer::create_alias(const mpb::CreateAliasRequest& request) {
  call_spec spec{"CreateAlias",
                 "alias " + request.alias() + " of " +
                     collection_object(request.db_name(), request.collection_name()),
                 request.db_name(), call_spec::kind::create};
  return CDC_STATUS_CALL(CreateAlias, spec, request);
}

write_status target_writer::drop_alias(const mpb::DropAliasRequest& request) {
  call_spec spec{"DropAlias", "alias " + request.alias() + " in database " + request.db_name(),
                 request.db_name(), call_spec::kind::drop};
  return CDC_STATUS_CALL(DropAlias, spec, request);
}

write_status target_writer::alter_alias(const mpb::AlterAliasRequest& request) {
  call_spec spec{"AlterAlias",
                 "alias " + request.alias() + " to " +
                     collection_object(request.db_name(), request.collection_name()),
                 request.db_name()};
  return CDC_STATUS_CALL(AlterAlias, spec, request);
}

write_status target_writer::create_partition(const mpb::CreatePartitionRequest& request) {
  call_spec spec{
      "CreatePartition",
      partition_object(request.db_name(), request.collection_name(), request.partition_name()),
      request.db_name(), call_spec::kind::create};
  auto status = CDC_STATUS_CALL(CreatePartition, spec, request);
  if (status.ok() || status.retryable || status.configuration)
    return status;
  // milvus-lite answers a duplicate partition with only its name as the reason: ask.
  mpb::HasPartitionRequest has;
  if (request.has_base())
    *has.mutable_base() = request.base();
  has.set_db_name(request.db_name());
  has.set_collection_name(request.collection_name());
  has.set_partition_name(request.partition_name());
  auto exists = has_partition(has);
  if (exists.ok() && exists.value) {
    status.outcome = write_outcome::already_existed;
    status.message = "HasPartition finds the partition; the target answered CreatePartition "
                     "with code " +
                     std::to_string(status.milvus_code) + " \"" + status.target_reason + "\"";
  }
  return status;
}

write_status target_writer::drop_partition(const mpb::DropPartitionRequest& request) {
  call_spec spec{
      "DropPartition",
      partition_object(request.db_name(), request.collection_name(), request.partition_name()),
      request.db_name(), call_spec::kind::drop};
  return CDC_STATUS_CALL(DropPartition, spec, request);
}

write_result<bool> target_writer::has_partition(const mpb::HasPartitionRequest& request) {
  call_spec spec{
      "HasPartition",
      partition_object(request.db_name(), request.collection_name(), request.partition_name()),
      request.db_name()};
  auto answer = CDC_CALL(mpb::BoolResponse, HasPartition, spec, request);
  return {std::move(answer.status), answer.value.value()};
}

write_result<mpb::ShowPartitionsResponse>
target_writer::show_partitions(const mpb::ShowPartitionsRequest& request) {
  call_spec spec{"ShowPartitions",
                 "partitions of " + collection_object(request.db_name(), request.collection_name()),
                 request.db_name()};
  return CDC_CALL(mpb::ShowPartitionsResponse, ShowPartitions, spec, request);
}

write_result<mpb::MutationResult> target_writer::insert(const mpb::InsertRequest& request) {
  call_spec spec{
      "Insert",
      std::to_string(request.num_rows()) + " rows into " +
          collection_object(request.db_name(), request.collection_name()) +
          (request.partition_name().empty() ? "" : " partition " + request.partition_name()),
      request.db_name()};
  bool as_upsert_now = false;
  std::string why;
  auto result = run<mpb::MutationResult>(spec, [&](stub_type& stub, grpc::ClientContext& context,
                                                   mpb::MutationResult& response, int attempt,
                                                   const grpc::Status& previous) {
    if (attempt > 1 && options_.retry_insert_as_upsert && !as_upsert_now && ambiguous(previous)) {
      // Once sent as Upsert, later retries stay Upserts: an Insert after an Upsert could
      // add the rows a second time.
      as_upsert_now = true;
      why = std::string{"gRPC "} + grpc_code_name(previous.error_code());
    }
    if (as_upsert_now)
      return stub.Upsert(&context, as_upsert(request), &response);
    return stub.Insert(&context, request, &response);
  });
  if (as_upsert_now) {
    std::string note = "retried as Upsert after an attempt whose outcome is unknown (" + why + ")";
    result.status.message =
        result.status.message.empty() ? note : result.status.message + "; " + note;
  }
  return result;
}

write_result<mpb::MutationResult> target_writer::upsert(const mpb::UpsertRequest& request) {
  call_spec spec{
      "Upsert",
      std::to_string(request.num_rows()) + " rows into " +
          collection_object(request.db_name(), request.collection_name()) +
          (request.partition_name().empty() ? "" : " partition " + request.partition_name()),
      request.db_name()};
  return CDC_CALL(mpb::MutationResult, Upsert, spec, request);
}

write_result<mpb::MutationResult> target_writer::delete_rows(const mpb::DeleteRequest& request) {
  auto expr = request.expr();
  if (expr.size() > 200)
    expr = expr.substr(0, 200) + "...";
  call_spec spec{
      "Delete",
      "rows of " + collection_object(request.db_name(), request.collection_name()) +
          (request.partition_name().empty() ? "" : " partition " + request.partition_name()) +
          " where " + expr,
      request.db_name()};
  return CDC_CALL(mpb::MutationResult, Delete, spec, request);
}

write_result<mpb::FlushResponse> target_writer::flush(const mpb::FlushRequest& request) {
  std::string names;
  for (const auto& name : request.collection_names())
    names += (names.empty() ? "" : ",") + name;
  call_spec spec{"Flush",
                 "collections " +
                     (request.db_name().empty() ? std::string{"default"} : request.db_name()) +
                     ".[" + names + "]",
                 request.db_name()};
  return CDC_CALL(mpb::FlushResponse, Flush, spec, request);
}

write_status target_writer::create_index(const mpb::CreateIndexRequest& request) {
  call_spec spec{"CreateIndex",
                 index_object(request.db_name(), request.collection_name(), request.index_name(),
                              request.field_name()),
                 request.db_name(), call_spec::kind::create};
  return CDC_STATUS_CALL(CreateIndex, spec, request);
}

write_status target_writer::drop_index(const mpb::DropIndexRequest& request) {
  call_spec spec{"DropIndex",
                 index_object(request.db_name(), request.collection_name(), request.index_name(),
                              request.field_name()),
                 request.db_name(), call_spec::kind::drop};
  return CDC_STATUS_CALL(DropIndex, spec, request);
}

write_status target_writer::alter_index(const mpb::AlterIndexRequest& request) {
  call_spec spec{
      "AlterIndex",
      index_object(request.db_name(), request.collection_name(), request.index_name(), {}),
      request.db_name()};
  return CDC_STATUS_CALL(AlterIndex, spec, request);
}

write_status target_writer::load_collection(const mpb::LoadCollectionRequest& request) {
  call_spec spec{"LoadCollection", collection_object(request.db_name(), request.collection_name()),
                 request.db_name()};
  return CDC_STATUS_CALL(LoadCollection, spec, request);
}

write_status target_writer::release_collection(const mpb::ReleaseCollectionRequest& request) {
  call_spec spec{"ReleaseCollection",
                 collection_object(request.db_name(), request.collection_name()), request.db_name(),
                 call_spec::kind::drop};
  return CDC_STATUS_CALL(ReleaseCollection, spec, request);
}

write_status target_writer::load_partitions(const mpb::LoadPartitionsRequest& request) {
  call_spec spec{
      "LoadPartitions",
      partitions_object(request.db_name(), request.collection_name(), request.partition_names()),
      request.db_name()};
  return CDC_STATUS_CALL(LoadPartitions, spec, request);
}

write_status target_writer::release_partitions(const mpb::ReleasePartitionsRequest& request) {
  call_spec spec{
      "ReleasePartitions",
      partitions_object(request.db_name(), request.collection_name(), request.partition_names()),
      request.db_name(), call_spec::kind::drop};
  return CDC_STATUS_CALL(ReleasePartitions, spec, request);
}

write_status target_writer::create_credential(const mpb::CreateCredentialRequest& request) {
  call_spec spec{"CreateCredential", "user " + request.username(), {}, call_spec::kind::create};
  return CDC_STATUS_CALL(CreateCredential, spec, request);
}

write_status target_writer::delete_credential(const mpb::DeleteCredentialRequest& request) {
  call_spec spec{"DeleteCredential", "user " + request.username(), {}, call_spec::kind::drop};
  return CDC_STATUS_CALL(DeleteCredential, spec, request);
}

write_status target_writer::update_credential(const mpb::UpdateCredentialRequest& request) {
  call_spec spec{"UpdateCredential", "user " + request.username(), {}};
  return CDC_STATUS_CALL(UpdateCredential, spec, request);
}

write_status target_writer::create_role(const mpb::CreateRoleRequest& request) {
  call_spec spec{"CreateRole", "role " + request.entity().name(), {}, call_spec::kind::create};
  return CDC_STATUS_CALL(CreateRole, spec, request);
}

write_status target_writer::drop_role(const mpb::DropRoleRequest& request) {
  call_spec spec{"DropRole", "role " + request.role_name(), {}, call_spec::kind::drop};
  return CDC_STATUS_CALL(DropRole, spec, request);
}

write_status target_writer::operate_user_role(const mpb::OperateUserRoleRequest& request) {
  call_spec spec{"OperateUserRole",
                 std::string{request.type() == mpb::AddUserToRole ? "add" : "remove"} + " user " +
                     request.username() + " to/from role " + request.role_name(),
                 {}};
  return CDC_STATUS_CALL(OperateUserRole, spec, request);
}

write_status target_writer::operate_privilege(const mpb::OperatePrivilegeRequest& request) {
  const auto& grant = request.entity();
  call_spec spec{"OperatePrivilege",
                 std::string{request.type() == mpb::Grant ? "grant " : "revoke "} +
                     grant.grantor().privilege().name() + " on " + grant.object().name() + " " +
                     qualify(grant.db_name(), grant.object_name()) + " to role " +
                     grant.role().name(),
                 grant.db_name()};
  return CDC_STATUS_CALL(OperatePrivilege, spec, request);
}

write_result<mpb::ReplicateMessageResponse>
target_writer::replicate_message(const mpb::ReplicateMessageRequest& request, int max_attempts) {
  call_spec spec{"ReplicateMessage",
                 "channel " + request.channel_name() + " (" + std::to_string(request.msgs_size()) +
                     " messages)",
                 {}};
  spec.empty_replicate = request.msgs_size() == 0;
  spec.max_attempts = max_attempts;
  return CDC_CALL(mpb::ReplicateMessageResponse, ReplicateMessage, spec, request);
}

write_status target_writer::check_replicate_target(const std::string& channel) {
  mpb::ReplicateMessageRequest request;
  request.mutable_base()->mutable_replicateinfo()->set_isreplicate(true);
  // Milvus 2.3.5 refuses an empty channel name before it looks at the messages.
  request.set_channel_name(channel.empty() ? std::string{"by-dev-replicate-msg"} : channel);
  auto answer = replicate_message(request);
  if (answer.status.outcome == write_outcome::applied && answer.status.message.empty())
    answer.status.message =
        "the target accepts replicated messages; position of " + request.channel_name() + ": " +
        (answer.value.position().empty() ? std::string{"(none)"} : answer.value.position());
  return answer.status;
}

#undef CDC_STATUS_CALL
#undef CDC_CALL

} // namespace cdc::milvus
