// Benchmark (not a test): the raw ceiling of a target Milvus. One C++ client of ours (the
// writer of cdc-server, milvus::target_writer, one call after the other as a task's writer
// makes them) inserts batches straight into a collection of the target, and a second
// connection polls `count(*)` at consistency Eventually until every row is visible. No
// Kafka, no source, no decoding: what the CDC server could reach at best on this target.
//
//   raw_ceiling --uri URI --collection NAME --rows N --batch B --dim D [--replicate]
//               [--db NAME] [--token T] [--poll-ms MS] [--timeout S] [--seed S]
//
// The collection must exist with an int64 primary key `pk` (autoID off) and a float vector
// `vec` of D dimensions, indexed and loaded (tests/bench/cdc_bench.py makes it).
// --replicate: the target is a standby (common.ttMsgEnabled=false); each batch goes as one
// ReplicateMessage (the Insert with the standby's ids and shard, then a TimeTick), as mode
// replicate sends it. The collection needs one shard and a load request; loading on a standby
// ends only once TimeTicks arrive, so this program ticks its channel until it is loaded. Rows are
// uniform random floats in [-1, 1), primary keys 0..N-1; every request is built before the
// clock starts. Output, one `key=value` per line (tests/bench/cdc_bench.py parses it;
// times are CLOCK_MONOTONIC seconds, the clock of Python's time.monotonic()):
//   first_insert, last_ack, visible, rows, insert_s, e2e_s, rows_per_s, caught_up_after_s,
//   cpu_s, peak_rss_mb, and `sample=<t> <count>` for every poll whose count changed.

#include "actors/transformer/replicate.hpp"
#include "actors/writer/target_client.hpp"
#include "actors/writer/target_writer.hpp"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sys/resource.h>
#include <time.h>

namespace {

namespace mpb = ::milvus::proto::milvus;
namespace cpb = ::milvus::proto::common;
namespace spb = ::milvus::proto::schema;
namespace msgpb = ::milvus::proto::msg;

struct options {
  std::string uri;
  std::string db = "default";
  std::string collection;
  std::string token;
  int64_t rows = 0;
  int64_t batch = 0;
  int dim = 0;
  int poll_ms = 50;
  double timeout_s = 600;
  unsigned seed = 7;
  bool replicate = false;
};

[[noreturn]] void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s --uri URI --collection NAME --rows N --batch B --dim D [--db NAME] "
               "[--replicate] [--token T] [--poll-ms MS] [--timeout S] [--seed S]\n",
               argv0);
  std::exit(2);
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    auto is = [&](const char* name) { return std::strcmp(argv[i], name) == 0 && i + 1 < argc; };
    if (is("--uri"))
      o.uri = argv[++i];
    else if (is("--db"))
      o.db = argv[++i];
    else if (is("--collection"))
      o.collection = argv[++i];
    else if (is("--token"))
      o.token = argv[++i];
    else if (is("--rows"))
      o.rows = std::atoll(argv[++i]);
    else if (is("--batch"))
      o.batch = std::atoll(argv[++i]);
    else if (is("--dim"))
      o.dim = std::atoi(argv[++i]);
    else if (is("--poll-ms"))
      o.poll_ms = std::atoi(argv[++i]);
    else if (is("--timeout"))
      o.timeout_s = std::atof(argv[++i]);
    else if (is("--seed"))
      o.seed = static_cast<unsigned>(std::atoi(argv[++i]));
    else if (std::strcmp(argv[i], "--replicate") == 0)
      o.replicate = true;
    else
      usage(argv[0]);
  }
  if (o.uri.empty() || o.collection.empty() || o.rows <= 0 || o.batch <= 0 || o.dim <= 0 ||
      o.poll_ms <= 0)
    usage(argv[0]);
  return o;
}

double monotonic_now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) * 1024.0 / 1e6;
}

std::vector<mpb::InsertRequest> make_batches(const options& o) {
  std::mt19937 gen{o.seed};
  std::uniform_real_distribution<float> uniform{-1.0f, 1.0f};
  std::vector<mpb::InsertRequest> batches;
  for (int64_t first = 0; first < o.rows; first += o.batch) {
    auto count = std::min(o.batch, o.rows - first);
    mpb::InsertRequest request;
    request.set_db_name(o.db);
    request.set_collection_name(o.collection);
    auto* pk = request.add_fields_data();
    pk->set_field_name("pk");
    pk->set_type(spb::Int64);
    auto* keys = pk->mutable_scalars()->mutable_long_data()->mutable_data();
    keys->Reserve(static_cast<int>(count));
    for (int64_t k = first; k < first + count; ++k)
      keys->Add(k);
    auto* vec = request.add_fields_data();
    vec->set_field_name("vec");
    vec->set_type(spb::FloatVector);
    vec->mutable_vectors()->set_dim(o.dim);
    auto* data = vec->mutable_vectors()->mutable_float_vector()->mutable_data();
    data->Resize(static_cast<int>(count * o.dim), 0.0f);
    for (auto& v : *data)
      v = uniform(gen);
    request.set_num_rows(static_cast<uint32_t>(count));
    batches.push_back(std::move(request));
  }
  return batches;
}

