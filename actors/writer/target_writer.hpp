#pragma once

// The synchronous gRPC client that applies changes to a target Milvus (spec/target.md): one
// method per RPC the writer needs in mode `api` and in mode `replicate`, each with a deadline,
// the task's credentials and database, retries with exponential backoff on retryable errors,
// and the idempotency rules a replay after a restart relies on. Calls block: the writer runs
// in a detached actor. One writer is used by one thread at a time; only cancel() may be
// called from another thread.

#include "actors/base/task_spec.hpp"

#include "milvus.grpc.pb.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace cdc::milvus {

/// How a call to the target ended.
enum class write_outcome : uint8_t {
  /// The target did what was asked.
  applied,
  /// A create of something that already exists (database, collection, partition, index,
  /// user, role): success, since a replay re-creates what it created before.
  already_existed,
  /// A drop or release of something that does not exist: success, for the same reason.
  did_not_exist,
  /// The target refused or could not be reached; see `retryable`.
  failed,
};

/// "applied", "already existed", "did not exist" or "failed".
const char* to_string(write_outcome outcome);

/// The result of one writer call, after all its attempts.
struct write_status {
  write_outcome outcome = write_outcome::applied;
  /// The RPC, e.g. "CreateCollection" ("Insert" also when a retry went out as an Upsert).
  std::string rpc;
  /// What the call was about, e.g. "collection db1.c1" or "partition db1.c1/p1".
  std::string object;
  /// failed: what failed on the target, with its answer and the number of attempts;
  /// already_existed / did_not_exist: the target's answer; applied: empty or a note (an
  /// Insert retried as an Upsert, an empty ReplicateMessage answered "empty msgs").
  std::string message;
  /// The target's own words of the last attempt (Status.reason or the gRPC message).
  std::string target_reason;
  /// failed only: the error is of a kind that goes away (connection, deadline, rate limit,
  /// not ready), so a later try may succeed; still true when this call ran out of attempts.
  bool retryable = false;
  /// failed only: the last allowed attempt failed with a retryable error.
  bool retries_exhausted = false;
  /// failed only: the target is configured for the other target_mode (common.ttMsgEnabled),
  /// does not implement the RPC, or the dial settings are unusable; no retry can help.
  bool configuration = false;
  /// The gRPC status code of the last attempt (0 = OK, 14 = UNAVAILABLE, ...).
  int grpc_code = 0;
  /// The Milvus status of the last answer: `code`, or the legacy `error_code` when only that
  /// is set; 0 when the call succeeded or never got an answer.
  int32_t milvus_code = 0;
  /// Attempts made (1 when the first one settled it).
  int attempts = 0;
  /// Wall time of all attempts including the backoff waits.
  std::chrono::microseconds elapsed{0};

  bool ok() const { return outcome != write_outcome::failed; }
  /// Success that is not a plain `applied`: log it.
  bool tolerated() const {
    return outcome == write_outcome::already_existed || outcome == write_outcome::did_not_exist;
  }
};

/// A write_status and the target's answer (valid when ok()).
template <class Value>
struct write_result {
  write_status status;
  Value value{};
  bool ok() const { return status.ok(); }
};

