#include "actors/reader/kafka_reader.hpp"

#include "actors/base/error.hpp"

#include <librdkafka/rdkafkacpp.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <utility>

namespace cdc::source {

/// librdkafka's log lines (connection attempts, "topic does not exist" every second) go to
/// our log at debug level. Its errors (broker down, all brokers down, cannot resolve) are
/// kept for the next poll(), which reports them: librdkafka retries by itself, and the reader
/// tells the operator once per condition.
class kafka_events : public RdKafka::EventCb {
public:
  void event_cb(RdKafka::Event& event) override {
    if (event.type() == RdKafka::Event::EVENT_LOG) {
      spdlog::debug("librdkafka {}: {}", event.fac(), event.str());
      return;
    }
    if (event.type() != RdKafka::Event::EVENT_ERROR) {
      spdlog::debug("librdkafka: {}", event.str());
      return;
    }
    if (event.fatal()) {
      spdlog::error("librdkafka: {}", event.str());
      return;
    }
    // The details end with counters ("(after 0ms in state CONNECT, 3 identical error(s)
    // suppressed)") that would make every report look new.
    auto details = event.str();
    if (auto cut = details.find(" (after "); cut != std::string::npos)
      details.resize(cut);
    std::lock_guard lock{mutex_};
    if (pending_.size() < 16)
      pending_.push_back(RdKafka::err2str(event.err()) + ": " + details);
  }

  /// The errors since the last call.
  std::vector<std::string> take() {
    std::lock_guard lock{mutex_};
    return std::exchange(pending_, {});
  }

private:
  std::mutex mutex_;
  std::vector<std::string> pending_;
};

namespace {

caf::error kafka_error(const std::string& what) {
  return make_error(ec::internal, "Kafka: " + what);
}

} // namespace

kafka_reader::kafka_reader(std::unique_ptr<kafka_events> events,
                           std::unique_ptr<RdKafka::KafkaConsumer> consumer)
    : events_(std::move(events)), consumer_(std::move(consumer)) {}

kafka_reader::~kafka_reader() {
  if (consumer_)
    consumer_->close();
}

caf::expected<std::unique_ptr<kafka_reader>> kafka_reader::open(const kafka_settings& settings) {
  std::unique_ptr<RdKafka::Conf> conf{RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL)};
  std::string err;
  auto set = [&](const std::string& key, const std::string& value) -> caf::error {
    if (conf->set(key, value, err) != RdKafka::Conf::CONF_OK)
      return make_error(ec::invalid_argument, "source.kafka option '" + key + "': " + err);
    return {};
  };
  // Our settings first, so that the operator's options can override any of them.
  const std::map<std::string, std::string> defaults{
      {"bootstrap.servers", settings.brokers},
      {"client.id", settings.client_id},
      // Required by the consumer API; never used to commit: positions are ours (RocksDB).
      {"group.id", settings.client_id},
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"enable.partition.eof", "false"},
      {"allow.auto.create.topics", "false"},
      // Milvus writes up to ~10 MB per record (message.max.bytes of its Kafka).
      {"fetch.message.max.bytes", "16777216"},
      {"receive.message.max.bytes", "67108864"},
      // Keep what is prefetched small: flow control happens above, not in librdkafka's queue
      // (32 MiB per channel keeps a 1 GB backlog over 16 channels at 168-188 MB RSS; 16 MiB
      // uses less but halves throughput when the writer stalls; tests/bench/README.md).
      {"queued.max.messages.kbytes", "32768"},
      // A topic created after the assignment is noticed within seconds.
      {"topic.metadata.refresh.interval.ms", "2000"},
      {"reconnect.backoff.max.ms", "2000"},
      {"log.connection.close", "false"},
  };
  for (const auto& [key, value] : defaults)
    if (auto e = set(key, value))
      return e;
  for (const auto& [key, value] : settings.options)
    if (auto e = set(key, value))
      return e;
  auto events = std::make_unique<kafka_events>();
  if (conf->set("event_cb", static_cast<RdKafka::EventCb*>(events.get()), err) !=
      RdKafka::Conf::CONF_OK)
    return kafka_error("cannot route the log: " + err);
  std::unique_ptr<RdKafka::KafkaConsumer> consumer{RdKafka::KafkaConsumer::create(conf.get(), err)};
  if (!consumer)
    return kafka_error("cannot create a consumer: " + err);
  return std::unique_ptr<kafka_reader>{new kafka_reader{std::move(events), std::move(consumer)}};
}

caf::error kafka_reader::assign(const std::vector<start_point>& channels) {
  std::vector<RdKafka::TopicPartition*> partitions;
  for (const auto& channel : channels) {
    int64_t offset = channel.offset;
    if (offset == start_point::from_end)
      offset = RdKafka::Topic::OFFSET_END;
    else if (offset == start_point::from_beginning)
      offset = RdKafka::Topic::OFFSET_BEGINNING;
    partitions.push_back(RdKafka::TopicPartition::create(channel.topic, 0, offset));
  }
  auto code = consumer_->assign(partitions);
  RdKafka::TopicPartition::destroy(partitions);
  if (code != RdKafka::ERR_NO_ERROR)
    return kafka_error("cannot assign partitions: " + RdKafka::err2str(code));
  return {};
}

poll_result kafka_reader::poll(std::chrono::milliseconds timeout, size_t max_records,
                               size_t max_bytes) {
  poll_result result;
  size_t bytes = 0;
  auto wait = static_cast<int>(timeout.count());
  while (result.records.size() < max_records && bytes < max_bytes) {
    std::unique_ptr<RdKafka::Message> msg{consumer_->consume(wait)};
    // After the first record only what is already fetched is taken.
    wait = 0;
    if (!msg)
      break;
    auto code = msg->err();
    if (code == RdKafka::ERR__TIMED_OUT)
      break;
    if (code != RdKafka::ERR_NO_ERROR) {
      result.transient_errors.push_back(
          (msg->topic_name().empty() ? "" : msg->topic_name() + ": ") + msg->errstr());
      break;
    }
    wal::raw_record record;
    record.topic = msg->topic_name();
    record.offset = msg->offset();
    if (auto* headers = msg->headers())
      for (const auto& header : headers->get_all())
        record.headers.emplace_back(header.key(),
                                    std::string{static_cast<const char*>(header.value()),
                                                header.value() ? header.value_size() : 0});
    if (msg->payload() != nullptr)
      record.value.assign(static_cast<const char*>(msg->payload()), msg->len());
    bytes += record.value.size();
    result.records.push_back(std::move(record));
  }
  // Served by consume() above: the errors librdkafka met meanwhile.
  for (auto& condition : events_->take())
    result.transient_errors.push_back(std::move(condition));
  return result;
}

caf::expected<int64_t> kafka_reader::end_offset(const std::string& topic,
                                                std::chrono::milliseconds timeout) {
  int64_t low = 0;
  int64_t high = 0;
  auto code =
      consumer_->query_watermark_offsets(topic, 0, &low, &high, static_cast<int>(timeout.count()));
  if (code == RdKafka::ERR_UNKNOWN_TOPIC_OR_PART || code == RdKafka::ERR__UNKNOWN_TOPIC ||
      code == RdKafka::ERR__UNKNOWN_PARTITION)
    return int64_t{0};
  if (code != RdKafka::ERR_NO_ERROR)
    return kafka_error("cannot ask for the end of " + topic + ": " + RdKafka::err2str(code));
  return high;
}

} // namespace cdc::source
