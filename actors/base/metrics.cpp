#include "actors/base/metrics.hpp"

#include <cmath>
#include <sstream>

namespace cdc::metrics {

namespace {

std::string render_labels(const labels& series) {
  if (series.empty())
    return {};
  std::string out = "{";
  for (size_t i = 0; i < series.size(); ++i) {
    if (i > 0)
      out += ',';
    out += series[i].first + "=\"";
    for (char c : series[i].second) {
      if (c == '\\' || c == '"')
        out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

} // namespace

void registry::describe(const std::string& name, const std::string& type, const std::string& help) {
  std::lock_guard guard{mutex_};
  auto& f = families_[name];
  f.type = type;
  f.help = help;
}

void registry::add(const std::string& name, const labels& series, double delta) {
  std::lock_guard guard{mutex_};
  families_[name].series[render_labels(series)] += delta;
}

void registry::set(const std::string& name, const labels& series, double value) {
  std::lock_guard guard{mutex_};
  families_[name].series[render_labels(series)] = value;
}

void registry::remove_series(const std::string& name, const std::string& value) {
  auto needle = render_labels({{name, value}});
  // "{task=\"x\"}" -> "task=\"x\"": matched inside any label set.
  needle = needle.substr(1, needle.size() - 2);
  std::lock_guard guard{mutex_};
  for (auto& [family_name, f] : families_)
    for (auto it = f.series.begin(); it != f.series.end();)
      if (it->first.find(needle) != std::string::npos)
        it = f.series.erase(it);
      else
        ++it;
}

double registry::value(const std::string& name, const labels& series) const {
  std::lock_guard guard{mutex_};
  auto f = families_.find(name);
  if (f == families_.end())
    return 0;
  auto s = f->second.series.find(render_labels(series));
  return s == f->second.series.end() ? 0 : s->second;
}

std::string registry::render() const {
  std::ostringstream out;
  std::lock_guard guard{mutex_};
  for (const auto& [name, f] : families_) {
    if (!f.help.empty())
      out << "# HELP " << name << ' ' << f.help << '\n';
    out << "# TYPE " << name << ' ' << f.type << '\n';
    for (const auto& [series, value] : f.series) {
      out << name << series << ' ';
      if (value == std::floor(value) && std::abs(value) < 1e15)
        out << static_cast<long long>(value);
      else
        out << value;
      out << '\n';
    }
  }
  return out.str();
}

} // namespace cdc::metrics