/// Deadlines and retries of a target_writer.
struct writer_options {
  /// Deadline of one attempt of one RPC (after the channel is connected).
  std::chrono::milliseconds call_timeout{30'000};
  /// How long one attempt may wait for the connection; 0 = the task's connect_timeout_s.
  std::chrono::milliseconds connect_timeout{0};
  /// Attempts per call, the first included (1 = no retry).
  int max_attempts = 5;
  /// Backoff before retry n (n >= 1): min(max_delay, base_delay * 2^(n-1)).
  std::chrono::milliseconds base_delay{200};
  std::chrono::milliseconds max_delay{10'000};
  /// An Insert whose fate is unknown (deadline passed or connection lost during the call) may
  /// have been applied: retry it as an Upsert of the same rows so it cannot add duplicates.
  bool retry_insert_as_upsert = true;
};

/// Sets `base.replicateInfo = {isReplicate: true, msgTimestamp: source_ts}` on any request
/// with a `base` (mode `replicate`: DDL/DCL replayed with the normal RPCs).
template <class Request>
Request& mark_replicated(Request& request, uint64_t source_ts) {
  auto* info = request.mutable_base()->mutable_replicateinfo();
  info->set_isreplicate(true);
  info->set_msgtimestamp(source_ts);
  return request;
}

/// The gRPC client that writes to one target Milvus.
///
/// Every call: connects within the connect timeout (a channel that cannot connect is dialled
/// afresh on the next attempt), sets the call deadline, the `authorization` metadata (task
/// token) and the `dbname` metadata (the request's database, when it names one), then
/// classifies the answer:
/// - retryable: gRPC UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED (except "larger than
///   max": a request above the server's size limit fails at once); Milvus statuses with
///   `retriable`, the rate-limit / not-ready error codes, or a reason saying "not ready",
///   "service unavailable", "rate limit" or "request limit exceeded";
/// - configuration errors (never retried): ReplicateMessage refused by a normal instance
///   (code 1900, names common.ttMsgEnabled), a data write refused by a standby (code 1303),
///   UNIMPLEMENTED, unreadable TLS files;
/// - everything else fails at once.
/// Retryable failures are retried with exponential backoff up to max_attempts.
class target_writer {
public:
  explicit target_writer(target_params params, writer_options options = {});
  ~target_writer();
  target_writer(const target_writer&) = delete;
  target_writer& operator=(const target_writer&) = delete;

  const target_params& params() const { return params_; }
  const writer_options& options() const { return options_; }

  /// Thread-safe: cancels the call in flight and any backoff wait; this and every later call
  /// fail with a non-retryable "cancelled" error.
  void cancel();

  /// Waits for `delay` unless cancelled (thread-safe); false when cancelled. For callers
  /// that retry on their own (mode replicate resends a ReplicateMessage later).
  bool backoff(std::chrono::milliseconds delay);

  // -- databases ---------------------------------------------------------------------------

  /// CreateDatabase; "already exists" -> already_existed.
  write_status create_database(const ::milvus::proto::milvus::CreateDatabaseRequest& request);
  /// DropDatabase; "not found" -> did_not_exist.
  write_status drop_database(const ::milvus::proto::milvus::DropDatabaseRequest& request);
  /// AlterDatabase (database properties).
  write_status alter_database(const ::milvus::proto::milvus::AlterDatabaseRequest& request);
  /// ListDatabases: the names.
  write_result<std::vector<std::string>>
  list_databases(const ::milvus::proto::milvus::ListDatabasesRequest& request = {});

  // -- collections -------------------------------------------------------------------------

  /// HasCollection: whether the collection exists in the request's database.
  write_result<bool> has_collection(const ::milvus::proto::milvus::HasCollectionRequest& request);
  /// DescribeCollection: schema, channels, ids as the target has them (a missing collection is
  /// a non-retryable failure with milvus_code 100).
  write_result<::milvus::proto::milvus::DescribeCollectionResponse>
  describe_collection(const ::milvus::proto::milvus::DescribeCollectionRequest& request);
  /// CreateCollection; "already exists" -> already_existed (Milvus 2.3 itself answers success
  /// for the same schema and fails for a different one).
  write_status create_collection(const ::milvus::proto::milvus::CreateCollectionRequest& request);
  /// DropCollection; "not found" -> did_not_exist.
  write_status drop_collection(const ::milvus::proto::milvus::DropCollectionRequest& request);
  /// RenameCollection; the old name "not found" -> did_not_exist (a replay: renamed before).
  write_status rename_collection(const ::milvus::proto::milvus::RenameCollectionRequest& request);
  /// AlterCollection (collection properties).
  write_status alter_collection(const ::milvus::proto::milvus::AlterCollectionRequest& request);
  /// CreateAlias; "already exists" -> already_existed.
  write_status create_alias(const ::milvus::proto::milvus::CreateAliasRequest& request);
  /// DropAlias; "not found" -> did_not_exist.
  write_status drop_alias(const ::milvus::proto::milvus::DropAliasRequest& request);
  /// AlterAlias (points an alias at another collection).
  write_status alter_alias(const ::milvus::proto::milvus::AlterAliasRequest& request);

  // -- partitions --------------------------------------------------------------------------

  /// CreatePartition; "already exists" -> already_existed, also when the target's answer does
  /// not say so but HasPartition then finds the partition (milvus-lite).
  write_status create_partition(const ::milvus::proto::milvus::CreatePartitionRequest& request);
  /// DropPartition; partition or collection "not found" -> did_not_exist.
  write_status drop_partition(const ::milvus::proto::milvus::DropPartitionRequest& request);
  /// HasPartition: whether the partition exists.
  write_result<bool> has_partition(const ::milvus::proto::milvus::HasPartitionRequest& request);
  /// ShowPartitions: names, ids and creation times of the partitions of a collection.
  write_result<::milvus::proto::milvus::ShowPartitionsResponse>
  show_partitions(const ::milvus::proto::milvus::ShowPartitionsRequest& request);

  // -- data --------------------------------------------------------------------------------

  /// Insert; a retry after an unknown outcome goes out as an Upsert (writer_options).
  write_result<::milvus::proto::milvus::MutationResult>
  insert(const ::milvus::proto::milvus::InsertRequest& request);
  /// Upsert: replaces the rows with the same primary keys.
  write_result<::milvus::proto::milvus::MutationResult>
  upsert(const ::milvus::proto::milvus::UpsertRequest& request);
  /// Delete by the request's expression (`pk in [...]`).
  write_result<::milvus::proto::milvus::MutationResult>
  delete_rows(const ::milvus::proto::milvus::DeleteRequest& request);
  /// Flush of the request's collections.
  write_result<::milvus::proto::milvus::FlushResponse>
  flush(const ::milvus::proto::milvus::FlushRequest& request);

  // -- indexes -----------------------------------------------------------------------------

  /// CreateIndex; "already exists" -> already_existed (Milvus 2.3 answers success for the
  /// same parameters and fails for different ones).
  write_status create_index(const ::milvus::proto::milvus::CreateIndexRequest& request);
  /// DropIndex; index or collection "not found" -> did_not_exist.
  write_status drop_index(const ::milvus::proto::milvus::DropIndexRequest& request);
  /// AlterIndex (index properties).
  write_status alter_index(const ::milvus::proto::milvus::AlterIndexRequest& request);

  // -- load / release ----------------------------------------------------------------------

  /// LoadCollection (returns when the target accepted it; loading goes on in the target).
  write_status load_collection(const ::milvus::proto::milvus::LoadCollectionRequest& request);
  /// ReleaseCollection; collection "not found" -> did_not_exist.
  write_status release_collection(const ::milvus::proto::milvus::ReleaseCollectionRequest& request);
  /// LoadPartitions.
  write_status load_partitions(const ::milvus::proto::milvus::LoadPartitionsRequest& request);
  /// ReleasePartitions; "not found" -> did_not_exist.
  write_status release_partitions(const ::milvus::proto::milvus::ReleasePartitionsRequest& request);

  // -- users and roles (enable_user_role) --------------------------------------------------

  /// CreateCredential; "already exists" -> already_existed.
  write_status create_credential(const ::milvus::proto::milvus::CreateCredentialRequest& request);
  /// DeleteCredential; "not found" -> did_not_exist.
  write_status delete_credential(const ::milvus::proto::milvus::DeleteCredentialRequest& request);
  /// UpdateCredential.
  write_status update_credential(const ::milvus::proto::milvus::UpdateCredentialRequest& request);
  /// CreateRole; "already exists" -> already_existed.
  write_status create_role(const ::milvus::proto::milvus::CreateRoleRequest& request);
  /// DropRole; "not found" -> did_not_exist.
  write_status drop_role(const ::milvus::proto::milvus::DropRoleRequest& request);
  /// OperateUserRole (add a user to a role / remove).
  write_status operate_user_role(const ::milvus::proto::milvus::OperateUserRoleRequest& request);
  /// OperatePrivilege (grant / revoke); `dbname` metadata from the grant's db_name. Milvus 2.3
  /// needs `authorization` metadata for it even with authorization disabled: set a token.
  write_status operate_privilege(const ::milvus::proto::milvus::OperatePrivilegeRequest& request);

  // -- mode replicate ----------------------------------------------------------------------

  /// ReplicateMessage to a standby (common.ttMsgEnabled=false): the answer carries the
  /// target's `position`. A normal instance's refusal (code 1900) is a configuration error
  /// naming common.ttMsgEnabled. A request without messages that the standby answers
  /// "empty msgs" counts as applied (the standby accepted the RPC; a note says so).
  /// `max_attempts` (0: writer_options'): 1 for data, since a failed attempt may have written
  /// part of its messages and a plain resend would write them twice (the caller resends
  /// them in a form that cannot duplicate rows).
  write_result<::milvus::proto::milvus::ReplicateMessageResponse>
  replicate_message(const ::milvus::proto::milvus::ReplicateMessageRequest& request,
                    int max_attempts = 0);

  /// Sends an empty ReplicateMessage: ok when the target accepts replicated messages,
  /// otherwise the configuration error saying why not. `channel` is best the target's
  /// replicate-msg channel (`<msgChannel.chanNamePrefix.cluster>-replicate-msg`): Milvus 2.3.5
  /// answers it with success and that channel's latest position, touching nothing. For any
  /// other name a standby opens a producer on that channel (creating the topic in its MQ) and
  /// answers "empty msgs", which is also accepted.
  write_status check_replicate_target(const std::string& channel = "by-dev-replicate-msg");

private:
  using stub_type = ::milvus::proto::milvus::MilvusService::Stub;

  /// One attempt: calls the RPC on `stub` with a prepared context into `response`;
  /// `previous` is the gRPC status of the attempt before (OK on the first).
  template <class Response>
  using attempt_fn =
      std::function<grpc::Status(stub_type& stub, grpc::ClientContext& context, Response& response,
                                 int attempt, const grpc::Status& previous)>;

  /// What a call must know beyond the RPC itself.
  struct call_spec {
    const char* rpc;
    std::string object;
    /// The database for the `dbname` metadata; empty: none sent.
    std::string db;
    enum class kind : uint8_t { plain, create, drop } idempotency = kind::plain;
    /// A ReplicateMessage without messages: "empty msgs" means the target accepted it.
    bool empty_replicate = false;
    /// Attempts of this call; 0: writer_options::max_attempts.
    int max_attempts = 0;
  };

  template <class Response>
  write_result<Response> run(const call_spec& spec, const attempt_fn<Response>& attempt);

  /// A stub on a connected channel; nullptr with `failure` filled when there is none.
  stub_type* connect(write_status& failure);
  bool cancelled();

  target_params params_;
  writer_options options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<stub_type> stub_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool cancelled_ = false;
  grpc::ClientContext* in_flight_ = nullptr;
};

} // namespace cdc::milvus
