#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace cdc::metrics {

/// Label pairs of one series, e.g. {{"state", "Running"}}.
using labels = std::vector<std::pair<std::string, std::string>>;

/// A small thread-safe store of counters and gauges, rendered in the Prometheus text format.
/// Every component writes its own series; GET /metrics renders them all.
class registry {
public:
  /// Declares a metric family: `type` is "counter" or "gauge".
  void describe(const std::string& name, const std::string& type, const std::string& help);

  /// Adds `delta` to a counter series (created at 0).
  void add(const std::string& name, const labels& series, double delta = 1);

  /// Sets a gauge series.
  void set(const std::string& name, const labels& series, double value);

  /// Removes every series that has the label `name` = `value` (e.g. a deleted task's).
  void remove_series(const std::string& name, const std::string& value);

  /// The value of a series; 0 when it does not exist.
  double value(const std::string& name, const labels& series) const;

  /// Everything in the Prometheus text exposition format 0.0.4.
  std::string render() const;

private:
  struct family {
    std::string type = "untyped";
    std::string help;
    std::map<std::string, double> series; // rendered label set -> value
  };

  mutable std::mutex mutex_;
  std::map<std::string, family> families_;
};

} // namespace cdc::metrics
