#pragma once

// Writes records into the real Kafka broker of the harness, for the reader's tests.

#include "actors/reader/decode.hpp"

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace cdc::test {

/// The broker the harness started; the tests fail (not skip) without one.
inline std::string kafka_brokers() {
  const char* brokers = std::getenv("KAFKA_BROKERS");
  if (brokers == nullptr || *brokers == '\0')
    throw std::runtime_error("KAFKA_BROKERS is not set: run the integration tests with the "
                             "harness (tests/run.sh)");
  return brokers;
}

/// A cluster prefix of its own for each test, so that topics never collide.
inline std::string unique_prefix() {
  std::random_device rd;
  return "it" + std::to_string(rd() % 1000000000);
}

/// Produces records synchronously (each acknowledged by the broker) with their headers.
class producer {
public:
  producer() {
    std::unique_ptr<RdKafka::Conf> conf{RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL)};
    std::string err;
    conf->set("bootstrap.servers", kafka_brokers(), err);
    conf->set("message.max.bytes", "10485760", err);
    conf->set("linger.ms", "0", err);
    producer_.reset(RdKafka::Producer::create(conf.get(), err));
    if (!producer_)
      throw std::runtime_error("cannot create producer: " + err);
  }

  ~producer() { producer_->flush(10000); }

  void send(const std::string& topic, const wal::raw_record& record) {
    auto* headers = RdKafka::Headers::create();
    for (const auto& [name, value] : record.headers)
      headers->add(name, value.data(), value.size());
    auto code = producer_->produce(topic, 0, RdKafka::Producer::RK_MSG_COPY,
                                   const_cast<char*>(record.value.data()), record.value.size(),
                                   nullptr, 0, 0, headers, nullptr);
    if (code != RdKafka::ERR_NO_ERROR) {
      delete headers;
      throw std::runtime_error("produce failed: " + RdKafka::err2str(code));
    }
  }

  /// Waits until every record sent so far is acknowledged.
  void flush() {
    if (producer_->flush(30000) != RdKafka::ERR_NO_ERROR)
      throw std::runtime_error("flush did not complete within 30 s");
  }

private:
  std::unique_ptr<RdKafka::Producer> producer_;
};

} // namespace cdc::test
