// Integration tests: the project's components against the real Kafka broker of the harness
// (tests/harness), inside its loopback-only network namespace. KAFKA_BROKERS must be set.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