/// count(*) of the collection at consistency Eventually; -1 when the query failed.
class counter {
public:
  explicit counter(const options& o) : o_(o) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    channel_ = grpc::CreateCustomChannel(cdc::milvus::parse_endpoint(o.uri).address,
                                         grpc::InsecureChannelCredentials(), args);
    stub_ = mpb::MilvusService::NewStub(channel_);
  }

  int64_t count(std::string& error) {
    mpb::QueryRequest request;
    request.set_db_name(o_.db);
    request.set_collection_name(o_.collection);
    request.set_expr("");
    request.add_output_fields("count(*)");
    request.set_consistency_level(cpb::Eventually);
    request.set_use_default_consistency(false);
    request.set_guarantee_timestamp(1); // what pymilvus sends for Eventually
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (o_.db != "default")
      context.AddMetadata("dbname", o_.db);
    mpb::QueryResults response;
    auto status = stub_->Query(&context, request, &response);
    if (!status.ok()) {
      error = "gRPC " + std::to_string(status.error_code()) + " " + status.error_message();
      return -1;
    }
    if (!cdc::milvus::succeeded(response.status())) {
      error =
          "Milvus " + std::to_string(response.status().code()) + " " + response.status().reason();
      return -1;
    }
    for (const auto& field : response.fields_data())
      if (field.scalars().long_data().data_size() > 0)
        return field.scalars().long_data().data(0);
    error = "no count(*) in the answer";
    return -1;
  }

private:
  const options& o_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<mpb::MilvusService::Stub> stub_;
};

/// A hybrid timestamp of now (physical milliseconds << 18), above `floor`.
uint64_t hybrid_after(uint64_t floor) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  return std::max(static_cast<uint64_t>(ms) << 18, floor + 1);
}

/// Where the rows of the collection go on a standby: its ids, shard and channel.
struct standby_layout {
  int64_t collection_id = 0;
  int64_t partition_id = 0;
  std::string vchannel;
  std::string pchannel;
  std::map<std::string, int64_t> field_ids;
};

std::optional<standby_layout> describe_standby(cdc::milvus::target_writer& writer,
                                               const options& o) {
  mpb::DescribeCollectionRequest describe;
  describe.set_db_name(o.db);
  describe.set_collection_name(o.collection);
  auto described = writer.describe_collection(describe);
  if (!described.ok() || described.value.virtual_channel_names_size() != 1) {
    std::fprintf(stderr, "raw_ceiling: %s.%s: describe failed or not one shard: %s\n", o.db.c_str(),
                 o.collection.c_str(), described.status.message.c_str());
    return std::nullopt;
  }
  mpb::ShowPartitionsRequest show;
  show.set_db_name(o.db);
  show.set_collection_name(o.collection);
  auto partitions = writer.show_partitions(show);
  if (!partitions.ok() || partitions.value.partitionids_size() < 1) {
    std::fprintf(stderr, "raw_ceiling: ShowPartitions failed: %s\n",
                 partitions.status.message.c_str());
    return std::nullopt;
  }
  standby_layout layout;
  layout.collection_id = described.value.collectionid();
  layout.partition_id = partitions.value.partitionids(0);
  layout.vchannel = described.value.virtual_channel_names(0);
  layout.pchannel = described.value.physical_channel_names(0);
  for (const auto& field : described.value.schema().fields())
    layout.field_ids[field.name()] = field.fieldid();
  return layout;
}

/// The batch as the standby's Insert message; its times are set when it is sent.
msgpb::InsertRequest to_insert_msg(const mpb::InsertRequest& batch, const standby_layout& layout,
                                   const options& o, int64_t msg_id) {
  msgpb::InsertRequest insert;
  insert.mutable_base()->set_msg_type(cpb::Insert);
  insert.mutable_base()->set_msgid(msg_id);
  insert.set_shardname(layout.vchannel);
  insert.set_db_name(o.db);
  insert.set_collection_name(o.collection);
  insert.set_partition_name("_default");
  insert.set_collectionid(layout.collection_id);
  insert.set_partitionid(layout.partition_id);
  for (const auto& field : batch.fields_data()) {
    auto* copy = insert.add_fields_data();
    *copy = field;
    copy->set_field_id(layout.field_ids.at(field.field_name()));
  }
  auto rows = static_cast<int64_t>(batch.num_rows());
  const auto& keys = batch.fields_data(0).scalars().long_data().data();
  for (int64_t k = 0; k < rows; ++k) {
    insert.add_timestamps(0);
    insert.add_rowids(keys.Get(static_cast<int>(k)));
  }
  insert.set_num_rows(static_cast<uint64_t>(rows));
  insert.set_version(msgpb::ColumnBased);
  return insert;
}

/// One ReplicateMessage as mode replicate sends it (transform::replicate_request): the
/// messages given, then a TimeTick at `end_ts`; `batch` stands for the source offset.
mpb::ReplicateMessageRequest replicate_request(const std::string& pchannel,
                                               std::vector<std::string> msgs, uint64_t begin_ts,
                                               uint64_t end_ts, int64_t batch) {
  msgs.push_back(cdc::transform::time_tick(end_ts).SerializeAsString());
  return cdc::transform::replicate_request(pchannel, std::move(msgs), begin_ts, end_ts, batch,
                                           batch);
}

} // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  auto batches = make_batches(o);

  cdc::target_params params;
  params.uri = o.uri;
  params.token = o.token;
  params.connect_timeout_s = 10;
  cdc::milvus::target_writer writer{params};
  counter poll{o};

  std::string error;
  std::optional<standby_layout> layout;
  std::vector<msgpb::InsertRequest> messages;
  uint64_t last_ts = 0;
  if (o.replicate) {
    layout = describe_standby(writer, o);
    if (!layout)
      return 1;
    for (size_t i = 0; i < batches.size(); ++i)
      messages.push_back(to_insert_msg(batches[i], *layout, o, static_cast<int64_t>(i) + 1));
    // The standby finishes loading once its channel has a TimeTick past the collection's
    // start: tick until count(*) answers (not measured).
    auto until = monotonic_now() + 120;
    while (poll.count(error) < 0) {
      if (monotonic_now() > until) {
        std::fprintf(stderr, "raw_ceiling: %s.%s not loaded on the standby after 120 s: %s\n",
                     o.db.c_str(), o.collection.c_str(), error.c_str());
        return 1;
      }
      last_ts = hybrid_after(last_ts);
      if (auto ticked = writer.replicate_message(
              replicate_request(layout->pchannel, {}, last_ts, last_ts, -1));
          !ticked.ok()) {
        std::fprintf(stderr, "raw_ceiling: TimeTick refused: %s\n", ticked.status.message.c_str());
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    error.clear();
  }
  if (auto before = poll.count(error); before != 0) {
    std::fprintf(stderr, "raw_ceiling: %s.%s must exist, be loaded and be empty (count %lld%s%s)\n",
                 o.db.c_str(), o.collection.c_str(), static_cast<long long>(before),
                 error.empty() ? "" : ": ", error.c_str());
    return 1;
  }

  std::atomic<bool> failed{false};
  std::mutex mutex;
  std::vector<std::pair<double, int64_t>> samples;
  double visible = 0;
  std::string poll_error;
  auto cpu_start = process_cpu_seconds();
  auto first_insert = monotonic_now();
  std::thread poller{[&] {
    int64_t last = 0;
    while (true) {
      auto now = monotonic_now();
      std::string e;
      auto n = poll.count(e);
      if (n < 0) {
        std::lock_guard lock{mutex};
        poll_error = e; // transient errors happen while segments move; keep polling
      } else if (n != last) {
        last = n;
        std::lock_guard lock{mutex};
        samples.emplace_back(now, n);
        if (n >= o.rows) {
          visible = now;
          return;
        }
      }
      if (failed || now - first_insert > o.timeout_s)
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(o.poll_ms));
    }
  }};

  for (size_t i = 0; i < batches.size(); ++i) {
    cdc::milvus::write_status status;
    if (o.replicate) {
      auto& insert = messages[i];
      auto insert_ts = hybrid_after(last_ts);
      last_ts = insert_ts + 1;
      cdc::transform::set_time(insert, insert_ts);
      status =
          writer
              .replicate_message(replicate_request(layout->pchannel, {insert.SerializeAsString()},
                                                   insert_ts, last_ts, static_cast<int64_t>(i)))
              .status;
    } else {
      status = writer.insert(batches[i]).status;
    }
    if (!status.ok()) {
      std::fprintf(stderr, "raw_ceiling: %s failed: %s\n", status.rpc.c_str(),
                   status.message.c_str());
      failed = true;
      poller.join();
      return 1;
    }
  }
  auto last_ack = monotonic_now();
  poller.join();
  auto cpu = process_cpu_seconds() - cpu_start;

  if (visible == 0) {
    std::fprintf(stderr, "raw_ceiling: not all %lld rows visible after %.0f s (last error: %s)\n",
                 static_cast<long long>(o.rows), o.timeout_s, poll_error.c_str());
    return 1;
  }
  std::printf("first_insert=%.6f\nlast_ack=%.6f\nvisible=%.6f\nrows=%lld\n", first_insert, last_ack,
              visible, static_cast<long long>(o.rows));
  std::printf("insert_s=%.3f\ne2e_s=%.3f\nrows_per_s=%.1f\ncaught_up_after_s=%.3f\n",
              last_ack - first_insert, visible - first_insert,
              static_cast<double>(o.rows) / (visible - first_insert),
              std::max(0.0, visible - last_ack));
  std::printf("cpu_s=%.3f\npeak_rss_mb=%.1f\n", cpu, peak_rss_mb());
  for (const auto& [t, n] : samples)
    std::printf("sample=%.6f %lld\n", t, static_cast<long long>(n));
  return 0;
}
